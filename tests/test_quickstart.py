"""End-to-end smoke test: `worldjepa quickstart` (collect -> train -> plan) through the real CLI, tiny."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from worldjepa.cli import CONFIG_DIR, QUICKSTART_STAGES, _force_stage_key, main
from worldjepa.errors import WorldJepaError
from worldjepa.config import as_overrides
from worldjepa.quickstart import stage_config

from conftest import assert_results_match_episodes

# Stage keys that configs/quickstart.yaml does not list need no `+`: each stage's own config checks them.
TINY_DATA_AND_MODEL = [
    "collect.episodes=6", "collect.episode_steps=50", "collect.progress=false",
    "train.steps=4", "train.batch_size=4", "train.rollout_steps=2", "train.logger=none", "train.threads=1",
    "train.val_fraction=0.34", "train.eval.probe_frames=40", "train.eval.max_windows=8",
    "train.model.encoder.channels=[4,4,4]", "train.model.encoder.embed_dim=8", "train.model.predictor.hidden=16",
]
TINY_EVAL = ["plan.episodes=2", "plan.batch=2", "plan.budget=10", "plan.videos=1", "plan.progress=false"]
TINY = [*TINY_DATA_AND_MODEL, *TINY_EVAL, "plan.horizon=2", "plan.planner.samples=16", "plan.planner.iterations=2"]


def run_quickstart(out, *overrides: str) -> str:
    """stdout of a real `worldjepa quickstart` subprocess, which must succeed."""
    proc = subprocess.run(
        [sys.executable, "-m", "worldjepa.cli", "quickstart", f"out={out}", *overrides],
        capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "success rate:" in proc.stdout and str(out / "eval" / "videos") in proc.stdout
    return proc.stdout


def test_quickstart_runs_the_whole_pipeline(tmp_path):
    out = tmp_path / "qs"
    run_quickstart(out, *TINY)

    assert len(list((out / "data" / "episodes").iterdir())) == 6
    assert (out / "run" / "last.pt").is_file()
    results = assert_results_match_episodes(out / "eval", episodes=2)
    assert results["planner"] == "mppi"  # quickstart.yaml's planner block, with its samples changed

    videos = list((out / "eval" / "videos").glob("*.mp4"))
    assert len(videos) == 1
    frames = iio.imread(videos[0])
    assert frames.ndim == 4 and frames.shape[0] >= 2 and frames.shape[2] == 2 * frames.shape[1]  # agent | goal


def test_push_recipe_fits_a_policy_after_training_and_plans_with_it(tmp_path):
    out = tmp_path / "push"
    imitate = ["imitate.steps=20", "imitate.batch_size=8", "imitate.hidden=16", "imitate.depth=1", "imitate.progress=false"]
    stdout = run_quickstart(out, "recipe=push", *TINY_DATA_AND_MODEL, *imitate, *TINY_EVAL)
    assert "== imitate ==" in stdout and str(out / "run" / "policy" / "policy.pt") in stdout
    results = json.loads((out / "eval" / "results.json").read_text())
    assert results["env_id"] == "worldjepa/Push-v0" and results["planner"] == "policy"
    assert results["config"]["prior_sha256"] and results["config"]["execute"] == 1  # the recipe's closed loop
    assert results["replans"] == results["env_steps"] and results["episodes"] == 2


def test_stage_blocks_with_a_name_pick_the_config_group_option_then_change_its_keys():
    settings = OmegaConf.create({
        "planner": {"name": "mppi", "samples": 1000}, "model": {"encoder": {"name": "vit", "depth": 2}},
        "logger": "none", "subgoals": {"enabled": True}, "seeds": [0, 1], "checkpoint": None,
    })
    assert as_overrides(settings) == [
        "planner=mppi", "planner.samples=1000", "model/encoder=vit", "model.encoder.depth=2",
        "logger=none", "subgoals.enabled=true", "seeds=[0,1]", "checkpoint=null",
    ]


@pytest.fixture()
def composer():
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        yield lambda *args: compose("quickstart", overrides=[_force_stage_key(arg) for arg in args])


def plan_stage(settings):
    return stage_config("plan", settings, "env=two_room", "checkpoint=x.pt", "out=eval")


@pytest.mark.parametrize("recipe", sorted(p.stem for p in (Path(CONFIG_DIR) / "recipe").glob("*.yaml")))
def test_every_recipe_composes_each_of_its_stages_for_its_own_env(composer, recipe):
    cfg = composer(f"recipe={recipe}")
    assert cfg.env.name == recipe.removesuffix("_search")  # push_search: Push's search overrides
    assert (cfg.out == "quickstart") == (recipe == "two_room")  # the others write elsewhere: no mixed resumes
    for stage in QUICKSTART_STAGES:
        if cfg[stage] is not None:  # only a recipe with an imitate block fits a policy
            assert stage_config(stage, cfg[stage], "out=x").out == "x"
    assert (cfg.imitate is not None) == (cfg.plan.get("planner") == "policy")


@pytest.mark.parametrize("args, name, env_id", [
    (["env=gym_swimmer"], "gym_swimmer", "worldjepa/GymGoal-v0"),
    (["recipe=push", "env=reacher"], "reacher", "worldjepa/Reacher-v0"),
    (["env.id=mymodule:MyGoal-v0"], "two_room", "mymodule:MyGoal-v0"),
])
def test_env_on_the_command_line_reaches_collect_and_plan(composer, args, name, env_id):
    cfg = composer(*args)
    env = as_overrides(OmegaConf.create({"env": cfg.env}))
    for stage, wiring in (("collect", ["out=d"]), ("plan", ["checkpoint=x.pt", "out=e"])):
        stage_cfg = stage_config(stage, cfg[stage], *env, *wiring)
        assert (stage_cfg.env.name, stage_cfg.env.id) == (name, env_id)
        assert dict(stage_cfg.env.kwargs) == dict(cfg.env.kwargs)


def test_search_recipes_differ_only_in_the_env(composer):
    """TwoRoom and Reacher collect, train and plan with the shared defaults: only the env's own config differs."""
    stages = {}
    for task in ("two_room", "reacher"):
        cfg = composer(f"recipe={task}")
        train = stage_config("train", cfg.train, "data=d", "out=r")
        plan = stage_config("plan", cfg.plan, f"env={task}", "checkpoint=x.pt", "out=e")
        assert plan.env.name == task
        plan.env = None
        stages[task] = (OmegaConf.to_container(cfg.collect), OmegaConf.to_container(train), OmegaConf.to_container(plan))
    assert stages["two_room"] == stages["reacher"]
    collect, train, plan = stages["two_room"]
    assert (train["frameskip"], plan["planner"]["name"], plan["planner"]["samples"]) == (10, "mppi", 1000)
    assert plan["planner"]["hold"] and plan["hold"] is None and plan["subgoals"]["enabled"] and plan["protocol"]["split"] == "test"


def test_push_search_recipe_reaches_collect_train_and_plan(composer):
    """Its nested blocks become each stage's keys: held-action data, a smaller embedding, a wider predictor and an
    aligned phase, CEM without subgoals."""
    cfg = composer("recipe=push_search")
    collect = stage_config("collect", cfg.collect, "env=push", "out=d")
    train = stage_config("train", cfg.train, "data=d", "out=r")
    plan = stage_config("plan", cfg.plan, "env=push", "checkpoint=x.pt", "out=e")
    assert collect.episodes == 6000 and [c.get("hold") for c in collect.policy.components] == [None, None, 10, 10]
    assert (train.steps, train.predictor_phase.steps) == (4000, 5000)  # the predictor phase after the JEPA steps
    assert train.predictor_phase.aligned  # on windows of whole held actions, as the planner searches
    assert (train.model.predictor.hidden, train.model.predictor.depth) == (512, 3)
    assert train.model.encoder.embed_dim == 32
    assert (plan.planner.name, plan.subgoals.enabled, plan.protocol.split) == ("cem", False, "test")


def test_stage_keys_need_no_plus_and_string_values_survive_quotes_commas_and_equals(composer):
    assert [_force_stage_key(a) for a in ["plan.seeds=[0]", "+plan.x=1", "~plan.y", "planner=cem", "out=q"]] == [
        "++plan.seeds=[0]", "++plan.x=1", "~plan.y", "planner=cem", "out=q"]
    cfg = plan_stage(composer("plan.seeds=[0,1,2]", "plan.batch=5", "+plan.planner.name=cem",
                              "+plan.planner.samples=1000").plan)
    assert list(cfg.seeds) == [0, 1, 2] and cfg.batch == 5
    assert (cfg.planner.name, cfg.planner.samples, cfg.planner.elites) == ("cem", 1000, 30)  # the block's samples kept
    assert plan_stage(composer("plan.planner=cem").plan).planner.samples == 300  # a string: CEM's own defaults
    for value in ["it's", "a,b", "a=b", "back\\slash", "q\\'x", "end\\", "null", "5"]:
        assert plan_stage(OmegaConf.create({"protocol": {"dataset": value}})).protocol.dataset == value


def test_stage_settings_errors_name_the_key_as_the_quickstart_spells_it(composer):
    with pytest.raises(WorldJepaError, match=r"unknown key 'plan.sedes': check its spelling$"):
        plan_stage(composer("plan.sedes=3").plan)
    with pytest.raises(WorldJepaError, match=r"'plan.planner.samples'.*planner 'gradient' has no such key: "
                                             r"pass plan.planner=gradient to take its own defaults"):
        plan_stage(composer("+plan.planner.name=gradient", "+plan.planner.samples=1000").plan)
    with pytest.raises(WorldJepaError, match=r"unknown planner 'ilqr'.*e.g. plan.planner.name=cem"):
        plan_stage(composer("+plan.planner.name=ilqr").plan)
    with pytest.raises(WorldJepaError, match=r"plan.env is set by the quickstart itself.*pass env=\.\.\."):
        plan_stage(composer("plan.env=reacher").plan)
    with pytest.raises(WorldJepaError, match=r"plan='cem' is not a block of settings"):
        plan_stage(composer("plan=cem").plan)


def test_help_says_stage_blocks_take_their_commands_keys(capsys):
    main(["quickstart", "plan.episodes=7", "--help"])
    text = capsys.readouterr().out
    assert "blocks take any key of that command" in text and "episodes: 7" in text


def test_quickstart_on_a_wrapped_gymnasium_env_from_the_command_line(tmp_path):
    out = tmp_path / "swim"
    run_quickstart(out, "env=gym_swimmer", "env.kwargs.image_size=32", "collect.policy=correlated", *TINY)
    results = assert_results_match_episodes(out / "eval", episodes=2)
    assert results["env_id"] == "worldjepa/GymGoal-v0" and results["config"]["env"]["kwargs"]["gym_id"] == "Swimmer-v5"
    assert json.loads((out / "data" / "meta.json").read_text())["env_kwargs"]["gym_id"] == "Swimmer-v5"
