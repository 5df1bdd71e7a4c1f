"""The bad-input and fault matrix: every case through the real `worldjepa` CLI, written to results/bad_inputs/cases.json.

A refused input must exit non-zero, end stderr in exactly one line `worldjepa <cmd>: error: ...` naming the
key or file and a fix, print no traceback, and leave the disk as it was (the fixtures and the case's own
dir hash the same before and after; no .hydra/, log or out appears). An interrupted collect, train or plan
must finish on the rerun with an uninterrupted run's output. Cases run at most two at a time.

    python benchmarks/bad_inputs.py [--only SUBSTRING] [--workers 2]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bad_input_cases import BASE, Case, size_cases, wrong_type_cases
from bad_input_files import PLAN_RESUME, all_file_cases
from bad_input_interrupts import interruption_records

CLI = [sys.executable, "-m", "worldjepa.cli"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled"}
ENV.pop("WORLDJEPA_DEBUG", None)
# A fix is an instruction: the error line must tell the user what to pass, rerun, delete, ...
FIX = re.compile(r"\b(pass|rerun|delete|use|point|recollect|retrain|collect|check|lower|free|upgrade|need|fix|set|write|must be)\b|e\.g\.")
RESULTS = Path(__file__).parent / "results" / "bad_inputs" / "cases.json"


def compose(command: str, overrides: list[str]) -> dict:
    """The command's config with `overrides`, as a plain tree (the paths are placeholders)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from omegaconf import OmegaConf

    from worldjepa.config import CONFIG_DIR
    from worldjepa.cli import COMMANDS, _force_stage_key

    fixed = [_force_stage_key(o.format(data="d", ckpt="c.pt", case="x")) for o in overrides]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return OmegaConf.to_container(hydra_compose(COMMANDS[command][0], overrides=fixed), resolve=False)


def tree_hash(root: Path) -> dict[str, str]:
    """Every file and dir under `root`: relative path -> sha256 of the contents ('dir' for dirs)."""
    return {str(p.relative_to(root)): "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))}


def build_fixtures(root: Path) -> dict[str, Path]:
    """The tiny dataset, world model, policy, value and evaluation every case starts from."""
    from worldjepa.data import collect

    fx = {"data": root / "data", "run": root / "run", "ckpt": root / "run" / "last.pt", "eval": root / "eval",
          "policy": root / "policy" / "policy.pt", "value": root / "value" / "value.pt"}
    env = {"name": "two_room", "id": "worldjepa/TwoRoom-v0", "kwargs": {"image_size": 32}}
    collect(env, "waypoint", 6, fx["data"], workers=1, episode_steps=20, progress=False)
    runs = [["train", *BASE["train"], "steps=4", f"out={fx['run']}"],
            ["imitate", *BASE["imitate"], f"out={fx['policy'].parent}"],
            ["value", *BASE["value"], f"out={fx['value'].parent}"],
            [*PLAN_RESUME[:-1], "episodes=2", f"out={fx['eval']}"]]
    for args in runs:
        args = [a.format(data=fx["data"], ckpt=fx["ckpt"]) for a in args if a != "episodes=3"]
        subprocess.run([*CLI, *args], check=True, capture_output=True, env=ENV, cwd=root, timeout=300)
    return fx


def check_refused(case: Case, proc: subprocess.CompletedProcess | None, disk_same: bool) -> list[str]:
    """What about this run breaks the refused-input contract (empty: it held)."""
    if proc is None:
        return ["accepted: still running after the timeout"]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    last, prefix = (lines[-1] if lines else ""), f"worldjepa {case.command}: error: "
    problems = [
        "exit code 0" if proc.returncode == 0 else "",
        "a traceback on stderr" if "Traceback" in proc.stderr else "",
        f"the last stderr line does not start {prefix!r}" if not last.startswith(prefix) else "",
        "more than one error line" if sum(": error: " in line for line in lines) > 1 else "",
        f"the error line does not name {case.names!r}" if case.names.lower() not in last.lower() else "",
        "the error line names no fix" if not FIX.search(last) else "",
        "the disk changed" if not disk_same else "",
    ]
    return [p for p in problems if p]


def run_case(case: Case, work: Path, fx: dict[str, Path]) -> dict:
    """Set up, run and judge one refused-input case in its own dir under `work`."""
    case_dir = work / re.sub(r"[^\w.=-]", "_", case.id)
    case_dir.mkdir()
    if case.setup:
        case.setup(case_dir, fx)
    before, before_fx = tree_hash(case_dir), tree_hash(fx["data"].parent)
    paths = {k: str(v) for k, v in fx.items()}
    argv = [*CLI, *(arg.format(case=case_dir, **paths) for arg in case.args)]
    start = time.monotonic()
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, env=ENV, cwd=case_dir, timeout=120)
    except subprocess.TimeoutExpired:
        proc = None
    disk_same = tree_hash(case_dir) == before and tree_hash(fx["data"].parent) == before_fx
    problems = check_refused(case, proc, disk_same)
    lines = [line for line in (proc.stderr if proc else "").splitlines() if line.strip()]
    return {"id": case.id, "command": case.command, "category": case.category, "expected": case.expected,
            "args": case.args, "passed": not problems, "error_line": lines[-1] if lines else "",
            "problems": problems, "seconds": round(time.monotonic() - start, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="run only cases whose id contains this")
    parser.add_argument("--workers", type=int, default=2, help="CLI runs at a time")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    start = time.monotonic()
    cases = [c for c in [*wrong_type_cases(compose), *size_cases(), *all_file_cases()] if args.only in c.id]
    assert len({c.id for c in cases}) == len(cases), "case ids must be unique"
    with tempfile.TemporaryDirectory(prefix="bad_inputs_") as tmp:
        work = Path(tmp)
        fx = build_fixtures(work / "fixtures")
        (work / "cases").mkdir()
        with ThreadPoolExecutor(max_workers=args.workers) as pool:
            records = list(pool.map(lambda c: run_case(c, work / "cases", fx), cases))
        if args.only in "interrupt" or "interrupt" in args.only:
            (work / "runs").mkdir()
            records += [r for r in interruption_records(work / "runs", CLI, ENV, fx["data"]) if args.only in r["id"]]
    passed = sum(r["passed"] for r in records)
    categories = sorted({r["category"] for r in records})
    summary = {"cases": len(records), "passed": passed, "pass_rate": round(passed / max(len(records), 1), 4),
               "seconds": round(time.monotonic() - start, 1), "workers": args.workers,
               "commands": sorted({r["command"] for r in records}),
               "by_category": {c: sum(r["category"] == c for r in records) for c in categories}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, "cases": records}, indent=1) + "\n")
    for r in records:
        if not r["passed"]:
            print(f"FAIL {r['id']}: {'; '.join(r.get('problems', []))} | {r['error_line'][:300]}")
    print(f"{passed}/{len(records)} cases passed in {summary['seconds']:.0f} s -> {args.out}")
    sys.exit(0 if passed == len(records) else 1)


if __name__ == "__main__":
    main()
