"""Resolve a `worldjepa plan` config into an env factory, a world model, a solver and the agent that runs them."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from worldjepa.data.collector import make_env, resolve_env_config
from worldjepa.models.goal_policy import GoalPolicy
from worldjepa.models.goal_value import GoalValue
from worldjepa.models.protocol import WorldModel
from worldjepa.planners import HeldChunkPlanner, Planner, make_planner
from worldjepa.planning.agent import LatentAgent, MPCAgent
from worldjepa.planning.costs import LatentCost
from worldjepa.planning.loading import load_head, load_model
from worldjepa.planning.oracle import OracleAgent
from worldjepa.planning.subgoals import SubgoalGraph, build_graph

PLANNER_NAMES = ("cem", "mppi", "gradient", "random", "oracle", "policy")
# Planning further than the model was trained to roll out degrades predictions gradually, so a
# longer horizon only warns; beyond this multiple the predictions are meaningless and we refuse.
MAX_HORIZON_FACTOR = 4
# Keys of the planner config that configure the evaluation, not the solver's hyperparameters.
_PLANNER_META_KEYS = ("name", "solver", "horizon", "frameskip", "execute", "hold")


@dataclass
class PlanSetup:
    """Everything resolved before the first episode."""

    env_cfg: dict
    planner_cfg: dict
    model: WorldModel | None  # None for the oracle and random planners
    planner: Planner | HeldChunkPlanner
    frameskip: int
    horizon: int
    device: torch.device
    threshold: float
    checkpoint_sha: str | None
    policy: GoalPolicy | None = None  # proposes plans to every solve (`prior=PATH`)
    latent_cost: LatentCost | None = None  # what the latent planners score (None without a model)

    @property
    def name(self) -> str:
        return self.planner_cfg["name"]

    @property
    def hold(self) -> bool:
        """Whether the planner searches one action per plan step, held for its frameskip env steps."""
        return isinstance(self.planner, HeldChunkPlanner)

    def agent(self, envs: Sequence[Any], cost: Mapping[str, Any], graph: SubgoalGraph | None, lookahead: float,
              replan_every: int, execute: int | None) -> MPCAgent:
        """The agent for episodes run in lockstep on `envs` (the oracle plans on their simulators)."""
        mpc = {"replan_every": replan_every, "execute": execute}
        if self.name == "random":
            return MPCAgent(self.planner, self.frameskip, **mpc)
        if self.name == "oracle":
            return OracleAgent(envs, self.planner, self.frameskip, reduction=cost["reduction"],
                               intermediate_weight=cost["intermediate_weight"], **mpc)
        return LatentAgent(self.model, self.planner, cost=self.latent_cost, policy=self.policy, subgoals=graph,
                           lookahead=lookahead, **mpc)


def check_horizon(horizon: int, train_horizon: int | None) -> None:
    """Warn past the model's trained rollout length; refuse past MAX_HORIZON_FACTOR times it."""
    if not train_horizon:
        return
    if horizon > MAX_HORIZON_FACTOR * train_horizon:
        raise ValueError(
            f"horizon={horizon} is more than {MAX_HORIZON_FACTOR}x the model's train_horizon={train_horizon}: open-loop "
            f"predictions that far out are meaningless; pass horizon<={MAX_HORIZON_FACTOR * train_horizon} "
            "or train with more rollout_steps"
        )
    if horizon > train_horizon:
        warnings.warn(
            f"horizon={horizon} exceeds the model's train_horizon={train_horizon}: predictions past step "
            f"{train_horizon} are extrapolated and may drift",
            stacklevel=3,
        )


def resolve(env: str | Mapping[str, Any], planner: Mapping[str, Any], checkpoint: str | None, horizon: int | None,
            frameskip: int | None, budget: int, device: str, seed: int, hold: bool | None = None,
            prior: str | None = None, cost: Mapping[str, Any] | None = None) -> PlanSetup:
    """Resolve env, model (checked against the env), planner, frameskip, horizon, policy and latent cost.

    `hold=True` searches one action per plan step, held for its `frameskip` env steps (None: the planner
    config's `hold`, else False; False with a `prior`). `cost` is the plan
    config's cost block (default: LatentCost's defaults); its `value` file is loaded for metric=value.
    """
    from worldjepa.models.meta import check_compatible
    from worldjepa.training.device import select_device

    planner_cfg = dict(planner)
    if hold is None:  # a prior proposes whole chunks of env actions, so it searches them unheld
        hold = bool(planner_cfg.get("hold", False)) and not prior
    name = planner_cfg.get("name")
    if name not in PLANNER_NAMES:
        raise ValueError(f"unknown planner {name!r}: choose one of {list(PLANNER_NAMES)} (planner=mppi)")
    torch_device = select_device(device)
    env_cfg = resolve_env_config(env if isinstance(env, str) else dict(env))
    model = sha = None
    if name not in ("oracle", "random"):
        if not checkpoint:
            raise ValueError(
                f"planner={name} plans with a world model: pass checkpoint=PATH (e.g. runs/x/last.pt); "
                "planner=oracle and planner=random need no checkpoint"
            )
        model, sha = load_model(checkpoint, torch_device)
        env_cfg["kwargs"].setdefault("image_size", model.image_size)
    probe = make_env(env_cfg["id"], env_cfg["kwargs"])
    action_dim, threshold = int(probe.action_space.shape[0]), float(probe.unwrapped.success_threshold)
    image_size = int(probe.unwrapped.image_size)
    probe.close()
    env_cfg["kwargs"]["max_episode_steps"] = budget  # the protocol budget, not the env's default time limit
    if model is not None:
        check_compatible(model.meta, env_id=env_cfg["id"], image_size=image_size, action_dim=action_dim)
        if frameskip is not None and frameskip != model.frameskip:
            raise ValueError(
                f"frameskip={frameskip} but the checkpoint was trained with frameskip={model.frameskip}: "
                "leave frameskip=null to use the checkpoint's"
            )
        frameskip = model.frameskip
    else:
        frameskip = planner_cfg.get("frameskip") if frameskip is None else frameskip
    # Only null falls back to the planner config: horizon=0 is a mistake to report, not "use the default".
    horizon = planner_cfg.get("horizon") if horizon is None else horizon
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in (frameskip, horizon)):
        raise ValueError(
            f"frameskip={frameskip!r}, horizon={horizon!r}: both must be positive integers; set them on the command line "
            "(frameskip=5 horizon=8) or in the planner config"
        )
    if model is not None:
        check_horizon(horizon, model.meta.train_horizon)
    solver = planner_cfg.get("solver", name) if name == "oracle" else name
    if name == "oracle" and solver == "gradient":
        raise ValueError("planner=oracle needs a sampling solver (cem, mppi or random): the simulator is not differentiable")
    hparams = {k: v for k, v in planner_cfg.items() if k not in _PLANNER_META_KEYS}
    solver_obj = make_planner(
        solver, horizon=horizon, action_dim=(1 if hold else frameskip) * action_dim, device=torch_device, seed=seed,
        **hparams,
    )
    if hold:
        solver_obj = HeldChunkPlanner(solver_obj, frameskip)
    policy = _policy(prior, name, model, sha, hold, torch_device)
    latent_cost = _latent_cost(dict(cost or {}), sha, torch_device) if model is not None else None
    return PlanSetup(env_cfg, planner_cfg, model, solver_obj, frameskip, horizon, torch_device, threshold, sha, policy,
                     latent_cost)


def _latent_cost(cost: dict[str, Any], checkpoint_sha: str | None, device: torch.device) -> LatentCost:
    """The cost block as a LatentCost, with the GoalValue of `cost.value` for metric=value (checked by LatentCost)."""
    path = cost.pop("value", None)
    value = load_head(GoalValue, path, checkpoint_sha, device) if cost.get("metric") == "value" and path else None
    return LatentCost(**cost, value=value)


def _policy(path: str | None, planner: str, model: WorldModel | None, checkpoint_sha: str | None, hold: bool,
            device: torch.device) -> GoalPolicy | None:
    """The policy at `path`, checked against the checkpoint and planner; None when no path is given."""
    if not path:
        if planner == "policy":
            raise ValueError("planner=policy executes a learned policy: pass prior=PATH (the policy.pt of `worldjepa imitate`)")
        return None
    if model is None:
        raise ValueError(f"prior={path} proposes plans through a world model: use it with planner=cem, mppi, gradient or policy")
    if hold:
        raise ValueError(f"prior={path} proposes full action chunks, but hold=true searches held actions: pass hold=false")
    return load_head(GoalPolicy, path, checkpoint_sha, device)


def training_dataset(s: PlanSetup, needed_by: str = "protocol.goal_source=dataset",
                     instead: str = "protocol.goal_source=env") -> str:
    """protocol.dataset=null: the dataset the checkpoint was trained on (its meta records the path).

    `needed_by` (the setting that reads the dataset) and `instead` (the setting that needs none) word the error.
    """
    path = ((s.model.meta.dataset or {}) if s.model is not None else {}).get("path")
    if not path or not Path(path).is_dir():
        found = f"the checkpoint's training dataset {path} does not exist here" if path else "there is no checkpoint dataset to default to"
        raise ValueError(
            f"{needed_by} reads a dataset, but protocol.dataset is null and {found}: pass protocol.dataset=PATH "
            f"(a `worldjepa collect` directory of this env), or {instead}"
        )
    return str(path)


def subgoal_graph(s: PlanSetup, subgoals: Mapping[str, Any], dataset: str | None) -> SubgoalGraph | None:
    """The dataset-frame graph that supplies subgoals; None when they are off or the planner does not search the
    latent cost they steer (oracle, random, policy)."""
    if not subgoals.get("enabled") or s.model is None or s.name == "policy":
        return None
    from worldjepa.data.format import open_dataset

    if subgoals["lookahead"] <= 0:
        raise ValueError(f"subgoals.lookahead={subgoals['lookahead']}: pass the latent steps to the next subgoal (> 0)")
    store = open_dataset(dataset or training_dataset(s, "subgoals.enabled=true (the default)", "subgoals.enabled=false"))
    return build_graph(s.model, store, s.frameskip, subgoals["max_nodes"], device=s.device, knn=subgoals["knn"],
                       link_quantile=subgoals["link_quantile"])
