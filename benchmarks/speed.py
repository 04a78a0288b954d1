"""Speed and scale of MULDE on this machine: scoring vs exact kNN, FLOP efficiency, training.

Parts (select with --parts; all write one JSON, default benchmarks/results/speed.json):
  calib    torch fp32 matmul GFLOP/s (square and MULDE-shaped products): the machine's limit
  mulde    MULDE anomaly-score throughput (samples/s) at the default and paper widths, its
           FLOPs and the achieved fraction of same-shape matmuls timed in the same loop
  knn      exact 5-NN index time and query throughput over N_train x d (scikit-learn brute
           and kd-tree, faiss IndexFlatL2 where installed)
  training optimiser steps/s and samples/s of the default and paper presets
  fit      wall seconds of a whole `MULDE.from_preset("default").fit` on 20,000 rows, next to
           the default before issue 15 (GMM aggregate, constant regulariser), alternating
           (`--fit-params JSON`: a candidate setting timed beside them)
  ablation first-layer sharing (net.energy_multiscale vs a loop of net(x, sigma) per level)
           and the single forward pass over [noisy; clean] in the DSM loss (vs two passes)
  members  a training step of the default's ensembles (the pair of 160 x 3 at d 34, eight of
           512 x 256 on quarters at d 512), the members one after another as the library
           trains them vs all at once in batched matrix products (stacked weights)

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/speed.py

--device cuda runs calib, training and fit on a GPU (each timing waits for the GPU's queued
work); the other parts stay on the CPU.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import time
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import torch
from common import (
    RESULTS_DIR,
    command_line,
    new_header,
    read_json,
    set_single_thread,
    validation_draws,
    write_json,
)

from mulde import MULDE
from mulde.core import (
    DSMLoss,
    EnergyEnsemble,
    EnergyMLP,
    NoiseSchedule,
    TrainConfig,
    energy_network,
    multiscale_energy,
    resolve_hidden_sizes,
    train_energy,
)
from mulde.core.training import (
    resolve_ensemble,
    resolve_lr,
    resolve_members,
    widths_for_members,
)

CPU = torch.device("cpu")  # where the parts run unless --device says otherwise
FIT_ROWS = 20_000  # the training rows of `part_fit`, `train_steps_per_s` and the widths below


def widths(preset: str, d: int, n_rows: int = FIT_ROWS) -> tuple[int, ...]:
    """The hidden widths the preset's network has on d features fitted on n_rows rows (the
    default's first layer is max(256, d) wide since issue 15's round 28, with a third layer
    from 50 rows per feature (100 in rounds 41-44; up to 160 features also from 25 on 501
    rows or more since round 58): two networks of three layers of 160 up to 160 features
    (round 43), one of (max(256, d), 256, 256) past them (round 44); the
    paper's 4,096 x 2; the eight networks' later layers 128 wide since round 51:
    `widths_for_members`)."""
    model = MULDE.from_preset(preset)
    return widths_for_members(resolve_hidden_sizes(model.hidden_sizes, d, n_rows),
                              members(preset, d, n_rows), model.hidden_sizes, model.n_members)


N_LEVELS = 16
K = 5
PARTS = ("calib", "mulde", "knn", "training", "ablation", "fit", "members")
# the `default` preset's overrides that give the default before issue 15, and the default of
# issue 15's first round (noise range fixed at [1e-3, 1], 1,000 steps); both had the
# regulariser's beta 0.1 (the default is 0 since round 17: one forward pass less a step),
# linearly spaced levels (log-spaced since round 11), no time-score term (0.25 since round
# 19), lr 1e-3 ("auto" since round 24) and one network on every row ("auto" members since
# rounds 27 and 30), two hidden layers and a tenth of the rows held out (a third layer and a
# fifth from 100 rows per feature since round 41) and patience 5 (3 since round 48), so each
# names them
PREVIOUS_DEFAULT = {"aggregator": "gmm", "beta": 0.1, "regulariser": "constant",
                    "sigma_low_nn": None, "sigma_low": 1e-3, "max_steps": 1000,
                    "spacing": "linear", "time_score": 0.0, "lr": 1e-3,
                    "hidden_sizes": (256, 256), "n_members": 1, "max_samples": 1.0,
                    "validation_fraction": 0.1, "patience": 5, "eval_every": 100,
                    "atom_min_count": None, "reweight": None}
ROUND1_DEFAULT = {"beta": 0.1, "regulariser": "sigma2", "sigma_low_nn": None,
                  "sigma_low": 1e-3, "max_steps": 1000, "spacing": "linear",
                  "time_score": 0.0, "lr": 1e-3, "hidden_sizes": (256, 256),
                  "n_members": 1, "max_samples": 1.0, "validation_fraction": 0.1,
                  "patience": 5, "eval_every": 100, "atom_min_count": None,
                  "reweight": None}


def synchronise(device: torch.device) -> None:
    """Wait for the device's queued work (a CUDA GPU runs it asynchronously), so that a wall
    clock read afterwards includes it; nothing to wait for on a CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def best_time(fn: Callable[[], object], min_total: float = 1.0, max_reps: int = 20,
              device: torch.device = CPU) -> float:
    """Return the fastest of repeated calls of fn (one warm-up call first), in seconds, each
    ended by `synchronise(device)`."""
    t0 = time.perf_counter()
    fn()
    synchronise(device)
    first = time.perf_counter() - t0
    if first > min_total:
        return first
    times = []
    while sum(times) < min_total and len(times) < max_reps:
        t0 = time.perf_counter()
        fn()
        synchronise(device)
        times.append(time.perf_counter() - t0)
    return min(times)


def compare_times(fns: dict[str, Callable[[], object]], min_total: float = 2.0,
                  max_rounds: int = 30) -> dict[str, float]:
    """Return the fastest time of each fn, calling them in alternation (fair under load)."""
    for fn in fns.values():
        fn()
    best = dict.fromkeys(fns, math.inf)
    spent, rounds = 0.0, 0
    while spent < min_total and rounds < max_rounds:
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            dt = time.perf_counter() - t0
            best[name], spent = min(best[name], dt), spent + dt
        rounds += 1
    return best


def mulde_flops(d: int, hidden: tuple[int, ...], n_levels: int = N_LEVELS) -> dict[str, int]:
    """Return the FLOPs per scored sample of EnergyMLP.energy_multiscale (2 per multiply-add).

    shared first layer, once per sample:    2 d H1 + H1                 (W_x x + b)
    per level:                              2 H1                        (+ sigma_l w_sigma)
                                            sum_k (2 H_k H_{k+1} + H_{k+1})  (hidden layers)
                                            2 H_last + 1                (output layer)
    GELU and the (n, L) GMM aggregation are not counted. 'matmul' is the part in products.
    """
    pairs = list(zip(hidden, hidden[1:], strict=False))
    first = 2 * d * hidden[0] + hidden[0]
    per_level = 2 * hidden[0] + sum(2 * a * b + b for a, b in pairs) + 2 * hidden[-1] + 1
    matmul = 2 * d * hidden[0] + n_levels * (sum(2 * a * b for a, b in pairs) + 2 * hidden[-1])
    return {"total": first + n_levels * per_level, "matmul": matmul}


def matmul_gflops(m: int, k: int, n: int, min_total: float = 1.0,
                  device: torch.device = CPU) -> float:
    """Return the fp32 GFLOP/s of torch (m, k) @ (k, n) on the device."""
    a, b = torch.randn(m, k, device=device), torch.randn(k, n, device=device)
    t = best_time(lambda: a @ b, min_total, device=device)
    return 2 * m * k * n / t / 1e9


def part_calib(quick: bool, device: torch.device = CPU) -> dict:
    shapes = {"square_1024": (1024, 1024, 1024), "square_2048": (2048, 2048, 2048),
              "default_hidden (4096*16 x 256 x 256)": (4096 * 16, 256, 256),
              "paper_hidden (256*16 x 4096 x 4096)": (256 * 16, 4096, 4096),
              "paper_first (256 x 512 x 4096)": (256, 512, 4096)}
    if quick:
        shapes = dict(list(shapes.items())[:1])
    out = {name: matmul_gflops(*s, device=device) for name, s in shapes.items()}
    print("calib GFLOP/s", {k: round(v, 1) for k, v in out.items()}, flush=True)
    return {"device": str(device), "gflops": out, "peak_gflops": max(out.values())}


def members(preset: str, d: int, n_rows: int = FIT_ROWS) -> int:
    """The networks the preset's model has on n_rows rows of d Gaussian features (n_members
    "auto": `resolve_members`, the rows spread over all d principal directions: two at d 34
    (round 43's pair, from 50 rows per feature since round 45, and from 25 on 501 rows or
    more since round 58), eight at d 512 and 1,152
    from 20,000 rows); scoring evaluates each of them, and a training step trains each."""
    model = MULDE.from_preset(preset)
    return resolve_members(model.n_members, n_rows, d, d, model.hidden_sizes)


def fitted_mulde(d: int, preset: str) -> MULDE:
    """Return a MULDE of the preset's widths and networks (`widths`, `members`: as fitted on
    `FIT_ROWS` rows) fitted for 1 step on 256 rows (scoring cost needs no training; the
    256 rows would give "auto" other members, so they are set)."""
    rng = np.random.default_rng(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return MULDE.from_preset(preset, max_steps=1, n_epochs=None, batch_size=64,
                                 hidden_sizes=widths(preset, d),
                                 n_members=members(preset, d),
                                 validation_fraction=0.0, patience=None, device="cpu",
                                 random_state=0).fit(rng.standard_normal((256, d)))


def train_steps_per_s(d: int, preset: str, steps: int, n_rows: int = FIT_ROWS,
                      warmup: bool = True, device: torch.device = CPU) -> dict:
    """Time `steps` optimiser steps of the preset (after 1 warm-up step) on random data, the
    networks (every member the preset trains on n_rows rows, on its share of each batch) and
    the rows on `device`."""
    params = MULDE.from_preset(preset).get_params()
    m, share = resolve_ensemble(params["n_members"], params["max_samples"], n_rows, d, d,
                                params["hidden_sizes"])  # as `members` counts them
    hidden = widths_for_members(resolve_hidden_sizes(params["hidden_sizes"], d, n_rows), m,
                                params["hidden_sizes"], params["n_members"])
    net = energy_network(d, hidden, n_members=m).to(device)
    x = torch.randn(n_rows, d, device=device)
    cfg = dict(lr=resolve_lr(params["lr"], n_rows, d), batch_size=params["batch_size"],
               max_samples=share,
               validation_fraction=0.0, patience=None, eval_every=10**9,
               ema_decay=params["ema_decay"], seed=0)
    loss = DSMLoss(params["beta"], params["regulariser"], params["time_score"])
    if warmup:
        train_energy(net, x, NoiseSchedule(), loss, TrainConfig(max_steps=1, **cfg))
    synchronise(device)
    t0 = time.perf_counter()
    train_energy(net, x, NoiseSchedule(), loss, TrainConfig(max_steps=steps, **cfg))
    synchronise(device)
    sec = (time.perf_counter() - t0) / steps
    batch = params["batch_size"]
    return {"preset": preset, "d": d, "device": str(device), "batch_size": batch,
            "n_members": m, "hidden_sizes": list(hidden), "max_samples": cfg["max_samples"],
            "max_steps": params["max_steps"], "steps_timed": steps, "warmup": warmup,
            "s_per_step": sec, "steps_per_s": 1 / sec, "samples_per_s": batch / sec}


def knn_methods() -> dict[str, Callable[[np.ndarray], Callable[[np.ndarray], object]]]:
    """Return {name: build(X_train) -> query(X_q)} for the exact k-NN peers available."""
    from sklearn.neighbors import NearestNeighbors

    def sk(algorithm: str):
        def build(X):
            nn = NearestNeighbors(n_neighbors=K, algorithm=algorithm).fit(X)
            return lambda Q: nn.kneighbors(Q)
        return build

    methods = {"sklearn_brute": sk("brute"), "sklearn_kd_tree": sk("kd_tree")}
    try:
        import faiss

        faiss.omp_set_num_threads(1)

        def build_faiss(X):
            index = faiss.IndexFlatL2(X.shape[1])
            index.add(X)
            return lambda Q: index.search(Q, K)
        methods["faiss_flat"] = build_faiss
    except ImportError:
        pass
    return methods


def skip_reason(method: str, n: int, d: int, max_gb: float) -> str | None:
    """Return why a (method, N_train, d) cell is skipped, or None to run it."""
    if n * d * 4 / 1e9 > max_gb:
        return (f"training matrix {n * d * 4 / 1e9:.1f} GB fp32 > --max-gb {max_gb} "
                "(23 GB machine shared with other jobs)")
    if method == "sklearn_kd_tree" and d > 34 and n > 10_000:
        return ("kd-tree degenerates to a slower-than-brute scan for d >= 512 "
                "(measured at N=1e4) and copies the data to float64")
    return None


def part_mulde(quick: bool, ds: list[int], paper: bool) -> dict:
    """MULDE scoring throughput and FLOP efficiency; independent of N_train (one row per d).

    The machine's limit is measured in the same loop, alternating with the MULDE calls: torch
    matmuls of one network's first two product shapes ((n, d) @ (d, H1) and (n L, H1) @ (H1,
    H2)), a rate in FLOP/s: a third layer's product has the second's shape, and the networks
    of an ensemble repeat the same products.
    """
    rows = []
    for d in ds:
        for preset in ("default", "paper") if paper else ("default",):
            model = fitted_mulde(d, preset)
            n_q = 4096 if preset == "default" else 256
            hidden = widths(preset, d)
            h1, h2 = hidden[:2]  # a third layer's product is the second's shape
            q = np.random.default_rng(1).standard_normal((n_q, d))
            xt = model._to_tensor(q)
            sig = torch.as_tensor(model.sigmas_)
            a1, b1 = torch.randn(n_q, d), torch.randn(d, h1)
            a2, b2 = torch.randn(n_q * N_LEVELS, h1), torch.randn(h1, h2)
            ts = compare_times({"full": lambda m=model, q=q: m.anomaly_score(q),
                                "network": lambda m=model, xt=xt, sig=sig: multiscale_energy(
                                    m.network_, xt, sig),
                                "matmul": lambda a1=a1, b1=b1, a2=a2, b2=b2: (a1 @ b1, a2 @ b2)},
                               1.0 if quick else 6.0, 10)
            t, t_net = ts["full"], ts["network"]
            mm_gflops = 2 * (n_q * d * h1 + n_q * N_LEVELS * h1 * h2) / ts["matmul"] / 1e9
            m = members(preset, d)  # every network of the ensemble is evaluated
            fl = {k: m * v for k, v in mulde_flops(d, hidden).items()}
            row = {"method": f"MULDE_{preset}", "d": d, "n_train": None, "n_query": n_q,
                   "n_members": m, "hidden_sizes": list(hidden),
                   "score_s": t, "samples_per_s": n_q / t, "network_s": t_net,
                   "flops_per_sample": fl["total"], "matmul_flops_per_sample": fl["matmul"],
                   "achieved_gflops": fl["total"] * n_q / t / 1e9,
                   "network_gflops": fl["total"] * n_q / t_net / 1e9,
                   "same_shape_matmul_gflops": mm_gflops}
            row["fraction_of_limit"] = row["achieved_gflops"] / mm_gflops
            row["network_fraction_of_limit"] = row["network_gflops"] / mm_gflops
            rows.append(row)
            print("mulde", {k: (round(v, 4) if isinstance(v, float) else v)
                            for k, v in row.items()}, flush=True)
            del model
    return {"rows": rows}


def part_knn(quick: bool, ns: list[int], ds: list[int], max_gb: float) -> dict:
    """Exact k-NN index time and query throughput over the N_train x d grid."""
    rows, skipped = [], []
    methods = knn_methods()
    for d in ds:
        for n in ns:
            if all(skip_reason(m, n, d, max_gb) for m in methods):
                skipped.append({"n_train": n, "d": d, "method": "all kNN",
                                "why": skip_reason("sklearn_brute", n, d, max_gb)})
                continue
            g = torch.Generator().manual_seed(n + d)
            X = torch.randn(n, d, generator=g).numpy()
            Q = torch.randn(1024, d, generator=g).numpy()
            for name, build in methods.items():
                why = skip_reason(name, n, d, max_gb)
                if why:
                    skipped.append({"n_train": n, "d": d, "method": name, "why": why})
                    continue
                t0 = time.perf_counter()
                query = build(X)
                fit_s = time.perf_counter() - t0
                # probe with 16 queries, then size the timed batch to ~1-2 s (at most 1024)
                t0 = time.perf_counter()
                query(Q[:16])
                probe = time.perf_counter() - t0
                n_q = int(min(1024, max(16, 16 * 1.5 / max(probe, 1e-6))))
                n_q = 2 ** int(math.log2(n_q))
                t = best_time(lambda query=query, q=Q[:n_q]: query(q),
                              0.5 if quick else 1.0, 5)
                row = {"method": name, "d": d, "n_train": n, "n_query": n_q, "fit_s": fit_s,
                       "score_s": t, "samples_per_s": n_q / t}
                rows.append(row)
                print("knn", {k: (round(v, 4) if isinstance(v, float) else v)
                              for k, v in row.items()}, flush=True)
                del query
                gc.collect()
            del X
            gc.collect()
    return {"rows": rows, "skipped": skipped, "k": K}


def part_training(quick: bool, ds: list[int], paper_steps: int,
                  device: torch.device = CPU) -> list[dict]:
    out = []
    for d in ds:
        out.append(train_steps_per_s(d, "default", 5 if quick else 20, device=device))
        print("training", out[-1], flush=True)
    if paper_steps:  # on a GPU the first step's set-up would dominate a few timed ones
        out.append(train_steps_per_s(ds[0], "paper", paper_steps, warmup=device.type != "cpu",
                                     device=device))
        print("training", out[-1], flush=True)
    return out


def part_fit(ds: list[int], rounds: int, n_rows: int = FIT_ROWS,
             device: torch.device = CPU, candidate: dict | None = None) -> list[dict]:
    """Whole-fit wall seconds (training, scoring the training rows, fitting the aggregate) of
    the default preset, the default before issue 15 and the one of its first round,
    alternated `rounds` times, each fitted on `device`; with `candidate` (MULDE parameters
    over the default's, and round 49's "validation_draws", `common.validation_draws`), that
    setting too, its ratio to the default before issue 15, and the steps each setting
    trained (the last round's)."""
    out = []
    settings = (("default", {}), ("previous_default", PREVIOUS_DEFAULT),
                ("round1_default", ROUND1_DEFAULT),
                *((("candidate", candidate),) if candidate else ()))
    for d in ds:
        x = np.random.default_rng(0).standard_normal((n_rows, d))
        # a short fit first, so that no timed one pays the device's start-up (a GPU's)
        MULDE.from_preset("default", random_state=0, device=str(device), max_steps=2).fit(x)
        times: dict[str, list[float]] = {name: [] for name, _ in settings}
        steps: dict[str, list[int]] = {}
        for _ in range(rounds):
            for name, over in settings:
                over = dict(over)
                draws = over.pop("validation_draws", None)  # no MULDE parameter (round 49)
                model = MULDE.from_preset("default", random_state=0, device=str(device),
                                          **over)
                t0 = time.perf_counter()
                with validation_draws(draws):
                    model.fit(x)  # returns numpy results: the device's work is done by then
                times[name].append(time.perf_counter() - t0)
                steps[name] = [model.train_result_.steps, model.train_result_.best_step]
        extra = ({"candidate": candidate, "candidate_steps": steps["candidate"],
                  "default_steps": steps["default"],
                  "candidate_ratio": min(times["candidate"]) / min(times["previous_default"])}
                 if candidate else {})
        out.append({"d": d, "n_rows": n_rows, "device": str(device), "rounds": rounds,
                    **{f"{k}_fit_s": min(v) for k, v in times.items()},
                    "ratio": min(times["default"]) / min(times["previous_default"]),
                    "ratio_round1": min(times["default"]) / min(times["round1_default"]),
                    **extra})
        print("fit", out[-1], flush=True)
    return out


class TwoPassLoss(DSMLoss):
    """The DSM loss with separate forward passes for the noisy and the clean batch (before)."""

    def __call__(self, net, x, sigma, eps, create_graph=True):
        x_noisy = (x + sigma * eps).requires_grad_(True)
        with torch.enable_grad():
            f_noisy = net(x_noisy, sigma)
            (grad,) = torch.autograd.grad(f_noisy.sum(), x_noisy, create_graph=create_graph)
        f_clean = net(x, sigma)
        loss = 0.5 * (eps - sigma * grad).pow(2).sum(dim=1) + 0.5 * self.beta * f_clean.pow(2)
        return loss.mean()


def part_ablation(quick: bool, ds: list[int], paper: bool) -> dict:
    sharing = []
    sigmas = NoiseSchedule().grid(N_LEVELS)
    for preset in ("default", "paper") if paper else ("default",):
        for d in ds:
            torch.manual_seed(0)
            net = EnergyMLP(d, widths(preset, d)).eval()
            n = 2048 if preset == "default" else 128
            x = torch.randn(n, d)
            with torch.no_grad():
                shared = net.energy_multiscale(x, sigmas)
                loop = torch.stack([net(x, s.expand(n)) for s in sigmas], dim=1)
                ts = compare_times({
                    "shared": lambda net=net, x=x: net.energy_multiscale(x, sigmas),
                    "loop": lambda net=net, x=x, n=n: torch.stack(
                        [net(x, s.expand(n)) for s in sigmas], dim=1)},
                    1.0 if quick else 4.0)
                t_shared, t_loop = ts["shared"], ts["loop"]
            sharing.append({"preset": preset, "d": d, "n": n, "shared_s": t_shared,
                            "loop_s": t_loop, "speedup": t_loop / t_shared,
                            "max_abs_diff": float((shared - loop).abs().max())})
            print("sharing", sharing[-1], flush=True)
    chunks = []
    for preset in ("default", "paper") if paper else ("default",):
        d = ds[0]
        torch.manual_seed(0)
        net = EnergyMLP(d, widths(preset, d)).eval()
        n = 8192 if preset == "default" else 512
        x = torch.randn(n, d)
        sizes = (128, 512, 2048, 8192) if preset == "default" else (32, 128, 512)
        ts = compare_times({str(b): partial(multiscale_energy, net, x, sigmas, b) for b in sizes},
                           1.0 if quick else 4.0, 10)
        chunks.append({"preset": preset, "d": d, "n": n,
                       "samples_per_s": {b: n / t for b, t in ts.items()}})
        print("chunk", chunks[-1], flush=True)
    loss_rows = []
    for d in ds[:2]:
        torch.manual_seed(0)
        net = EnergyMLP(d, widths("default", d))
        x, eps = torch.randn(1024, d), torch.randn(1024, d)
        sigma = NoiseSchedule().sample(1024, torch.Generator().manual_seed(0))
        def step(fn, net=net, x=x, sigma=sigma, eps=eps):
            net.zero_grad(set_to_none=True)
            fn(net, x, sigma, eps).backward()
        one, two = DSMLoss(0.1), TwoPassLoss(0.1)
        res = compare_times({"one_pass": partial(step, one), "two_pass": partial(step, two)},
                            1.0 if quick else 4.0)
        same = abs(DSMLoss(0.1)(net, x, sigma, eps).item() -
                   TwoPassLoss(0.1)(net, x, sigma, eps).item())
        loss_rows.append({"d": d, "one_pass_s": res["one_pass"], "two_pass_s": res["two_pass"],
                          "speedup": res["two_pass"] / res["one_pass"], "loss_abs_diff": same})
        print("loss", loss_rows[-1], flush=True)
    return {"sharing": sharing, "scoring_batch_size": chunks, "dsm_loss_passes": loss_rows}


def batched_members_loss(net: EnergyEnsemble, x: torch.Tensor, sigma: torch.Tensor,
                         eps: torch.Tensor, rows: torch.Tensor | None, time_score: float
                         ) -> torch.Tensor:
    """`DSMLoss(beta=0, time_score=...)` of an `EnergyEnsemble` of raw-sigma MLPs computed
    for all members at once: their weights stacked, each layer one `torch.baddbmm`. With
    `rows` (n, M) each member takes its bag's rows of the batch, padded to the largest bag and
    masked; without, every member takes every row. The same loss as the library's loop over
    the members (to float32 rounding), for timing the two."""
    members = net.members
    m = len(members)
    if rows is None:
        xs, e, s = (v.unsqueeze(0).expand(m, -1, -1) for v in (x, eps, sigma))
        mask = None
    else:
        k = int(rows.sum(0).max())
        order = torch.argsort((~rows).int(), dim=0, stable=True)[:k].T  # (M, k) bag rows first
        mask = torch.gather(rows.T, 1, order).float()
        xs, e, s = x[order], eps[order], sigma[order]
    noisy = (xs + s * e).requires_grad_(True)
    level = s.clone().requires_grad_(True)
    h = torch.cat([noisy, level], dim=2)
    layers = [[mb.first] + [mod for mod in mb.rest if isinstance(mod, torch.nn.Linear)]
              for mb in members]
    for i in range(len(layers[0])):
        if i:
            h = torch.nn.functional.gelu(h)
        weight = torch.stack([ls[i].weight for ls in layers])
        bias = torch.stack([ls[i].bias for ls in layers])
        h = torch.baddbmm(bias.unsqueeze(1), h, weight.transpose(1, 2))
    f = h.squeeze(2)
    grad, grad_sigma = torch.autograd.grad(f.sum(), (noisy, level), create_graph=True)
    d = x.shape[1]
    loss = 0.5 * (e - s * grad).pow(2).sum(dim=2)
    residual = (s * grad_sigma).squeeze(2) + e.pow(2).sum(dim=2) - d
    loss = loss + 0.25 * time_score / d * residual.pow(2)
    if mask is None:
        return loss.mean()
    return ((loss * mask).sum(1) / mask.sum(1)).mean()


def part_members(quick: bool) -> dict:
    """Seconds per training step (forward, double backward, Adam) of the default's two
    ensembles, looped (the library) and batched (`batched_members_loss`), timed alternately
    on the same batch; and the two losses' difference on it."""
    rows_out = []
    shapes = (("pair, d 34", 34, (160, 160, 160), 2, 1.0),
              ("eight on quarters, d 512", 512, (512, 256), 8, 0.25))
    for name, d, hidden, n_members, share in shapes:
        torch.manual_seed(0)
        net = energy_network(d, hidden, n_members=n_members)
        opt = torch.optim.Adam(net.parameters(), 1e-3)
        g = torch.Generator().manual_seed(0)
        x, eps = torch.randn(1024, d, generator=g), torch.randn(1024, d, generator=g)
        sigma = NoiseSchedule().sample(1024, g)
        rows = None if share >= 1 else torch.rand(1024, n_members, generator=g) < share
        loss_fn = DSMLoss(0.0, "sigma2", 0.25)

        def looped(net=net, x=x, sigma=sigma, eps=eps, rows=rows, loss_fn=loss_fn):
            return loss_fn(net, x, sigma, eps, rows=rows)

        def batched(net=net, x=x, sigma=sigma, eps=eps, rows=rows):
            return batched_members_loss(net, x, sigma, eps, rows, 0.25)

        def step(fn, opt=opt):
            opt.zero_grad(set_to_none=True)
            fn().backward()
            opt.step()

        diff = abs(looped().item() - batched().item())
        ts = compare_times({"looped": partial(step, looped), "batched": partial(step, batched)},
                           2.0 if quick else 10.0, 60)
        rows_out.append({"ensemble": name, "d": d, "hidden": list(hidden),
                         "members": n_members, "share": share, "batch": 1024,
                         "looped_s": ts["looped"], "batched_s": ts["batched"],
                         "speedup": ts["looped"] / ts["batched"], "loss_abs_diff": diff})
        print("members", rows_out[-1], flush=True)
    return {"steps": rows_out}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--parts", nargs="*", default=list(PARTS), choices=PARTS)
    p.add_argument("--update", action="store_true",
                   help="keep the other parts already in the output JSON (re-run only --parts)")
    p.add_argument("--n-train", nargs="*", type=int, default=[10_000, 100_000, 1_000_000])
    p.add_argument("--dims", nargs="*", type=int, default=[34, 512, 1152])
    p.add_argument("--fit-rows", type=int, default=FIT_ROWS,
                   help="training rows of the `fit` part (default 20,000: where the rows are "
                        "many per feature; fewer time the rules for fewer)")
    p.add_argument("--fit-params", type=json.loads, default=None,
                   help="the `fit` part also times this candidate, MULDE parameters over the "
                        "default's in JSON (e.g. '{\"n_members\": 4}'), beside the others")
    p.add_argument("--max-gb", type=float, default=2.5,
                   help="skip kNN cells whose fp32 training matrix exceeds this size")
    p.add_argument("--no-paper", action="store_true", help="skip the width-4096 measurements")
    p.add_argument("--paper-train-steps", type=int, default=2,
                   help="paper-width optimiser steps timed (no warm-up; ~30 s each on 1 core)")
    p.add_argument("--quick", action="store_true",
                   help="N_train 1e4, d 34 and 512, no paper width (writes speed_quick.json)")
    p.add_argument("--device", default="cpu",
                   help="where the calib, training and fit parts run (cpu, cuda, cuda:N, mps); "
                        "the other parts stay on the CPU")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    device = torch.device(args.device)
    if args.quick:
        args.n_train, args.dims, args.no_paper = [10_000], [34, 512], True
    out = args.out or RESULTS_DIR / ("speed_quick.json" if args.quick else "speed.json")
    set_single_thread()
    res = read_json(out) if args.update else None
    if res is None:
        res = new_header("speed", n_train=args.n_train, dims=args.dims, quick=args.quick)
    else:  # the parts measured now say on which machine, where it may not be the header's
        res["commands"].append(command_line())
        machine = new_header("speed")["machine"]
        res.setdefault("part_machines", {}).update(dict.fromkeys(args.parts, machine))
    if "calib" in args.parts:
        res["calib"] = part_calib(args.quick, device)
        write_json(out, res)
    if "mulde" in args.parts:
        res["mulde"] = part_mulde(args.quick, args.dims, not args.no_paper)
        write_json(out, res)
    if "knn" in args.parts:
        res["knn"] = part_knn(args.quick, args.n_train, args.dims, args.max_gb)
        write_json(out, res)
    if "training" in args.parts:
        res["training"] = part_training(args.quick, args.dims[:2],
                                        0 if args.no_paper else args.paper_train_steps, device)
        write_json(out, res)
    if "ablation" in args.parts:
        res["ablation"] = part_ablation(args.quick, args.dims, not args.no_paper)
        write_json(out, res)
    if "members" in args.parts:
        res["members"] = part_members(args.quick)
        write_json(out, res)
    if "fit" in args.parts:
        res["fit"] = part_fit(args.dims[:2], 1 if args.quick else 2, args.fit_rows, device,
                              args.fit_params)
        write_json(out, res)


if __name__ == "__main__":
    main()
