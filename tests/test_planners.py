"""Tests for worldjepa.planners: solvers on known costs, bounds, non-finite costs, warm starts and MPC."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from worldjepa.planners import (
    CEM, MPPI, GradientPlanner, HeldChunkPlanner, MPCController, RandomPlanner, hold_chunks, make_planner, shift_warm_start,
    split_chunks,
)

from conftest import record_inits

H, A = 4, 2
# Three problems with different optima, all inside [-1, 1].
TARGETS = torch.tensor([[0.5, -0.3], [-0.7, 0.2], [0.1, 0.8]])[:, None, :].expand(3, H, A)


def quadratic(actions: torch.Tensor) -> torch.Tensor:
    """[B, N, H, A] -> [B, N]; minimum 0 at TARGETS[b]."""
    return ((actions - TARGETS[:, None]) ** 2).sum((-1, -2))


SOLVERS = {
    "cem": lambda: CEM(H, A, samples=200, iterations=15, elites=20, seed=0),
    "mppi": lambda: MPPI(H, A, samples=200, iterations=15, temperature=0.01, seed=0),
    "gradient": lambda: GradientPlanner(H, A, iterations=80, restarts=2, lr=0.1, seed=0),
}


@pytest.mark.parametrize("name", SOLVERS)
def test_solvers_find_quadratic_minimum_per_problem(name):
    result = SOLVERS[name]().solve(quadratic, batch_size=3)
    assert result.actions.shape == (3, H, A)
    assert result.cost.shape == (3,)
    assert torch.allclose(result.actions, TARGETS, atol=0.08), (result.actions - TARGETS).abs().max()
    assert torch.all(result.cost < 0.02)
    # cost_history records the best cost per iteration; the returned cost is the best of them.
    assert torch.allclose(result.cost, result.cost_history.min(1).values)
    assert result.cost_history[:, -1].mean() < result.cost_history[:, 0].mean()


def test_cem_evaluates_all_problems_in_one_call_per_iteration():
    calls = []

    def cost(actions):
        calls.append(tuple(actions.shape))
        return quadratic(actions)

    result = CEM(H, A, samples=50, iterations=7, elites=5).solve(cost, batch_size=3)
    assert calls == [(3, 50, H, A)] * 7
    assert result.cost_history.shape == (3, 7)


def test_random_planner_is_uniform_and_keeps_best():
    planner = RandomPlanner(H, A, samples=500, iterations=2, seed=1)
    result = planner.solve(quadratic, batch_size=3)
    assert result.cost_history.shape == (3, 2)
    samples = planner.uniform((20000,))
    assert -1 <= samples.min() < -0.99 and 0.99 < samples.max() <= 1
    # Best of 1000 uniform draws in 8 dims is far better than a typical draw (expected cost ~ 3).
    assert torch.all(result.cost < 1.5)


@settings(max_examples=15, deadline=None)
@given(
    name=st.sampled_from(["cem", "mppi", "gradient", "random"]),
    low=st.floats(-2.0, 0.5),
    width=st.floats(0.1, 3.0),
    shift=st.floats(-5.0, 5.0),
    seed=st.integers(0, 10),
)
def test_planners_never_emit_out_of_bounds_actions(name, low, width, shift, seed):
    high = low + width
    seen = []

    def cost(actions):  # optimum far outside the box pulls every solver towards the bounds
        seen.append(actions.detach())
        return ((actions - shift * 10) ** 2).sum((-1, -2))

    hp = {"iterations": 3} | ({"restarts": 2, "lr": 1.0} if name == "gradient" else {"samples": 16})
    hp |= {"elites": 4} if name == "cem" else {}
    planner = make_planner(name, horizon=3, action_dim=2, low=low, high=high, seed=seed, **hp)
    init = torch.full((2, 3, 2), shift)  # out-of-bounds warm start gets clipped, not trusted
    result = planner.solve(cost, batch_size=2, init_mean=init)
    for actions in [*seen, result.actions]:
        assert actions.min() >= low - 1e-6 and actions.max() <= high + 1e-6


@pytest.mark.parametrize("name", ["cem", "mppi", "random", "gradient"])
def test_non_finite_costs_are_never_selected(name):
    # The true minimum (0.5) sits in a region whose cost is NaN / inf; the planner must avoid it.
    def cost(actions):
        c = ((actions - 0.5) ** 2).sum((-1, -2))
        first = actions[..., 0, 0]
        c = torch.where(first > 0.2, torch.full_like(c, math.nan), c)
        return torch.where(first < -0.8, torch.full_like(c, math.inf), c)

    hp = {"iterations": 10} | ({} if name == "gradient" else {"samples": 64})
    hp |= {"elites": 8} if name == "cem" else {}
    result = make_planner(name, horizon=H, action_dim=A, seed=0, **hp).solve(cost, batch_size=3)
    assert torch.isfinite(result.cost).all()
    assert torch.all(result.actions[:, 0, 0] <= 0.2) and torch.all(result.actions[:, 0, 0] >= -0.8)
    recomputed = cost(result.actions[:, None])[:, 0]
    assert torch.allclose(recomputed, result.cost)


def test_all_non_finite_costs_give_inf_cost_and_valid_actions():
    result = CEM(H, A, samples=16, iterations=3, elites=4).solve(
        lambda a: torch.full(a.shape[:2], math.nan), batch_size=2
    )
    assert torch.isinf(result.cost).all()
    assert result.actions.shape == (2, H, A) and torch.isfinite(result.actions).all()


def test_bad_init_mean_and_cost_shape_raise_clear_errors():
    planner = CEM(H, A, samples=8, iterations=1, elites=2)
    with pytest.raises(ValueError, match="init_mean has shape"):
        planner.solve(quadratic, batch_size=3, init_mean=torch.zeros(3, H + 1, A))
    with pytest.raises(ValueError, match="NaN or inf"):
        planner.solve(quadratic, batch_size=3, init_mean=torch.full((3, H, A), math.nan))
    with pytest.raises(ValueError, match=r"expected a tensor of shape \(3, 8\)"):
        planner.solve(lambda a: a.sum(-1), batch_size=3)
    with pytest.raises(ValueError, match="unknown planner"):
        make_planner("ilqr", horizon=H, action_dim=A)
    with pytest.raises(ValueError, match="valid keys"):
        make_planner("cem", horizon=H, action_dim=A, sample=3)
    with pytest.raises(ValueError, match="elites"):
        CEM(H, A, samples=8, elites=9)


def test_init_mean_is_kept_as_a_candidate():
    first = []

    def cost(actions):
        if not first:
            first.append(actions[:, 0].clone())
        return quadratic(actions)

    CEM(H, A, samples=8, iterations=1, elites=2).solve(cost, batch_size=3, init_mean=TARGETS.clone())
    assert torch.equal(first[0], TARGETS)


def test_shift_warm_start():
    prev = torch.arange(2 * 4 * 3, dtype=torch.float32).reshape(2, 4, 3)
    shifted = shift_warm_start(prev, 1)
    assert torch.equal(shifted[:, :3], prev[:, 1:])
    assert torch.equal(shifted[:, 3], torch.zeros(2, 3))
    last = shift_warm_start(prev, 2, pad="last")
    assert torch.equal(last[:, :2], prev[:, 2:]) and torch.equal(last[:, 2], prev[:, 3]) and torch.equal(last[:, 3], prev[:, 3])
    assert torch.equal(shift_warm_start(prev, 0), prev)
    assert torch.equal(shift_warm_start(prev, 9), torch.zeros_like(prev))
    with pytest.raises(ValueError, match="pad"):
        shift_warm_start(prev, 1, pad="mean")


def test_split_chunks_orders_env_actions():
    plan = torch.tensor([[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]])  # H=2, frameskip=2, A=2
    assert split_chunks(plan, 2).tolist() == [[[1, 2], [3, 4], [5, 6], [7, 8]]]
    with pytest.raises(ValueError, match="multiple"):
        split_chunks(plan, 3)


def test_hold_chunks_repeats_each_step_action_in_execution_order():
    plan = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])  # H=2, A=2
    held = hold_chunks(plan, 3)
    assert held.shape == (1, 2, 6)
    assert split_chunks(held, 3).tolist() == [[[1, 2]] * 3 + [[3, 4]] * 3]


def test_held_planner_searches_one_action_per_step_and_finds_the_held_optimum():
    frameskip = 3
    calls = []

    def cost(chunks):  # sees full chunks [B, N, H, frameskip*A]; minimum at TARGETS held over each chunk
        calls.append(tuple(chunks.shape))
        return ((chunks - hold_chunks(TARGETS, frameskip)[:, None]) ** 2).sum((-1, -2))

    planner = HeldChunkPlanner(CEM(H, A, samples=200, iterations=15, elites=20, seed=0), frameskip)
    assert planner.action_dim == frameskip * A and planner.horizon == H
    init = hold_chunks(TARGETS.flip(0), frameskip)  # a warm start in full-chunk form is accepted
    result = planner.solve(cost, batch_size=3, init_mean=init)
    assert calls[0] == (3, 200, H, frameskip * A)
    assert result.actions.shape == (3, H, frameskip * A)
    assert torch.allclose(result.actions, hold_chunks(TARGETS, frameskip), atol=0.08)
    with pytest.raises(ValueError, match="init_mean has shape"):
        planner.solve(cost, batch_size=3, init_mean=TARGETS.clone())


def test_mpc_controller_replans_on_schedule_and_warm_starts():
    frameskip, replan_every = 2, 2
    planner = CEM(horizon=3, action_dim=frameskip * 1, samples=8, iterations=1, elites=2)
    inits = record_inits(planner)
    ctrl = MPCController(planner, frameskip=frameskip, replan_every=replan_every)
    ctrl.reset(3)
    cost = lambda a: a.sum((-1, -2))  # noqa: E731  (minimised by all -1 actions)
    plans, actions = 0, []
    for step in range(8):
        rows = [0, 1, 2] if step < 4 else [0, 2]  # episode 1 finished after 4 env steps
        if ctrl.needs_plan:
            result = ctrl.plan(cost, rows)
            plans += 1
        actions.append(ctrl.next_actions(rows))
    # replan every replan_every latent steps = replan_every * frameskip env steps
    assert plans == 2 and inits[0] is None
    assert inits[1].shape == (2, 3, 2)
    assert torch.allclose(inits[1][:, 2], torch.zeros(2, 2))  # shifted tail padded with zeros
    assert actions[4].shape == (2, 1)
    assert torch.equal(actions[4], result.actions[:, 0, :1])  # first env action of the new plan
    with pytest.raises(ValueError, match="replan_every"):
        MPCController(planner, frameskip=2, replan_every=4)


def test_mpc_controller_execute_replans_inside_a_chunk_and_shifts_per_env_action():
    planner = CEM(horizon=2, action_dim=3 * 1, samples=8, iterations=1, elites=2)
    inits = record_inits(planner)
    ctrl = MPCController(planner, frameskip=3, execute=1)
    ctrl.reset(2)
    cost = lambda a: a.sum((-1, -2))  # noqa: E731
    first = ctrl.plan(cost, [0, 1])
    assert torch.equal(ctrl.next_actions([0, 1]), first.actions[:, 0, :1])
    assert ctrl.needs_plan  # one env action per replan, a third of a chunk
    ctrl.plan(cost, [0, 1])
    # the warm start drops one env action: [a1 a2 | a3 a4 a5 | 0]
    expected = torch.cat([first.actions.reshape(2, 6)[:, 1:], torch.zeros(2, 1)], dim=1).reshape(2, 2, 3)
    assert torch.equal(inits[1], expected)
    with pytest.raises(ValueError, match="execute=7"):
        MPCController(planner, frameskip=3, execute=7)


@pytest.mark.parametrize("cls", [CEM, MPPI])
def test_a_proposal_joins_the_samples_and_wins_when_it_is_the_optimum(cls):
    target = torch.full((2, 3, 2), 0.9)
    cost_fn = lambda a: (a - target[:, None]).pow(2).sum((-1, -2))  # noqa: E731
    kw = {"elites": 4} if cls is CEM else {}
    with_proposal = cls(horizon=3, action_dim=2, samples=20, iterations=1, proposal_share=0.25, **kw).solve(
        cost_fn, 2, proposal=target)
    without = cls(horizon=3, action_dim=2, samples=20, iterations=1, **kw).solve(cost_fn, 2)
    assert torch.equal(with_proposal.actions, target) and with_proposal.cost.abs().max() == 0
    assert without.cost.min() > 0.1
    with pytest.raises(ValueError, match="proposal has shape"):
        cls(horizon=3, action_dim=2, samples=20, **kw).solve(cost_fn, 2, proposal=target[:, :2])


def test_planners_without_samples_refuse_a_proposal():
    with pytest.raises(ValueError, match="pass it as init_mean"):
        GradientPlanner(horizon=2, action_dim=1).solve(lambda a: a.sum((-1, -2)), 1, proposal=torch.zeros(1, 2, 1))


@pytest.mark.parametrize("cls", [CEM, MPPI])
def test_result_mean_averages_out_the_error_the_best_sample_exploits(cls):
    target = torch.full((4, 3, 2), 0.5)
    true_cost = lambda a: (a - target[:, None]).pow(2).sum((-1, -2))  # noqa: E731
    # a "model error" that is high-frequency in the actions: some sample always finds a deep false minimum
    model_cost = lambda a: true_cost(a) + torch.sin(300 * a).sum((-1, -2))  # noqa: E731
    kw = {"elites": 30} if cls is CEM else {"temperature": 1.0}
    runs = {result: cls(horizon=3, action_dim=2, samples=300, iterations=5, result=result, seed=0, **kw).solve(model_cost, 4)
            for result in ("best", "mean")}
    err = {result: true_cost(r.actions[:, None])[:, 0] for result, r in runs.items()}
    assert (err["mean"] < err["best"]).all(), err
    assert torch.allclose(runs["mean"].cost, model_cost(runs["mean"].actions[:, None])[:, 0])
    assert runs["mean"].cost_history.shape == (4, 5)
    with pytest.raises(ValueError, match=r"result in \(best, mean\)"):
        cls(horizon=3, action_dim=2, result="median", **kw)
