"""Tests for the one checkpoint format: world models and policies, version-1 files, hostile pickles, errors."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from worldjepa.checkpoint import CheckpointError, file_sha256, load_checkpoint, save_checkpoint
from worldjepa.data.batch import Batch
from worldjepa.models import JEPAWorldModel, ModelMeta, build_world_model, check_compatible, load_world_model
from worldjepa.models.goal_policy import GoalPolicy
from worldjepa.models.goal_value import GoalValue

KWARGS = dict(image_size=32, action_dim=2, frameskip=1, history=2)


def make_model(hidden: int = 32, embed_dim: int = 16) -> JEPAWorldModel:
    torch.manual_seed(0)
    model_cfg = {"encoder": {"name": "cnn", "embed_dim": embed_dim}, "predictor": {"name": "mlp", "hidden": hidden}}
    return build_world_model(model_cfg, {}, **KWARGS)


def make_policy() -> GoalPolicy:
    torch.manual_seed(0)
    return GoalPolicy(embed_dim=8, history=2, chunk_dim=4, hidden=16, depth=1)


class MakesFileWhenUnpickled:
    """A pickle payload that, if unpickled unsafely, creates `path`."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_round_trip_gives_identical_outputs(tmp_path):
    model = make_model()
    with torch.no_grad():  # make online != target so both must be restored
        for p in model.encoder.parameters():
            p.add_(0.1)
    model.meta.env_id, model.meta.train_horizon, model.meta.dataset = "worldjepa/Reacher-v0", 2, {"episodes": 3}
    optim = torch.optim.Adam(model.parameters())
    model.training_loss(_batch(), rollout_steps=1)[0].backward()
    optim.step()
    state = {"step": 7, "optim": optim.state_dict(), "rng": torch.get_rng_state(),
             "np_rng": np.random.default_rng(0).bit_generator.state}
    model.save(tmp_path / "last.pt", training_state=state)

    loaded = load_world_model(tmp_path / "last.pt")
    pixels = _batch().pixels
    torch.testing.assert_close(loaded.encode(pixels), model.encode(pixels), rtol=0, atol=0)
    z, actions = model.encode(pixels[:, :2]), torch.randn(4, 3, 2)
    torch.testing.assert_close(loaded.rollout(z, actions), model.eval().rollout(z, actions), rtol=0, atol=0)
    torch.testing.assert_close(loaded.encoder(pixels[:, 0]), model.encoder(pixels[:, 0]), rtol=0, atol=0)
    assert isinstance(loaded.meta, ModelMeta) and loaded.meta == model.meta and not loaded.training

    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert (ckpt["format_version"], ckpt["kind"]) == (2, "world_model") and ckpt["meta"] == model.meta.to_dict()
    assert ckpt["training_state"]["step"] == 7 and ckpt["training_state"]["np_rng"] == state["np_rng"]
    optim.load_state_dict(ckpt["training_state"]["optim"])
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temp files left behind


def test_version_1_world_model_files_still_load(tmp_path):
    model = make_model()
    model.meta.env_id = "worldjepa/TwoRoom-v0"
    v1 = {"format": "worldjepa-checkpoint", "format_version": 1, "meta": model.meta.to_dict(),
          "model": model.state_dict(), "training_state": {"step": 3}}
    torch.save(v1, tmp_path / "v1.pt")
    ckpt = load_checkpoint(tmp_path / "v1.pt")
    assert ckpt["kind"] == "world_model" and "model" not in ckpt and ckpt["training_state"] == {"step": 3}
    loaded = load_world_model(tmp_path / "v1.pt")
    assert loaded.meta == model.meta
    pixels = _batch().pixels
    torch.testing.assert_close(loaded.encode(pixels), model.encode(pixels), rtol=0, atol=0)
    with pytest.raises(CheckpointError, match="is a world model checkpoint, not a policy"):
        load_checkpoint(tmp_path / "v1.pt", kind="policy")


def test_policy_round_trip_through_the_same_format(tmp_path):
    policy = make_policy()
    policy.save(tmp_path / "policy.pt", {"checkpoint": "runs/x/last.pt", "checkpoint_sha256": "0" * 16})
    ckpt = load_checkpoint(tmp_path / "policy.pt", kind="policy")
    assert (ckpt["format_version"], ckpt["kind"], ckpt["training_state"]) == (2, "policy", None)
    loaded, meta = GoalPolicy.load(tmp_path / "policy.pt")
    assert meta == {"checkpoint": "runs/x/last.pt", "checkpoint_sha256": "0" * 16, "config": policy.config}
    z_hist, z_goal = torch.randn(3, 2, 8), torch.randn(3, 8)
    torch.testing.assert_close(loaded(z_hist, z_goal), policy(z_hist, z_goal), rtol=0, atol=0)
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())


def test_a_file_of_the_other_kind_is_refused_by_name(tmp_path):
    make_model().save(tmp_path / "last.pt")
    make_policy().save(tmp_path / "policy.pt", {"checkpoint": "last.pt"})
    with pytest.raises(CheckpointError, match=r"policy\.pt is a policy checkpoint, not a world model: pass the last\.pt "
                                              r"written by `worldjepa train`"):
        load_world_model(tmp_path / "policy.pt")
    with pytest.raises(CheckpointError, match=r"prior=.*last\.pt .*is a world model checkpoint, not a policy: pass the "
                                              r"policy\.pt written by `worldjepa imitate`.*rerun `worldjepa imitate`"):
        GoalPolicy.load(tmp_path / "last.pt")
    with pytest.raises(FileNotFoundError, match=r"prior=.*missing\.pt does not exist.*worldjepa imitate"):
        GoalPolicy.load(tmp_path / "missing.pt")
    with pytest.raises(ValueError, match="kind='reward' is unknown"):
        save_checkpoint(tmp_path / "v.pt", kind="reward", meta={}, state_dict={})  # type: ignore[arg-type]
    with pytest.raises(CheckpointError, match=r"cost\.value=.*policy\.pt .*is a policy checkpoint, not a goal value.*"
                                              r"rerun `worldjepa value`"):
        GoalValue.load(tmp_path / "policy.pt")


def test_save_overwrites_atomically_and_refuses_unloadable_state(tmp_path):
    model = make_model()
    path = tmp_path / "ckpt.pt"
    model.save(path, training_state={"step": 1})
    with pytest.raises(CheckpointError, match="weights_only"):
        model.save(path, training_state={"step": 2, "bad": MakesFileWhenUnpickled(tmp_path / "x")})
    assert load_checkpoint(path)["training_state"] == {"step": 1}  # old file intact
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]  # no temp file, and the payload never ran


def test_load_weights_into_different_config_names_differing_keys(tmp_path):
    make_model(embed_dim=16).save(tmp_path / "a.pt")
    other = make_model(embed_dim=24)
    with pytest.raises(CheckpointError, match=r"different model config.*embed_dim: 16 vs 24.*head\.weight"):
        other.load_weights(load_checkpoint(tmp_path / "a.pt"))


def test_load_with_config_inconsistent_with_weights_is_clear(tmp_path):
    make_model(hidden=32).save(tmp_path / "a.pt")
    ckpt = torch.load(tmp_path / "a.pt", weights_only=True)
    ckpt["meta"]["config"]["model"]["predictor"]["hidden"] = 48  # weights still have hidden=32
    torch.save(ckpt, tmp_path / "b.pt")
    with pytest.raises(CheckpointError, match=r"different model config.*predictor\.net.*load_world_model"):
        load_world_model(tmp_path / "b.pt")


def test_int_typed_or_non_finite_weights_are_refused_naming_the_file(tmp_path):
    make_model().save(tmp_path / "a.pt")
    make_policy().save(tmp_path / "policy.pt", {"checkpoint": "last.pt"})
    for path, key in ((tmp_path / "a.pt", "encoder.convs.0.weight"), (tmp_path / "policy.pt", "net.0.weight")):
        ckpt = torch.load(path, weights_only=True)
        weight = ckpt["state_dict"][key]
        for damaged, problem in ((weight.to(torch.int64), "are stored as torch.int64 where the model has torch.float32"),
                                 (weight.clone().fill_(float("nan")), "hold NaN or inf")):
            torch.save({**ckpt, "state_dict": {**ckpt["state_dict"], key: damaged}}, tmp_path / "bad.pt")
            load = load_world_model if path.name == "a.pt" else GoalPolicy.load
            fix = "use an earlier checkpoint or retrain" if path.name == "a.pt" else "rerun `worldjepa imitate`"
            with pytest.raises(CheckpointError, match=rf"bad\.pt: weights \['{key}'\] {problem}.*{fix}"):
                load(tmp_path / "bad.pt")


def test_model_meta_round_trips_and_names_missing_keys():
    meta = make_model().meta
    meta.env_id, meta.dataset = "worldjepa/TwoRoom-v0", {"path": "/data"}
    plain = meta.to_dict()
    assert isinstance(plain, dict) and ModelMeta.from_dict(plain) == meta
    plain["config"]["model"] = "changed"  # to_dict copies: the model's meta is untouched
    assert meta.config["model"] != "changed"
    with pytest.raises(CheckpointError, match=r"x\.pt: its meta lacks \['frameskip', 'train_horizon'\]"):
        ModelMeta.from_dict({k: v for k, v in plain.items() if k not in ("frameskip", "train_horizon")}, source="x.pt")


def test_meta_missing_keys_are_named(tmp_path):
    make_model().save(tmp_path / "a.pt")
    ckpt = torch.load(tmp_path / "a.pt", weights_only=True)
    del ckpt["meta"]["history"], ckpt["meta"]["env_id"]
    torch.save(ckpt, tmp_path / "b.pt")
    with pytest.raises(CheckpointError, match=r"b\.pt: its meta lacks \['env_id', 'history'\].*retrain"):
        load_world_model(tmp_path / "b.pt")


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_arbitrary_pickle_is_rejected_without_running_code(tmp_path):
    marker = tmp_path / "pwned"
    with open(tmp_path / "evil.pt", "wb") as f:
        pickle.dump({"format": "worldjepa-checkpoint", "x": MakesFileWhenUnpickled(marker)}, f)
    for kind in ("world_model", "policy"):
        with pytest.raises(CheckpointError, match="not a readable worldjepa checkpoint") as err:
            load_checkpoint(tmp_path / "evil.pt", kind=kind)
        assert "weights_only=False" not in str(err.value)  # never advise running the file's code
    with pytest.raises(CheckpointError):
        load_world_model(tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="prior=.*rerun `worldjepa imitate`") as err:
        GoalPolicy.load(tmp_path / "evil.pt")
    assert "weights_only=False" not in str(err.value)
    assert not marker.exists()
    # the payload is live: an unsafe load would have created the file
    with open(tmp_path / "evil.pt", "rb") as f:
        pickle.load(f)
    assert marker.exists()


def test_truncated_text_missing_directory_and_foreign_files(tmp_path):
    make_model().save(tmp_path / "good.pt")
    data = (tmp_path / "good.pt").read_bytes()
    (tmp_path / "trunc.pt").write_bytes(data[: len(data) // 2])
    (tmp_path / "notes.pt").write_text("hello\n")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "foreign.pt")
    for name in ("trunc.pt", "notes.pt"):
        with pytest.raises(CheckpointError, match="not a readable worldjepa checkpoint"):
            load_checkpoint(tmp_path / name)
    with pytest.raises(CheckpointError, match="not a worldjepa checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="does not exist: pass the last.pt written by `worldjepa train`"):
        load_world_model(tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match=r"is a directory: pass the last\.pt in it, e\.g\. .*last\.pt"):
        load_world_model(tmp_path)
    assert issubclass(CheckpointError, ValueError)


def test_wrong_format_version(tmp_path):
    ckpt = torch.load(_saved(tmp_path), weights_only=True)
    ckpt["format_version"] = 99
    torch.save(ckpt, tmp_path / "v99.pt")
    with pytest.raises(CheckpointError, match=r"format_version 99.*reads versions \[1, 2\]"):
        load_checkpoint(tmp_path / "v99.pt")


def test_check_compatible(tmp_path):
    meta = load_world_model(_saved(tmp_path, env_id="worldjepa/Reacher-v0")).meta
    check_compatible(meta, env_id="worldjepa/Reacher-v0", image_size=32, action_dim=2)
    with pytest.raises(
        CheckpointError,
        match="trained on worldjepa/Reacher-v0 but env is worldjepa/Push-v0: pass a checkpoint trained on that env",
    ):
        check_compatible(meta, env_id="worldjepa/Push-v0")
    with pytest.raises(CheckpointError, match="32px.*image_size=32"):
        check_compatible(meta, image_size=64)
    with pytest.raises(CheckpointError, match="action_dim=2 but env has action_dim=3"):
        check_compatible(meta, action_dim=3)


def test_file_sha256_is_short_and_follows_the_content(tmp_path):
    model = make_model()
    model.save(tmp_path / "a.pt")
    sha = file_sha256(tmp_path / "a.pt")
    assert len(sha) == 16 and int(sha, 16) >= 0 and file_sha256(tmp_path / "a.pt") == sha
    model.meta.env_id = "worldjepa/Push-v0"
    model.save(tmp_path / "a.pt")
    assert file_sha256(tmp_path / "a.pt") != sha


def _saved(tmp_path, env_id=None):
    model = make_model()
    model.meta.env_id = env_id
    model.save(tmp_path / "c.pt")
    return tmp_path / "c.pt"


def _batch() -> Batch:
    g = torch.Generator().manual_seed(1)
    pixels = torch.randint(0, 256, (4, 3, 32, 32, 3), dtype=torch.uint8, generator=g)
    index = torch.arange(4)
    return Batch(pixels=pixels, actions=torch.rand(4, 2, 2, generator=g), proprio=torch.zeros(4, 3, 4),
                 state=torch.zeros(4, 3, 4, dtype=torch.float64), episode=index, step=index)
