"""Mutation score of the modules where money is computed, measured by mutmut.

    pip install -e '.[test,mutation]'
    python tests/mutation/score.py                  # a seeded sample of 100 mutants per module
    python tests/mutation/score.py --per-module 0   # every mutant (hours on 2 cores)
    python tests/mutation/score.py --report         # the table again, from the last run

The modules and the tests that count are ``[tool.mutmut]`` in ``pyproject.toml``. mutmut generates
every mutant (``mutants/``); this script picks a seeded sample of each module's mutants (the same
sample for the same source), has ``mutmut run`` test exactly those, and prints a table per module:
killed (a failing test or a timeout), survived, no test reaching it, and the score
``killed / (tested - equivalent)``. Equivalent mutants (a change no test can observe because the
behaviour is the same) are listed with their reason in ``equivalent.txt`` beside this file and
leave the denominator. ``mutmut show NAME`` prints a mutant's diff; ``mutmut browse`` lists them.

Outside the default test run and CI: a full run takes hours on this 2-core machine.
"""
from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KILLED = {1, 3, 24, -24, 36, 152, 255}          # mutmut's exit codes for a failing test or a timeout
NO_TESTS = {5, 33}


def modules() -> list[str]:
    try:
        import tomllib
    except ImportError:         # Python 3.10
        sys.exit("tests/mutation/score.py needs Python 3.11 or newer (tomllib)")
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    return cfg["only_mutate"]


def generate() -> None:
    """Write every mutant into mutants/ (what ``mutmut run`` does first), without testing any."""
    try:
        from mutmut.__main__ import (CatchOutput, copy_also_copy_files, copy_src_dir, create_mutants,
                                     set_mutant_under_test, setup_source_paths)
    except ImportError as e:  # the internals this needs are those of the pinned mutmut (pyproject)
        sys.exit(f"mutmut is missing or of another version ({e}); pip install -e '.[mutation]'")
    set_mutant_under_test("mutant_generation")
    (ROOT / "mutants").mkdir(exist_ok=True)
    with CatchOutput(spinner_title="Generating mutants"):
        copy_src_dir()
        copy_also_copy_files()
        setup_source_paths()
        create_mutants(2)


def meta(path: str) -> dict:
    f = ROOT / "mutants" / (path + ".meta")
    if not f.exists():
        sys.exit(f"{f} is missing: run without --report first")
    return json.loads(f.read_text())


def equivalents() -> dict[str, str]:
    out = {}
    for line in (Path(__file__).with_name("equivalent.txt")).read_text().splitlines():
        name, _, why = line.partition("#")
        if name.strip():
            out[name.strip()] = why.strip()
    return out


def sample(per_module: int, seed: int, only: list[str]) -> dict[str, list[str]]:
    picked = {}
    for path in modules():
        if only and not any(o in path for o in only):
            continue
        names = sorted(meta(path)["exit_code_by_key"])
        if per_module and per_module < len(names):
            names = sorted(random.Random(f"{seed}:{path}").sample(names, per_module))
        picked[path] = names
    return picked


def report(picked: dict[str, list[str]]) -> bool:
    eq = equivalents()
    ok = True
    print(f"\n{'module':34} {'mutants':>8} {'sampled':>8} {'killed':>7} {'survived':>9} {'no test':>8} "
          f"{'equiv.':>7} {'score':>7}")
    survivors = []
    for path, names in picked.items():
        codes = meta(path)["exit_code_by_key"]
        c = Counter()
        for n in names:
            code = codes.get(n)
            if n in eq:
                c["equivalent"] += 1
            elif code in KILLED:
                c["killed"] += 1
            elif code in NO_TESTS:
                c["no tests"] += 1
                survivors.append(n)
            elif code is None:
                c["not run"] += 1
            else:
                c["survived"] += 1
                survivors.append(n)
        tested = len(names) - c["not run"] - c["equivalent"]
        score = c["killed"] / tested if tested else float("nan")
        ok &= score >= 0.9 and not c["not run"]
        print(f"{path:34} {len(codes):8d} {len(names):8d} {c['killed']:7d} {c['survived']:9d} {c['no tests']:8d} "
              f"{c['equivalent']:7d} {score:7.1%}" + (f"  ({c['not run']} not run)" if c["not run"] else ""))
    known = {n for path in picked for n in meta(path)["exit_code_by_key"]}
    stale = [n for n in eq if n.split(".x")[0].replace(".", "/") + ".py" in picked and n not in known]
    if stale:
        print(f"\nequivalent.txt names no mutant of today's source (re-check them): {', '.join(stale)}")
    if survivors:
        print("\nnot killed (mutmut show NAME):")
        for n in survivors:
            print("  ", n)
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-module", type=int, default=100, help="mutants sampled per module (0: all)")
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--report", action="store_true", help="only print the table of the last run")
    ap.add_argument("--max-children", type=int, default=2)
    ap.add_argument("--module", action="append", default=[], help="only modules whose path contains this")
    a = ap.parse_args()
    if not a.report:
        generate()
    picked = sample(a.per_module, a.seed, a.module)
    if not a.report:
        names = [n for v in picked.values() for n in v]
        if a.per_module == 0 and not a.module:
            names = []          # every mutant: mutmut keeps the results it has (rm -rf mutants/ for a fresh run)
        # listed names are (re)tested even when mutmut has a result for them
        subprocess.run(["mutmut", "run", "--max-children", str(a.max_children), *names], cwd=ROOT, check=False)
    return 0 if report(picked) else 1


if __name__ == "__main__":
    sys.exit(main())
