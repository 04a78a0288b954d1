"""The density-fidelity suite's measures for any MULDE parameters, on any of its cases.

A probe, not a round: each case "dist:d:n" is drawn as the suite draws it
(`density_fidelity.draw_case`: the same training, fresh and broad rows for a seed), MULDE is
fitted on its training rows once per --params (JSON of `MULDE` parameters; {} the default)
and scored with `anomaly_score`, and the suite's `metrics` are reported: rho_fresh and
rho_broad (Spearman with the true -log p of fresh samples and of samples of the broader
distribution) and far (the false-alarm rate of fresh samples at the training scores' 99th
percentile); kNN (the 5th neighbour's distance on the rows standardised per column, the
suite's peer) beside them with --peers kNN. Unlike `density_modes.py` it takes every
distribution, not only Gaussian mixtures, and unlike `density_fidelity.py` any parameters,
not only the registered variants; its seed 5 default is the suite's scratch seed.

    cd benchmarks
    OMP_NUM_THREADS=1 nice -n 19 python density_params.py --cases circle:64:1000 \\
        --params '{}' '{"precondition": "covariance"}' --peers kNN --seed 5 \\
        --out results/density_params_probe.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from common import RESULTS_DIR, new_header, set_single_thread, write_json
from density_fidelity import draw_case, metrics, peer_scorer, standardised


def run_case(spec: str, seed: int, params: list[dict], peers: list[str]) -> dict:
    """One case "dist:d:n": a row per MULDE fit (its params, fit seconds, steps and the
    suite's metrics) and per peer."""
    from mulde import MULDE

    dist, d, n = spec.split(":")
    data = draw_case(dist, int(d), int(n), seed)
    rows = []
    for given in params:
        t0 = time.perf_counter()
        model = MULDE(random_state=seed, device="cpu", **given).fit(data.x)
        fit_s = time.perf_counter() - t0
        scores = [model.anomaly_score(a) for a in (data.x, data.fresh, data.broad)]
        rows.append({"name": json.dumps(given, sort_keys=True), "params": given,
                     "fit_s": fit_s, "steps": model.train_result_.steps,
                     **metrics(*scores, data.nll_fresh, data.nll_broad)})
    z_tr, z_f, z_b = standardised(data)  # the suite's peers' scaling
    for name in peers:
        train, scorer = peer_scorer(name, z_tr, seed)
        rows.append({"name": name, **metrics(train, scorer(z_f), scorer(z_b), data.nll_fresh,
                                             data.nll_broad)})
    for row in rows:
        print(f"{spec} {row['name']}: fresh {row['rho_fresh']:.3f} broad "
              f"{row['rho_broad']:.3f} far {row['far']:.3f}"
              + (f"; {row['fit_s']:.0f} s, {row['steps']} steps" if "fit_s" in row else ""),
              flush=True)
    return {"case": spec, "dist": dist, "d": int(d), "n": int(n), "seed": seed, "rows": rows}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", required=True, metavar="DIST:D:N")
    parser.add_argument("--params", nargs="*", type=json.loads, default=[{}],
                        help="JSON objects of MULDE parameters, one fit each ({}: default)")
    parser.add_argument("--peers", nargs="*", default=[], choices=["kNN"])
    parser.add_argument("--seed", type=int, default=5, help="5: the suite's scratch seed")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "density_params.json")
    args = parser.parse_args(argv)
    set_single_thread()
    cases = []
    for spec in args.cases:
        cases.append(run_case(spec, args.seed, args.params, args.peers))
        write_json(args.out, new_header("density_params", seed=args.seed, cases=cases))


if __name__ == "__main__":
    main()
