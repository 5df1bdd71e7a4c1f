"""results.json: the versioned results schema of an evaluation, written and read as one dataclass."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from worldjepa.atomic import write_text_atomic
from worldjepa.evaluation.records import Summary

SCHEMA_VERSION = 1


@dataclass
class EvalResults(Summary):
    """Summary of every wanted episode, plus what produced it: protocol, env, planner and the resolved config.

    `config_id` fingerprints the settings (episodes.csv rows carry it, so a resume never mixes runs);
    `per_seed` breaks the summary down by planner seed when there are several.
    """

    protocol_version: int = 2
    env_id: str = ""
    planner: str = ""
    success_threshold: float = 0.0
    batch: int = 1
    device: str = "cpu"
    config_id: str = ""
    config: dict[str, Any] | None = None
    complete: bool = False
    per_seed: dict[str, Summary] | None = None
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (per-seed summaries included)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvalResults:
        """Rebuild from `to_dict` output; a file of another schema version is refused with the fix."""
        if data.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(
                f"results of schema_version {data.get('schema_version')!r}, this worldjepa reads {SCHEMA_VERSION}: "
                "rerun the evaluation with this version"
            )
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if values.get("per_seed") is not None:
            values["per_seed"] = {seed: Summary(**summary) for seed, summary in values["per_seed"].items()}
        return cls(**values)

    def write(self, path: str | os.PathLike) -> None:
        """Atomically write as indented, key-sorted JSON."""
        write_text_atomic(path, json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def read(cls, path: str | os.PathLike) -> EvalResults:
        """Read a results.json written by `write`."""
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (json.JSONDecodeError, TypeError) as err:
            raise ValueError(f"{path} is not a worldjepa results.json ({err}): rerun the evaluation") from err
