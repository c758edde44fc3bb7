"""Import time of the library: ``import mmgym`` (which registers the environment ids).

    python benchmarks/import_time.py              # 15 runs
    python benchmarks/import_time.py --runs 30

Prints the median over fresh interpreters of the cumulative time ``python -X importtime``
reports for ``mmgym`` (numpy and gymnasium included, the interpreter's own start excluded),
and beside it, for scale, the same for the heavier modules a first ``gym.make`` and an SB3
agent load (``mmgym.vector``, ``mmgym.sb3_vec_env``), and which of torch, numba and the
training kit ``import mmgym`` loaded (none, by design).

Budget: ``import mmgym`` < 0.5 s median on this 2-core machine, no torch in ``sys.modules``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

MODULES = ("mmgym", "mmgym.vector", "mmgym.sb3_vec_env")
"""Each imported alone in a fresh interpreter."""
BUDGET_S = 0.5


def cumulative_seconds(module: str) -> tuple[float, list[str]]:
    """The cumulative import time of ``module`` (s) in a fresh interpreter, and which of
    torch, numba and mmgym.kit it loaded."""
    code = (f"import json, sys, {module}; print(json.dumps([m for m in "
            "('torch', 'numba', 'mmgym.kit') if m in sys.modules]))")
    run = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True,
                         text=True, check=True)
    for line in run.stderr.splitlines():
        fields = [f.strip() for f in line.split("|")]
        if len(fields) == 3 and fields[2] == module:
            return int(fields[1]) * 1e-6, json.loads(run.stdout)
    raise RuntimeError(f"no importtime line for {module}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    times: dict[str, list[float]] = {m: [] for m in MODULES}
    loaded: dict[str, list[str]] = {}
    for _ in range(args.runs):  # interleaved, so the modules share the machine's noise
        for m in MODULES:
            seconds, loaded[m] = cumulative_seconds(m)
            times[m].append(seconds)
    print(f"median of {args.runs} fresh interpreters (python -X importtime, cumulative):")
    for m in MODULES:
        print(f"  import {m:<20} {statistics.median(times[m]):6.3f} s   loads: "
              f"{', '.join(loaded[m]) or 'none of torch, numba, mmgym.kit'}")
    ok = statistics.median(times["mmgym"]) < BUDGET_S and not loaded["mmgym"]
    print(f"budget: import mmgym < {BUDGET_S} s without torch: {'met' if ok else 'MISSED'}")


if __name__ == "__main__":
    main()
