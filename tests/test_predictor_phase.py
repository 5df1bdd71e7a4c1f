"""Tests for the predictor phase of `worldjepa train`: its windows, what it trains and leaves, exact resume, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from worldjepa.checkpoint import load_checkpoint
from worldjepa.data import WindowDataset
from worldjepa.models import JEPAWorldModel, load_world_model
from worldjepa.training.frozen import encode_episodes, load_frozen
from worldjepa.training.predictor_phase import EmbeddedWindows
from worldjepa.training.train import run
from conftest import train_cfg

PHASE = ["steps=6", "predictor_phase.batch_size=16", "predictor_phase.lr=3e-3", "ckpt_every=10"]


def test_embedded_windows_hold_the_frames_and_actions_of_each_window():
    # Embedding and action values name their (episode, frame): 100 * episode + frame.
    lengths = [12, 4, 9]  # frames per episode; the 4-frame one is too short for a window
    embeddings = [torch.tensor([[100.0 * e + t] for t in range(n)]) for e, n in enumerate(lengths)]
    actions = [torch.tensor([[100.0 * e + t, -1.0] for t in range(n - 1)]) for e, n in enumerate(lengths)]
    windows = EmbeddedWindows(embeddings, actions, window=3, frameskip=3)  # a window spans 7 frames

    assert len(windows) == (12 - 6) + (9 - 6)
    z, a = windows.get(torch.tensor([0, 5, 6, 8]))
    assert z[..., 0].tolist() == [[0, 3, 6], [5, 8, 11], [200, 203, 206], [202, 205, 208]]
    assert a.shape == (4, 2, 6)  # frameskip x action_dim values per latent step
    assert a[1, :, 0::2].tolist() == [[5, 6, 7], [8, 9, 10]] and (a[..., 1::2] == -1).all()
    assert a[3, :, 0::2].tolist() == [[202, 203, 204], [205, 206, 207]]


def test_aligned_windows_start_on_chunk_boundaries_only():
    embeddings = [torch.tensor([[100.0 * e + t] for t in range(n)]) for e, n in enumerate([12, 10])]
    actions = [torch.zeros(n - 1, 1) for n in (12, 10)]
    windows = EmbeddedWindows(embeddings, actions, window=3, frameskip=3, aligned=True)

    z, _ = windows.get(torch.arange(len(windows)))
    assert z[:, 0, 0].tolist() == [0, 3, 100, 103]  # of the starts 0..5 and 0..3 (a window spans 7 frames), every 3rd


def test_embedded_windows_are_the_window_dataset_encoded(fault_checkpoint, fault_dataset):
    frozen = load_frozen(str(fault_checkpoint), str(fault_dataset), torch.device("cpu"))
    model = frozen.model
    embeddings, actions = encode_episodes(model, frozen.store, frozen.train_episodes, torch.device("cpu"))
    window = model.history + model.meta.train_horizon
    windows = EmbeddedWindows(embeddings, actions, window, model.frameskip)
    dataset = WindowDataset(fault_dataset, window, model.frameskip, episodes=frozen.train_episodes)

    assert len(windows) == len(dataset)
    for i in (0, len(dataset) // 2, len(dataset) - 1):
        z, a = windows.get(torch.tensor([i]))
        item = dataset[i]
        torch.testing.assert_close(z[0], model.encode(item["pixels"]), rtol=0, atol=1e-5)
        torch.testing.assert_close(a[0], item["actions"].float(), rtol=0, atol=0)


def phase_losses(monkeypatch) -> list[float]:
    """Spy on JEPAWorldModel.prediction_loss; return the list it appends each step's loss to."""
    losses: list[float] = []
    original = JEPAWorldModel.prediction_loss

    def spy(self, z, actions):
        loss, metrics = original(self, z, actions)
        losses.append(metrics["loss"])
        return loss, metrics

    monkeypatch.setattr(JEPAWorldModel, "prediction_loss", spy)
    return losses


def state(path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["state_dict"]


def test_the_phase_trains_the_predictor_alone_and_its_loss_falls(fault_dataset, tmp_path, monkeypatch):
    run(train_cfg(fault_dataset, tmp_path / "jepa", *PHASE))
    losses = phase_losses(monkeypatch)
    result = run(train_cfg(fault_dataset, tmp_path / "both", *PHASE, "predictor_phase.steps=60"))

    assert len(losses) == 60
    assert np.mean(losses[-10:]) < 0.7 * np.mean(losses[:10]), losses
    jepa, both = state(tmp_path / "jepa" / "last.pt"), state(tmp_path / "both" / "last.pt")
    for name in jepa:  # the JEPA steps are the same; the phase changes the predictor only
        same = torch.equal(jepa[name], both[name])
        assert same != name.startswith("predictor."), name
    phase = load_checkpoint(tmp_path / "both" / "last.pt")["training_state"]["predictor_phase"]
    assert phase["step"] == 60 and phase["optimizer"]["state"]
    metrics = json.loads((tmp_path / "both" / "metrics.json").read_text())
    assert metrics == json.loads(json.dumps(result))
    assert metrics["step"] == 6 and metrics["predictor_steps"] == 60
    assert metrics["predictor_phase"]["steps"] == 60 and metrics["predictor_phase"]["train_seconds"] > 0
    jepa_val = json.loads((tmp_path / "jepa" / "metrics.json").read_text())["val"]
    assert metrics["val"]["rel_err_1"] < jepa_val["rel_err_1"]  # evaluated after the phase, on held-out episodes
    assert load_world_model(tmp_path / "both" / "last.pt").meta.config["predictor_phase"]["steps"] == 60

    losses.clear()  # a finished run returns its figures without training again
    assert run(train_cfg(fault_dataset, tmp_path / "both", *PHASE, "predictor_phase.steps=60")) == result
    assert losses == []


def test_shorter_jepa_windows_leave_the_phase_its_rollout_steps(fault_dataset, tmp_path, monkeypatch):
    jepa_windows, phase_windows = [], []
    training_loss, prediction_loss = JEPAWorldModel.training_loss, JEPAWorldModel.prediction_loss

    def jepa_spy(self, batch, rollout_steps):
        jepa_windows.append((batch.pixels.shape[1], rollout_steps))
        return training_loss(self, batch, rollout_steps)

    def phase_spy(self, z, actions):
        phase_windows.append(z.shape[1])
        return prediction_loss(self, z, actions)

    monkeypatch.setattr(JEPAWorldModel, "training_loss", jepa_spy)
    monkeypatch.setattr(JEPAWorldModel, "prediction_loss", phase_spy)
    run(train_cfg(fault_dataset, tmp_path / "run", *PHASE, "predictor_phase.steps=4", "jepa_rollout_steps=1"))

    history, rollout = 2, 2  # conftest's train_cfg
    assert set(jepa_windows) == {(history + 1, 1)} and len(jepa_windows) == 6
    assert phase_windows == [history + rollout] * 4
    assert load_world_model(tmp_path / "run" / "last.pt").meta.train_horizon == rollout

    # The same as JEPA steps run with rollout_steps=1, resumed with the phase: how the recipe's variants were run.
    run(train_cfg(fault_dataset, tmp_path / "split", *PHASE, "rollout_steps=1"))
    run(train_cfg(fault_dataset, tmp_path / "split", *PHASE, "predictor_phase.steps=4"))
    one, split = state(tmp_path / "run" / "last.pt"), state(tmp_path / "split" / "last.pt")
    for name in one:
        torch.testing.assert_close(split[name], one[name], rtol=0, atol=0, msg=name)


def test_an_interrupted_phase_resumes_to_the_same_weights(fault_dataset, tmp_path, monkeypatch):
    settings = [*PHASE, "predictor_phase.steps=25"]
    run(train_cfg(fault_dataset, tmp_path / "straight", *settings))

    real_save = JEPAWorldModel.save

    def save_then_die(model, path, training_state=None):
        real_save(model, path, training_state=training_state)
        if (training_state.get("predictor_phase") or {}).get("step") == 10:
            raise KeyboardInterrupt  # stands in for a kill right after the phase's step-10 checkpoint

    monkeypatch.setattr(JEPAWorldModel, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        run(train_cfg(fault_dataset, tmp_path / "split", *settings))
    monkeypatch.setattr(JEPAWorldModel, "save", real_save)
    run(train_cfg(fault_dataset, tmp_path / "split", *settings))

    straight, split = state(tmp_path / "straight" / "last.pt"), state(tmp_path / "split" / "last.pt")
    for name in straight:
        torch.testing.assert_close(split[name], straight[name], rtol=0, atol=1e-6, msg=name)


@pytest.mark.parametrize("overrides, message", [
    (["predictor_phase.steps=-5"], "predictor_phase.steps=-5 must be a positive integer"),
    (["predictor_phase.steps=5", "predictor_phase.batch_size=0"], "predictor_phase.batch_size=0 must be a positive"),
    (["predictor_phase.steps=5", "model.objective=reconstruction"], "pass predictor_phase.steps=0"),
    (["jepa_rollout_steps=1"], "only a predictor phase trains the predictor on rollout_steps"),
    (["predictor_phase.steps=5", "jepa_rollout_steps=0"], "jepa_rollout_steps=0 must be a positive integer"),
])
def test_bad_phase_settings_are_clear_errors(fault_dataset, tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        run(train_cfg(fault_dataset, tmp_path / "run", "steps=2", *overrides))
    assert not (tmp_path / "run" / "last.pt").exists()


def test_jepa_steps_cannot_be_added_after_the_phase(fault_dataset, tmp_path):
    run(train_cfg(fault_dataset, tmp_path / "run", "steps=2", "predictor_phase.steps=2"))
    with pytest.raises(ValueError, match="pass steps=2 or a new out="):
        run(train_cfg(fault_dataset, tmp_path / "run", "steps=4", "predictor_phase.steps=2"))


def test_a_zero_teacher_forcing_weight_skips_its_predictor_call(fault_checkpoint, monkeypatch):
    model = load_world_model(str(fault_checkpoint))
    k, r = model.history, model.meta.train_horizon
    torch.manual_seed(0)
    z = torch.nn.functional.layer_norm(torch.randn(3, k + r, model.embed_dim), (model.embed_dim,))
    actions = torch.randn(3, k + r - 1, model.frameskip * model.meta.action_dim)
    calls = []
    step = model.predictor.step
    monkeypatch.setattr(model.predictor, "step", lambda *args: calls.append(1) or step(*args))

    loss, metrics = model.prediction_loss(z, actions)
    assert len(calls) == r + 1  # the rollout's r steps, then all r teacher-forced windows in one call
    assert loss.item() == pytest.approx(metrics["tf_loss"] + metrics["rollout_loss"], rel=1e-5)

    calls.clear()
    monkeypatch.setattr(model.loss_cfg, "teacher_forcing", 0.0)
    rollout_only, metrics = model.prediction_loss(z, actions)
    assert len(calls) == r and "tf_loss" not in metrics
    assert rollout_only.item() == pytest.approx(metrics["rollout_loss"], rel=1e-6)
