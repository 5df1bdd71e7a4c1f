"""Tests for worldjepa.planning.subgoals: the dataset-frame graph routes around walls the data never crossed,
subgoals step along that route, and `worldjepa plan subgoals.enabled=true` runs end to end."""

from __future__ import annotations

import json

import numpy as np
import torch

from worldjepa.planning.subgoals import SubgoalGraph

from conftest import assert_results_match_episodes

STEP = 0.1


def two_room_tracks() -> tuple[torch.Tensor, np.ndarray]:
    """'Episodes' whose frames embed as their 2-D position: straight tracks inside each room of a
    wall at x=0, and one track through the door at y=0. Nothing ever crosses the wall elsewhere."""
    tracks = []
    for y in np.arange(-1, 1.01, 0.2):
        tracks += [np.stack([np.arange(-1, -0.09, STEP), np.full(10, y)], 1),
                   np.stack([np.arange(0.1, 1.01, STEP), np.full(10, y)], 1)]
    for x in (-0.9, -0.5, -0.1, 0.1, 0.5, 0.9):
        tracks.append(np.stack([np.full(21, x), np.arange(-1, 1.01, STEP)], 1))
    tracks.append(np.stack([np.arange(-1, 1.01, STEP), np.zeros(21)], 1))  # through the door
    z = torch.tensor(np.concatenate(tracks), dtype=torch.float32)
    return z, np.concatenate([np.full(len(t), i) for i, t in enumerate(tracks)])


def route(graph: SubgoalGraph, start: int, dist: np.ndarray) -> list[int]:
    """Nodes of the shortest path from `start` to the goal (dist == 0)."""
    path = [start]
    while dist[path[-1]] > 0:
        neighbours, cost = graph.edges[path[-1]]
        path.append(int(neighbours[(cost + dist[neighbours]).argmin()]))
    return path


def test_routes_go_through_the_door_and_subgoals_step_along_them():
    z, episode_of = two_room_tracks()
    graph = SubgoalGraph.from_embeddings(z, episode_of, knn=8, link_quantile=1.0)
    here, goal = np.array([-0.1, 0.8]), np.array([0.1, 0.8])  # 0.2 apart, but on either side of the wall
    start, goal_node = graph.nearest(torch.tensor(np.stack([here, goal]), dtype=torch.float32))
    dist = graph.steps_to(int(goal_node))
    assert np.isfinite(dist).all()
    assert dist[start] > 12  # down to the door and back up: ~1.6 m of 0.1 m steps, not 2 steps through the wall
    xy = z[route(graph, int(start), dist)].numpy()
    crossings = np.flatnonzero(np.sign(xy[1:, 0]) != np.sign(xy[:-1, 0]))
    assert len(crossings) >= 1 and np.all(np.abs(xy[crossings, 1]) < 0.15), xy[crossings]

    z_now, z_goal = z[[start]], z[[goal_node]]
    sub = graph.subgoal(z_now, z_goal, [dist], lookahead=3).numpy()[0]
    assert sub[0] < 0 and sub[1] < 0.8 - 0.2  # heads down toward the door, not at the goal across the wall
    assert torch.equal(graph.subgoal(z_now, z_goal, [dist], lookahead=100), z_goal)  # near enough: the goal itself


def test_a_node_with_no_route_to_the_goal_keeps_the_real_goal():
    z = torch.tensor([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]])
    graph = SubgoalGraph.from_embeddings(z, np.array([0, 0, 1, 1]), knn=1, link_quantile=0.5)
    dist = graph.steps_to(3)
    assert np.isinf(dist[:2]).all() and dist[2] == 1.0
    z_goal = z[[3]]
    assert torch.equal(graph.subgoal(z[[0]], z_goal, [dist], lookahead=1), z_goal)


def test_plan_with_subgoals_runs_and_records_them(fault_checkpoint, fault_dataset, tmp_path):
    from worldjepa.evaluation.plan import evaluate

    cem = {"name": "cem", "horizon": 2, "samples": 8, "iterations": 2, "elites": 2}
    subgoals = {"enabled": True, "lookahead": 1, "knn": 4, "link_quantile": 0.5, "max_nodes": 100}
    results = evaluate(
        env={"name": "two_room", "id": "worldjepa/TwoRoom-v0", "kwargs": {"image_size": 32}}, planner=cem,
        checkpoint=str(fault_checkpoint), out=tmp_path, episodes=2, batch=2, hold=True, videos=0, device="cpu",
        protocol={"version": 2, "split": "test", "goal_source": "env", "seed": 0, "budget": 6, "dataset": str(fault_dataset),
                  "dataset_offset": 4},
        cost={"metric": "l2", "reduction": "final", "intermediate_weight": 0.1}, progress=False, subgoals=subgoals,
    )
    assert_results_match_episodes(tmp_path, episodes=2)
    assert results.config["subgoals"] == subgoals
    saved = json.loads((tmp_path / "results.json").read_text())["config"]
    assert saved["subgoals"] == subgoals and saved["hold"] is True
