"""Merge the MULDE rows of several `adbench_accuracy.py --methods MULDE` results into one
file: per (data set, seed) the row of the last source that has it. A source is FILE, or
FILE:SET,SET,... for those data sets of it only. For a default whose rule leaves some sets
on the code path of an earlier default (issue 15, round 36: a set without a quantised column
trains as round 33's default did; one whose quantised columns are round 35's fits as round
35's did), the unchanged sets' rows come from the earlier runs and the changed ones from the
new. The merged file keeps every source's commands and names each row's source.

    python benchmarks/adbench_merge.py --out results/adbench_mulde_round36_all.json \\
        --seeds 0 results/adbench_mulde_round33_all.json:39_vertebral,14_glass,... \\
        results/adbench_mulde_round35.json:45_wine,... results/adbench_mulde_round36.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import command_line, new_header, read_json, write_json


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("sources", nargs="+",
                   help="results files (FILE or FILE:SET,SET,...), earliest first")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seeds", type=int, nargs="+", default=None,
                   help="keep these seeds' rows only (default: all)")
    args = p.parse_args(argv)
    rows: dict[tuple[str, int], dict] = {}
    commands: list[str] = []
    first = None
    for source in args.sources:
        name, _, only = source.partition(":")
        path = Path(name)
        wanted = set(only.split(",")) if only else None
        res = read_json(path)
        if res is None:
            raise SystemExit(f"{path}: no such results file")
        first = first or res
        commands += [c for c in res.get("commands", []) if c not in commands]
        found = set()
        for e in res["entries"]:
            if (e["method"] == "MULDE" and (args.seeds is None or e["seed"] in args.seeds)
                    and (wanted is None or e["dataset"] in wanted)):
                rows[(e["dataset"], e["seed"])] = e | {"source": path.name}
                found.add(e["dataset"])
        if wanted is not None and wanted - found:
            raise SystemExit(f"{path}: no MULDE rows of {sorted(wanted - found)}")
    commands.append(command_line())
    header = new_header("adbench_accuracy", protocol=first["protocol"],
                        mulde_settings=first.get("mulde_settings", {}),
                        sources=list(args.sources), entries=list(rows.values()))
    header["commands"] = commands
    write_json(args.out, header)
    counts: dict[str, int] = {}
    for e in rows.values():
        counts[e["source"]] = counts.get(e["source"], 0) + 1
    print(f"wrote {args.out}: {len(rows)} rows, " + ", ".join(f"{n} from {s}"
                                                          for s, n in counts.items()))


if __name__ == "__main__":
    main()
