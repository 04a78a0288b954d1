"""Merge the MULDE rows of several `adbench_accuracy.py --methods MULDE` results into one
file: per (data set, seed) the row of the last file that has it. For a default whose rule
leaves some sets on the code path of an earlier default (issue 15, round 36: a set without a
quantised column trains as round 33's default did), the unchanged sets' rows come from the
earlier run and the changed ones from the new. The merged file keeps every source's
commands and names its sources.

    python benchmarks/adbench_merge.py --out results/adbench_mulde_round36_all.json \\
        results/adbench_mulde_round33_all.json results/adbench_mulde_round35.json \\
        results/adbench_mulde_round36.json --only-seed 0
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import command_line, new_header, read_json, write_json


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("sources", type=Path, nargs="+", help="results files, earliest first")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--only-seed", type=int, default=None)
    args = p.parse_args(argv)
    rows: dict[tuple[str, int], dict] = {}
    commands: list[str] = []
    first = None
    for path in args.sources:
        res = read_json(path)
        if res is None:
            raise SystemExit(f"{path}: no such results file")
        first = first or res
        commands += [c for c in res.get("commands", []) if c not in commands]
        for e in res["entries"]:
            if e["method"] == "MULDE" and (args.only_seed is None or e["seed"] == args.only_seed):
                rows[(e["dataset"], e["seed"])] = e | {"source": path.name}
    commands.append(command_line())
    header = new_header("adbench_accuracy", protocol=first["protocol"],
                        mulde_settings=first.get("mulde_settings", {}),
                        sources=[str(s) for s in args.sources], entries=list(rows.values()))
    header["commands"] = commands
    write_json(args.out, header)
    counts: dict[str, int] = {}
    for e in rows.values():
        counts[e["source"]] = counts.get(e["source"], 0) + 1
    print(f"wrote {args.out}: {len(rows)} rows, " + ", ".join(f"{n} from {s}"
                                                          for s, n in counts.items()))


if __name__ == "__main__":
    main()
