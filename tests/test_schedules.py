"""Tests for the pure functions of the training step: the lr schedule, the EMA momentum and the step's batch."""

from __future__ import annotations

import pytest

from worldjepa.training.sampling import StepBatchSampler, step_batch
from worldjepa.training.schedules import ema_momentum, learning_rate


def test_lr_schedule_warms_up_then_decays_to_the_floor():
    kw = {"lr": 1e-3, "warmup_steps": 10, "total_steps": 110, "min_lr_ratio": 0.1}
    lrs = [learning_rate(s, **kw) for s in range(110)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:]))
    assert lrs[-1] == pytest.approx(1e-4, rel=1e-3)


@pytest.mark.parametrize("schedule", ["cosine", "linear"])
def test_ema_momentum_goes_from_start_to_end(schedule):
    values = [ema_momentum(s, start=0.99, end=1.0, total_steps=50, schedule=schedule) for s in range(50)]
    assert values[0] == pytest.approx(0.99) and values[-1] == pytest.approx(1.0)
    assert all(a <= b for a, b in zip(values, values[1:]))
    with pytest.raises(ValueError, match="ema.schedule='step' is unknown"):
        ema_momentum(0, start=0.99, end=1.0, total_steps=50, schedule="step")


def test_step_batches_are_reproducible_and_shard_across_ranks():
    kw = {"num_items": 1000, "batch_size": 16, "seed": 3}
    assert step_batch(7, **kw) == step_batch(7, **kw) != step_batch(8, **kw)
    shards = [step_batch(7, **kw, rank=r, world_size=2) for r in range(2)]
    assert not set(shards[0]) & set(shards[1]) and len(set(shards[0] + shards[1])) == 32
    # A sampler started mid-run yields exactly the tail of the full run's batches.
    full = list(StepBatchSampler(1000, 16, seed=3, start_step=0, end_step=10))
    assert list(StepBatchSampler(1000, 16, seed=3, start_step=4, end_step=10)) == full[4:]
