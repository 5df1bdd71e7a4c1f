"""The interruption cases of benchmarks/bad_inputs.py: kill -9, SIGINT and SIGTERM during collect, train
and plan, then the same command again must finish with what an uninterrupted run produces."""

from __future__ import annotations

import csv
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import torch

from bad_input_cases import BASE
from bad_input_files import PLAN_RESUME

# command -> (arguments writing to {out}, the output dir's name, when the run has made progress worth killing)
RUNS: dict[str, tuple[list[str], Callable[[Path], bool]]] = {
    "collect": (["collect", "episodes=10", "episode_steps=20", "workers=1", "env.kwargs.image_size=32",
                 "progress=false"], lambda out: len(list(out.glob("episodes/*/pixels.npy"))) >= 2),
    "train": (["train", *BASE["train"][:-2], "steps=30", "ckpt_every=1", "eval_every=10", "progress=false"],
              lambda out: (out / "last.pt").exists()),
    "plan": ([*(a for a in PLAN_RESUME if not a.startswith(("episodes=", "out="))), "episodes=8"],
             lambda out: (out / "episodes.csv").exists() and len((out / "episodes.csv").read_text().splitlines()) > 2),
}
SIGNALS = {"kill9": signal.SIGKILL, "sigint": signal.SIGINT, "sigterm": signal.SIGTERM}
INTERRUPTED = "interrupted; rerun the same command to resume."


def outcome(command: str, out: Path) -> object:
    """What a finished run produced, comparable between runs (no timings)."""
    if command == "collect":
        return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.glob("episodes/*/*.npy"))}
    if command == "train":
        ckpt = torch.load(out / "last.pt", weights_only=True)
        return ckpt["training_state"]["step"], {k: v.float().numpy().round(5).tobytes() for k, v in ckpt["state_dict"].items()}
    with open(out / "episodes.csv", newline="") as f:
        return [{k: v for k, v in row.items() if k != "plan_time_s"} for row in csv.DictReader(f)]


def run_interrupted(command: str, how: str, work: Path, argv: list[str], env: dict, reference: object) -> dict:
    """Interrupt one run with `how` once it made progress, rerun it, and compare with `reference`."""
    ready, out = RUNS[command][1], work / f"{command}_{how}"
    argv = [*argv, f"out={out}"]
    record = {"id": f"{command}.interrupt.{how}", "command": command, "category": "interruption",
              "expected": f"{how} mid-run, then the same command again finishes with the uninterrupted run's output"}
    start = time.monotonic()
    # A shell starts background jobs with SIGINT ignored, and the child would inherit that: give it the
    # default disposition, as a terminal's Ctrl-C finds it.
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, cwd=work,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    while not ready(out) and proc.poll() is None and time.monotonic() - start < 120:
        time.sleep(0.01)
    alive = proc.poll() is None
    if alive:
        proc.send_signal(SIGNALS[how])
    stderr = proc.communicate(timeout=120)[1]
    lines = [line for line in stderr.splitlines() if line.strip()]
    rerun = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=work, timeout=300)
    problems = []
    if not alive:
        problems.append("the run ended before it could be interrupted")
    if how != "kill9" and not (proc.returncode == 130 and lines and lines[-1] == f"worldjepa {command}: {INTERRUPTED}"):
        problems.append(f"interrupted run: exit {proc.returncode}, last line {lines[-1:]!r}")
    # kill -9 leaves no chance to stop worker processes, whose complaints reach the dead run's stderr
    if "Traceback" in (rerun.stderr if how == "kill9" else stderr + rerun.stderr):
        problems.append("a traceback")
    if rerun.returncode != 0:
        problems.append(f"the rerun exited {rerun.returncode}: {rerun.stderr.strip().splitlines()[-1:]}")
    elif outcome(command, out) != reference:
        problems.append("the resumed output differs from the uninterrupted run's")
    return {**record, "passed": not problems, "error_line": "; ".join(problems) or (lines[-1] if lines else ""),
            "seconds": round(time.monotonic() - start, 1)}


def interruption_records(work: Path, cli: list[str], env: dict, data: Path) -> list[dict]:
    """Every command x signal, each against one uninterrupted reference run per command (on dataset `data`)."""
    records = []
    for command, (args, _) in RUNS.items():
        argv, clean = [*cli, *(a.format(data=data) for a in args)], work / f"{command}_clean"
        subprocess.run([*argv, f"out={clean}"], check=True, capture_output=True, env=env, cwd=work, timeout=300)
        reference = outcome(command, clean)
        records += [run_interrupted(command, how, work, argv, env, reference) for how in SIGNALS]
    return records
