"""Ctrl-C and SIGTERM during training stop at the next step boundary, after a checkpoint, instead of mid-step."""

from __future__ import annotations

import signal
import threading
from types import FrameType


class StopAtStepBoundary:
    """While active, the first SIGINT or SIGTERM only sets `requested`; the loop then checkpoints and stops.

    A second signal interrupts at once (the default behaviour), for a loop that never reaches a boundary.
    Outside the main thread signals cannot be caught, and the loop keeps Python's default behaviour.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        for sig, handler in self._previous.items():  # a second signal acts at once
            signal.signal(sig, handler)  # type: ignore[arg-type]

    def install(self) -> StopAtStepBoundary:
        """Catch the signals (in the main thread only; elsewhere Python's defaults stay)."""
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.getsignal(sig) for sig in self.SIGNALS}
            for sig in self.SIGNALS:
                signal.signal(sig, self._handle)
        return self

    def restore(self) -> None:
        """Put back the handlers that were there before `install`."""
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        self._previous = {}
