"""Running means of the step metrics, and the clock that times training alone (not eval or checkpoints)."""

from __future__ import annotations

import time


class MetricMeans:
    """Sums of each step's metrics since the last `pop_means`."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.count = 0

    def add(self, metrics: dict[str, float]) -> None:
        for key, value in metrics.items():
            self.sums[key] = self.sums.get(key, 0.0) + value
        self.count += 1

    def pop_means(self) -> dict[str, float]:
        """The mean of each metric over the steps added since the last call; starts a new window."""
        means = {key: value / self.count for key, value in self.sums.items()}
        self.sums, self.count = {}, 0
        return means


class TrainClock:
    """Wall and CPU seconds spent loading data and training; `pause` around eval and checkpoints.

    CPU time (all threads of this process) is reported too: unlike wall time it hardly moves when other
    processes share the cores.
    """

    def __init__(self) -> None:
        self.seconds, self.cpu_seconds = 0.0, 0.0
        self.resume()

    def resume(self) -> None:
        self._tick, self._cpu_tick = time.perf_counter(), time.process_time()

    def pause(self) -> None:
        self.seconds += time.perf_counter() - self._tick
        self.cpu_seconds += time.process_time() - self._cpu_tick

    def throughput(self, steps: int, frames_per_step: int) -> dict[str, float | None]:
        """steps/s, frames/s and CPU seconds per step over `steps` timed steps (None when nothing was timed)."""
        return {
            "steps_per_s": steps / self.seconds if self.seconds else None,
            "frames_per_s": frames_per_step * steps / self.seconds if self.seconds else None,
            "cpu_seconds_per_step": self.cpu_seconds / steps if steps else None,
        }
