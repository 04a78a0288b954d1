"""How ranking and false alarms move along training: the suite's metrics at every evaluation.

Round 40-41's notes name "held-out early stopping" as the next lever against the held-out
false alarms of the default's deeper networks: stop where the network still ranks fresh
samples well but has not yet fitted its training rows more closely than new ones. This probe
asks whether such a step exists. Per case the default `MULDE` is fitted on the suite's rows
(`density_fidelity.draw_case`) without early stopping (`patience=None`: every step to the
cap), the weights validated at each evaluation (every `eval_every` steps; those early stopping
chooses among) are kept, and each is scored with the default aggregate and
`density_fidelity.metrics` (rho_fresh / rho_broad / far), beside its validation DSM loss. The
step early stopping keeps is the one of the lowest validation loss up to where `patience`
(the default's, `TrainConfig.patience`) evaluations without improvement would have stopped
(`early_stop_index`).
Label-free: only the suite's synthetic densities; deciding nothing by itself.

    cd benchmarks
    OMP_NUM_THREADS=1 nice -n 19 python density_trajectory.py --seed 5 \\
        --cases clusters:16:2000 mfa:64:4000 --out results/density_trajectory_seed5.json
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import time
from collections.abc import Iterator
from pathlib import Path

from common import RESULTS_DIR, new_header, read_json, set_single_thread, write_json
from density_fidelity import draw_case, metrics

import mulde.core.training as training
from mulde import MULDE

PATIENCE: int = training.TrainConfig.patience
"""The default's patience (`mulde.core.training.TrainConfig`), for `early_stop_index`."""


@contextlib.contextmanager
def validated_weights() -> Iterator[list[tuple[dict, float]]]:
    """Within the block, every validation of a fit appends (a copy of the validated weights,
    their validation loss) to the yielded list: `train_energy` validates the weights it would
    keep (the EMA's, with ema_decay) by calling `mulde.core.training._validation_loss`, which
    is wrapped here and restored on leaving."""
    seen: list[tuple[dict, float]] = []
    original = training._validation_loss

    def recording(net, *args, **kwargs):
        loss = original(net, *args, **kwargs)
        seen.append((copy.deepcopy(net.state_dict()), loss))
        return loss

    training._validation_loss = recording
    try:
        yield seen
    finally:
        training._validation_loss = original


def early_stop_index(losses: list[float], patience: int = PATIENCE) -> int:
    """The index of the weights early stopping keeps among validations with these losses:
    the lowest loss seen up to the evaluation after which `patience` evaluations in a row
    did not improve on it (`train_energy`'s rule; the last validation ends it otherwise)."""
    if not losses:
        raise ValueError("no validation losses")
    best, bad = 0, 0
    for i, loss in enumerate(losses):
        if loss < losses[best] or i == 0:
            best, bad = i, 0
        else:
            bad += 1
            if bad >= patience:
                break
    return best


def trajectory(dist_name: str, d: int, n: int, seed: int, **params) -> dict:
    """Fit the default (with `params` changed, e.g. max_steps for a quick check) on the
    case's rows to the step cap and score the weights of every validation: a list of {step,
    val_loss, rho_fresh, rho_broad, far}, and the index early stopping would keep."""
    data = draw_case(dist_name, d, n, seed)
    t0 = time.perf_counter()
    with validated_weights() as seen:
        model = MULDE(random_state=seed, patience=None, **params).fit(data.x)
    fit_s = time.perf_counter() - t0
    every = model.train_result_.history[0]["step"] if model.train_result_.history else 0
    rows = []
    for i, (weights, loss) in enumerate(seen):
        model.network_.load_state_dict(weights)
        model.network_.eval()
        m = metrics(model.anomaly_score(data.x), model.anomaly_score(data.fresh),
                    model.anomaly_score(data.broad), data.nll_fresh, data.nll_broad)
        rows.append({"step": every * (i + 1), "val_loss": loss, **m})
    return {"dist": dist_name, "d": d, "n": n, "seed": seed, "fit_s": fit_s,
            "hidden_sizes": list(model.hidden_sizes_),
            "n_members": model.train_result_.n_members,
            "validation_fraction": model.train_result_.validation_fraction,
            "early_stop_index": early_stop_index([r["val_loss"] for r in rows]),
            "trajectory": rows}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", nargs="+", required=True, metavar="DIST:D:N")
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "density_trajectory.json")
    args = p.parse_args(argv)
    set_single_thread()
    results = read_json(args.out) or new_header("density_trajectory", cases=[])
    for spec in args.cases:
        name, d, n = spec.split(":")
        case = trajectory(name, int(d), int(n), args.seed)
        results["cases"] = [c for c in results["cases"]
                            if (c["dist"], c["d"], c["n"], c["seed"])
                            != (case["dist"], case["d"], case["n"], case["seed"])] + [case]
        kept = case["trajectory"][case["early_stop_index"]]
        print(f"{spec}: early stopping keeps step {kept['step']}: rho_fresh "
              f"{kept['rho_fresh']:.3f}, rho_broad {kept['rho_broad']:.3f}, far "
              f"{kept['far']:.3f}", flush=True)
        write_json(args.out, results)


if __name__ == "__main__":
    main()
