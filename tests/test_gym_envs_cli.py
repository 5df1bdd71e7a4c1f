"""Bring your own env through the real CLI: a gym_*.yaml config and a user's `module:id` env, worker processes included."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import TINY_TRAIN, assert_results_match_episodes

from worldjepa.data import open_dataset

WORLDJEPA = Path(sys.executable).with_name("worldjepa")  # the console script: the cwd is not on its sys.path
# A user's own module: gymnasium's Swimmer-v5 wrapped by hand and registered under the user's id.
MYMOD = '''"""A user's env: Swimmer-v5's joint angles as a goal-reaching task."""
import gymnasium
from worldjepa.envs import GymGoalWrapper


def make_my_goal(image_size: int = 64) -> GymGoalWrapper:
    inner = gymnasium.make("Swimmer-v5", render_mode="rgb_array", width=image_size, height=image_size,
                           max_episode_steps=-1)
    return GymGoalWrapper(inner, success_threshold=0.2, qpos_indices=[3, 4], goal_steps=20)


gymnasium.register("MyGoal-v0", entry_point=make_my_goal, max_episode_steps=50)
'''
COLLECT = ["policy=correlated", "episodes=4", "episode_steps=20", "workers=2", "progress=false"]
PLAN = ["episodes=2", "batch=2", "budget=4", "horizon=2", "planner=cem", "planner.samples=4", "planner.iterations=1",
        "planner.elites=2", "videos=0", "progress=false", "protocol.goal_source=dataset", "protocol.dataset_offset=10"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}


def worldjepa(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """Run `worldjepa ARGS` from `cwd`; it must succeed."""
    proc = subprocess.run([str(WORLDJEPA), *args], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def python_stdin(cwd: Path, code: str) -> subprocess.CompletedProcess:
    """Run `code` as an interactive session would (``python -`` reading stdin: __main__ has no file)."""
    return subprocess.run([sys.executable, "-"], input=code, cwd=cwd, env=ENV, capture_output=True, text=True,
                          timeout=120)


def test_user_module_env_by_module_id_through_collect_train_plan(tmp_path):
    (tmp_path / "mymod.py").write_text(MYMOD)
    env = ["env.id=mymod:MyGoal-v0", "env.kwargs.image_size=32"]
    worldjepa(tmp_path, "collect", *env, *COLLECT, "out=data")
    meta = json.loads((tmp_path / "data" / "meta.json").read_text())
    assert meta["env_id"] == "mymod:MyGoal-v0" and meta["env_kwargs"] == {"image_size": 32, "max_episode_steps": 20}
    assert (meta["action_dim"], meta["state_dim"], meta["image_size"]) == (2, 10, 32)
    assert open_dataset(tmp_path / "data").load(3, "pixels").shape == (21, 32, 32, 3)
    # train ends with an evaluation that rebuilds the env in its own process
    train = worldjepa(tmp_path, "train", "data=data", "out=run", *TINY_TRAIN, "steps=2")
    assert "position probe R2" in train.stdout + train.stderr
    # dataset goals: the dataset's env id is the evaluation env's
    worldjepa(tmp_path, "plan", "checkpoint=run/last.pt", *env, *PLAN, "out=eval")
    results = assert_results_match_episodes(tmp_path / "eval", episodes=2)
    assert results["env_id"] == "mymod:MyGoal-v0"


def test_gym_config_through_collect_and_a_baseline_plan(tmp_path):
    worldjepa(tmp_path, "collect", "env=gym_pusher", "env.kwargs.image_size=32", *COLLECT, "out=data")
    meta = json.loads((tmp_path / "data" / "meta.json").read_text())
    assert meta["env_id"] == "worldjepa/GymGoal-v0" and meta["env_kwargs"]["gym_id"] == "Pusher-v5"
    assert (meta["action_dim"], meta["state_dim"], meta["action_repeat"]) == (7, 22, 5)
    actions = open_dataset(tmp_path / "data").load(0, "actions")
    assert actions.shape == (20, 7) and actions.min() >= -1 and actions.max() <= 1
    worldjepa(tmp_path, "plan", "env=gym_pusher", "env.kwargs.image_size=32", "planner=random", "episodes=2",
              "batch=2", "budget=3", "videos=0", "progress=false", "protocol.goal_source=env", "out=eval")
    rows = (tmp_path / "eval" / "episodes.csv").read_text().splitlines()
    assert len(rows) == 3 and all(",False," in row for row in rows[1:])  # 3 random steps never push it 0.05 m home


def test_unregistered_ids_fail_with_one_line_naming_the_module_id_form(tmp_path):
    proc = subprocess.run([str(WORLDJEPA), "collect", "env.id=MyGoal-v0", "out=d"], cwd=tmp_path, env=ENV,
                          capture_output=True, text=True, timeout=60)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode != 0 and len(lines) == 1
    assert "unknown env 'MyGoal-v0'" in lines[0] and "pass env.id=MODULE:MyGoal-v0" in lines[0]
    proc = subprocess.run([str(WORLDJEPA), "collect", "env.id=nomod:MyGoal-v0", "out=d"], cwd=tmp_path, env=ENV,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "cannot import module 'nomod'" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "d").exists()


def test_envs_registered_at_an_interactive_prompt(tmp_path):
    collect = ("from worldjepa.data import collect\n"
               "collect({'id': 'Typed-v0', 'kwargs': {'image_size': 16}}, 'random', 2, 'data', workers=2, "
               "episode_steps=5, progress=False)\n")
    # An importable entry point: the workers repeat the prompt's registration.
    proc = python_stdin(tmp_path, "import gymnasium\n"
                        "gymnasium.register('Typed-v0', entry_point='worldjepa.envs:make_gym_goal_env', "
                        "kwargs={'gym_id': 'Swimmer-v5', 'qpos_indices': [3, 4]}, max_episode_steps=10)\n" + collect)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert open_dataset(tmp_path / "data").episodes == (0, 1)
    # An entry point defined at the prompt: no worker can import it, which one line says before any work.
    proc = python_stdin(tmp_path, "import gymnasium\nfrom worldjepa.envs import make_gym_goal_env\n"
                        "def mine(**kw):\n    return make_gym_goal_env('Swimmer-v5', **kw)\n\n"
                        "gymnasium.register('Typed-v0', entry_point=mine, max_episode_steps=10)\n"
                        + collect.replace("'data'", "'data2'"))
    assert proc.returncode != 0 and "multiprocessing" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        "ValueError: env 'Typed-v0' is defined in this interactive session, which the collection worker processes "
        "cannot import: move the env and its gymnasium.register call into a module (e.g. mymod.py) and pass env id "
        "'mymod:Typed-v0' (gymnasium's module:id form), which every process imports")
    assert not (tmp_path / "data2").exists()
