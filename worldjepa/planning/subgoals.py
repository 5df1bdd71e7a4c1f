"""Subgoals from a graph of dataset frames, for goals the latent cost cannot see from afar.

A JEPA's latent distance is informative only near the goal: beyond roughly half a metre in
TwoRoom it plateaus (`worldjepa landscape` shows it), so a planner whose horizon does not reach
the goal's basin wanders or waits at the wall. This module supplies nearer goals. The nodes are
dataset frames every `stride` env steps (one latent step); edges join consecutive nodes of an
episode (a step the data actually took) and each node to its nearest neighbours in embedding
space when they are closer than a typical step (nearby places visited by other episodes). The
path length to the goal along this graph knows about walls because the data never crossed them.
Path costs count latent steps (a link costs its length in steps). At each replan the planner aims
for the node `lookahead` steps down the shortest path from the node nearest the current frame, or
for the real goal once that is within `lookahead` steps.
Nothing but pixels and episode order is used: no state labels.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from worldjepa.data.format import EpisodeStore
from worldjepa.models.protocol import WorldModel


def _adjacency(pairs: np.ndarray, cost: np.ndarray, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Undirected adjacency (neighbours, edge costs) per node from [E, 2] pairs (the tasks' dynamics are reversible)."""
    pairs, cost = np.concatenate([pairs, pairs[:, ::-1]]), np.concatenate([cost, cost])
    order = np.lexsort((pairs[:, 1], pairs[:, 0]))
    pairs, cost = pairs[order], cost[order]
    splits = np.searchsorted(pairs[:, 0], np.arange(1, n))
    return list(zip(np.split(pairs[:, 1], splits), np.split(cost, splits)))


@dataclass
class SubgoalGraph:
    """Node embeddings [N, D] and, per node, (neighbours, edge costs in latent steps)."""

    z: Tensor
    edges: list[tuple[np.ndarray, np.ndarray]]

    @classmethod
    def from_embeddings(cls, z: Tensor, episode_of: np.ndarray, knn: int = 8, link_quantile: float = 0.5) -> "SubgoalGraph":
        """Temporal edges between consecutive nodes of an episode (`episode_of` [N], nodes in time order)
        cost one latent step. Up to `knn` nearest neighbours per node closer than the `link_quantile` of
        temporal-edge lengths are linked too, at the cost of their length relative to the median step."""
        if len(z) != len(episode_of) or len(z) < 2:
            raise ValueError(f"{len(z)} embeddings for {len(episode_of)} episode ids: pass one id per node, 2+ nodes")
        src = np.flatnonzero(episode_of[1:] == episode_of[:-1])
        if len(src) == 0:
            raise ValueError("no episode has two nodes: collect longer episodes or lower the subgoal stride")
        step = ((z[src + 1] - z[src]) ** 2).mean(-1).float()  # the planner's l2 metric
        radius, median = float(torch.quantile(step, link_quantile)), float(step.median())
        d = torch.cdist(z.float(), z.float()).pow(2) / z.shape[1]
        d.fill_diagonal_(float("inf"))
        near_d, near = d.topk(min(knn, len(z) - 1), dim=1, largest=False)
        rows, cols = torch.nonzero(near_d <= radius, as_tuple=True)
        pairs = np.concatenate([np.stack([src, src + 1], 1), np.stack([rows.numpy(), near[rows, cols].numpy()], 1)])
        # l2 is a squared distance: its square root scales like a length, so a link half a step long costs 0.5.
        cost = np.concatenate([np.ones(len(src)), np.sqrt(near_d[rows, cols].numpy() / median).clip(1e-3)])
        return cls(z, _adjacency(pairs, cost, len(z)))

    def nearest(self, z: Tensor) -> np.ndarray:
        """Index of the node nearest each embedding in `z` [B, D]."""
        return torch.cdist(z.float(), self.z.to(z.device).float()).argmin(1).cpu().numpy()

    def steps_to(self, node: int) -> np.ndarray:
        """Shortest-path cost (in latent steps) from every node to `node` (Dijkstra); inf where disconnected."""
        dist = np.full(len(self.z), np.inf)
        dist[node] = 0.0
        heap = [(0.0, node)]
        while heap:
            d, n = heapq.heappop(heap)
            if d > dist[n]:
                continue
            neighbours, cost = self.edges[n]
            better = d + cost < dist[neighbours]
            for m, dm in zip(neighbours[better], (d + cost)[better]):
                dist[m] = dm
                heapq.heappush(heap, (float(dm), int(m)))
        return dist

    def subgoal(self, z_now: Tensor, z_goal: Tensor, steps_to_goal: list[np.ndarray], lookahead: float) -> Tensor:
        """[B, D] goals to plan for: the real goal when it is within `lookahead` steps (or unreachable on
        the graph), else the first node `lookahead` steps down the shortest path from the current node."""
        out = z_goal.clone()
        for b, node in enumerate(self.nearest(z_now)):
            dist = steps_to_goal[b]
            if not np.isfinite(dist[node]) or dist[node] <= lookahead:
                continue
            target = dist[node] - lookahead
            while dist[node] > target:
                neighbours, cost = self.edges[node]
                node = int(neighbours[(cost + dist[neighbours]).argmin()])
            out[b] = self.z[node].to(out)
        return out


@torch.no_grad()
def build_graph(model: WorldModel, store: EpisodeStore, stride: int, max_nodes: int = 8000, batch_size: int = 256,
                device: str | torch.device = "cpu", **graph_kwargs: Any) -> SubgoalGraph:
    """Encode every `stride`-th frame of the dataset `store` (evenly thinned to `max_nodes`) into a graph."""
    frames, episode_of = [], []
    for e in store.episodes:
        pixels = store.load(e, "pixels", mmap=True)[::stride]
        frames.append(pixels)
        episode_of.append(np.full(len(pixels), e))
    episode_of = np.concatenate(episode_of)
    index = np.arange(len(episode_of))
    if len(index) > max_nodes:  # keep whole episodes so the temporal edges survive
        kept = set(np.unique(episode_of)[: max(1, int(len(np.unique(episode_of)) * max_nodes / len(index)))])
        index = np.flatnonzero([e in kept for e in episode_of])
    pixels = np.concatenate(frames)[index]
    z = torch.cat([model.encode(torch.from_numpy(pixels[i : i + batch_size]).to(device)).float().cpu()
                   for i in range(0, len(pixels), batch_size)])
    return SubgoalGraph.from_embeddings(z, episode_of[index], **graph_kwargs)
