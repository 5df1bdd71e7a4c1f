"""Atomic file writes: a temp file in the same dir, fsync, ``os.replace``; readers never see half a file.

Torch-free, so dataset collection and its workers can use it.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from pathlib import Path
from typing import Any, Iterator


def is_temp_file(path: str | os.PathLike) -> bool:
    """True for the temp names ``atomic_path`` uses (left behind only by a writer that was killed)."""
    name = Path(path).name
    return name.startswith(".") and ".tmp" in name


def fsync_dir(path: Path) -> None:
    """fsync a directory, so renames and new entries in it survive a crash."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside ``path`` (same suffix, so writers that sniff it work); when the block
    succeeds fsync it and ``os.replace`` it onto ``path``. On any error (a full disk included) the
    temp file is removed and ``path`` keeps its previous content."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex}.tmp{path.suffix}")
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)  # make the rename itself durable
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Atomically replace ``path`` with ``text``."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    """Atomically replace ``path`` with ``obj`` as indented, key-sorted JSON."""
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")
