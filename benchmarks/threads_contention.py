"""MULDE training time when other processes keep cores busy: threads and OpenMP wait policy.

torch's OpenMP worker threads spin while they wait by default (OMP_WAIT_POLICY=ACTIVE); when
cores are taken by other work, a spinning thread steals time from the thread it waits for.
This script fits the same small MULDE (fixed steps) in fresh processes next to 0, 1 and 2
busy competitors (pure-Python loops, one core each): with one thread (`--threads 1`), and
with all cores under each wait policy. Each fit's policy is set here, in its environment: the
`mulde` command sets PASSIVE unless the environment names one (`mulde.cli.process_settings`),
and `import mulde` sets nothing. It writes the seconds to
benchmarks/results/threads_contention.json.

    python benchmarks/threads_contention.py
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from common import RESULTS_DIR, new_header, write_json

FIT = """
import json, sys, time
import numpy as np
t0 = time.perf_counter()
from mulde import MULDE
import torch
X = np.random.default_rng(0).standard_normal((4000, 8))
t1 = time.perf_counter()
MULDE(max_steps={steps}, random_state=0).fit(X)
print(json.dumps({{"threads": torch.get_num_threads(), "fit_s": time.perf_counter() - t1}}))
"""
BUSY = "while True: pass"


def fit(steps: int, threads: int | None, policy: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS",
                                                            "OMP_WAIT_POLICY")}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    out = subprocess.run([sys.executable, "-c", FIT.format(steps=steps)], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--out", type=Path, default=RESULTS_DIR / "threads_contention.json")
    args = ap.parse_args(argv)
    cases = [("1 thread", 1, "PASSIVE"), ("all cores, ACTIVE (OpenMP's default)", None, "ACTIVE"),
             ("all cores, PASSIVE (mulde's default)", None, "PASSIVE")]
    rows = []
    for busy in (0, 1, 2):
        competitors = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(busy)]
        try:
            time.sleep(0.5 if busy else 0)
            for name, threads, policy in cases:
                r = fit(args.steps, threads, policy)
                rows.append({"case": name, "busy_competitors": busy, **r})
                print(f"busy={busy} {name:38s} {r['threads']} threads {r['fit_s']:7.1f} s",
                      flush=True)
        finally:
            for c in competitors:
                c.kill()
    write_json(args.out, new_header("threads_contention", steps=args.steps, rows=rows))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
