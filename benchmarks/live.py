"""Live throughput of `mulde watch` (issue 16): a file streamed as fast as it decodes through
the watch loop (online features, the fitted models, the causal filter, scores.csv), one
thread, at Ped2's resolution, at 640x360 (Avenue) and at 1280x720: with the default
extractor (which works at 240 rows: `max_height_default`), at the source's own rows
(`max_height_None`) and at 360 rows, and 720p at the default on both cores (2 threads for
OpenCV and torch).

Per row: frames/s over the whole loop (decoding included) and without decoding
(features + scoring), the split between features and scoring, and the per-frame latency from
a frame's arrival to its score (median, 95th percentile): in a live stream a frame also
waits for the `flow_baseline` frames after it (2 frames: 80 ms at 25 frames/s), which a
file streamed as fast as possible delivers at once; `live_latency_ms_p50` adds that wait at
25 frames/s. The model of each row: the default extractor (`objects:default`: velocity +
static, regions against the training scene: what `mulde watch` computes exactly as
offline), MULDE with default parameters (seed 0) fitted on the first training frames of the
same dataset at the same resolution. The 720p rows upscale Avenue's 640x360 frames 2x
(bilinear, OpenCV) before encoding a temporary H.264 file: 720p pixels, not 720p detail.
The detector recipe (`objects:detector`: SSD-MobileNet-v2 boxes on every 2nd frame at
600 px input height, velocity + MoveNet pose + EfficientNet-Lite0 appearance) has rows of its
own at Ped2's resolution and at 640x360 (`--rows` picks rows by name).

`cores` is the number of CPU cores the process may use: `mulde watch` decodes in a thread
of its own (`mulde.video.capture.Prefetched`), so "one core" means the process pinned to one
(`taskset -c 0`), decoding included.

    OMP_NUM_THREADS=1 taskset -c 0 python benchmarks/live.py            # one core
    OMP_NUM_THREADS=1 python benchmarks/live.py --rows avenue_720p_max_height_default_threads_2
"""

from __future__ import annotations

import argparse
import itertools
import os
import tempfile
import time
from pathlib import Path

import av
import cv2
from common import DATA_ROOT, RESULTS_DIR, new_header, set_single_thread, write_json

from mulde.vad.ensemble import StreamEnsemble
from mulde.vad.live import LiveScorer
from mulde.video.capture import open_capture
from mulde.video.decode import iter_frames
from mulde.video.features.registry import build_extractor
from mulde.watch import Watcher, WatchOptions


def _write_video(path: Path, frames, fps: int = 25) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _upscaled(frames, factor: int = 2):
    return [cv2.resize(f, (f.shape[1] * factor, f.shape[0] * factor),
                       interpolation=cv2.INTER_LINEAR) for f in frames]


def _row(name: str, train_frames, test_path: Path, max_height: int | None | str, work: Path,
         resolution: str, mulde_params: dict, recipe: str = "objects") -> dict:
    settings = {} if max_height == "default" else {"max_height": max_height}
    if recipe == "objects":
        settings["region_background"] = "scene"  # the default's; explicit for older presets
    extractor = build_extractor(recipe, settings=settings)
    max_height = extractor.max_height
    extractor = extractor.with_scene([train_frames], work / name)
    t0 = time.perf_counter()
    features = extractor.extract(train_frames)
    ensemble = StreamEnsemble("mulde", seed=0, mulde_params=mulde_params).fit(
        {"train": features})
    fit_s = time.perf_counter() - t0
    decode_t0 = time.perf_counter()
    n_decoded = sum(1 for _ in iter_frames(test_path))
    decode_s = time.perf_counter() - decode_t0
    scorer = LiveScorer(extractor, ensemble, 3.0, str(test_path))
    out = work / name / "watch"
    watcher = Watcher(scorer, open_capture(str(test_path)), out,
                      WatchOptions(threshold=1e12), [s.value for s in ensemble.streams],
                      max_height)
    summary = watcher.run()
    n = summary["frames"]
    lat = summary["latency_s"]
    busy = scorer.seconds["features"] + scorer.seconds["scoring"]
    wait_ms = extractor.flow_baseline / 25.0 * 1000
    return {"name": name, "extractor": recipe, "resolution": resolution,
            "max_height": max_height, "frames": n, "train_frames": len(train_frames),
            "fit_seconds": fit_s,
            "frames_per_s": summary["frames_per_s"],
            "frames_per_s_without_decoding": n / busy,
            "decode_frames_per_s": n_decoded / decode_s,
            "seconds_per_frame_ms": {k: v / n * 1000 for k, v in scorer.seconds.items()},
            "latency_ms_p50": lat["p50"] * 1000, "latency_ms_p95": lat["p95"] * 1000,
            "live_latency_ms_p50": lat["p50"] * 1000 + wait_ms,
            "real_time_at_25fps": summary["frames_per_s"] >= 25.0,
            "cores": len(os.sched_getaffinity(0)),
            "objects_per_frame": {s.value: features[s].n_objects / features.n_frames
                                  for s in ensemble.streams}}


def set_threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)
    cv2.setNumThreads(n)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA_ROOT)
    parser.add_argument("--frames", type=int, default=500, help="test frames per row")
    parser.add_argument("--train-frames", type=int, default=300)
    parser.add_argument("--max-steps", type=int, help="MULDE training steps (default: the "
                        "default parameters'; fewer for a quick trial, not for the results)")
    parser.add_argument("--rows", nargs="*", help="only these rows (names as in the JSON)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "live.json")
    args = parser.parse_args()
    set_single_thread()
    ped2 = args.data / "ucsd_ped2"
    avenue = args.data / "avenue"
    if not ped2.is_dir() or not avenue.is_dir():
        print(f"UCSD Ped2 / Avenue not found under {args.data}; set MULDE_DATA")
        return 2
    params = {} if args.max_steps is None else {"max_steps": args.max_steps}

    def wanted(name: str) -> bool:
        return not args.rows or name in args.rows

    rows = []
    with tempfile.TemporaryDirectory(prefix="mulde_live_") as tmp:
        work = Path(tmp)
        # Ped2: training videos 01.. in order, test videos 01.. in order (360x240, 10 fps
        # recordings; measured as frames per second of processing)
        train = list(itertools.islice(itertools.chain.from_iterable(
            iter_frames(p) for p in sorted((ped2 / "training" / "frames").iterdir())),
            args.train_frames))
        test = list(itertools.islice(itertools.chain.from_iterable(
            iter_frames(p) for p in sorted((ped2 / "testing" / "frames").iterdir())),
            args.frames))
        path = _write_video(work / "ped2_test.mp4", test)
        for name, recipe in (("ped2", "objects"), ("ped2_detector", "objects:detector")):
            if wanted(name):
                rows.append(_row(name, train, path, None, work, "360x240", params, recipe))
                print(rows[-1], flush=True)
        # Avenue: training videos 12 and 16 in order, test video 17 (426 frames)
        train = list(itertools.islice(itertools.chain.from_iterable(
            iter_frames(avenue / "training_videos" / f"{v}.avi") for v in ("12", "16")),
            args.train_frames))
        test = list(itertools.islice(iter_frames(avenue / "testing_videos" / "17.avi"),
                                     args.frames))
        path = _write_video(work / "avenue_test.mp4", test)
        for max_height in ("default", None):
            if wanted(f"avenue_max_height_{max_height}"):
                rows.append(_row(f"avenue_max_height_{max_height}", train, path, max_height,
                                 work, "640x360", params))
                print(rows[-1], flush=True)
        if wanted("avenue_detector"):
            rows.append(_row("avenue_detector", train, path, None, work, "640x360", params,
                             "objects:detector"))
            print(rows[-1], flush=True)
        train_hd = _upscaled(train)
        path = _write_video(work / "avenue_720p.mp4", _upscaled(test))
        del test
        for max_height, threads in (("default", 1), ("default", 2), (360, 1), (None, 1),
                                    (None, 2)):
            if not wanted(f"avenue_720p_max_height_{max_height}_threads_{threads}"):
                continue
            set_threads(threads)
            rows.append(_row(f"avenue_720p_max_height_{max_height}_threads_{threads}",
                             train_hd, path, max_height, work,
                             "1280x720 (Avenue upscaled 2x)", params) | {"threads": threads})
            print(rows[-1], flush=True)
        set_threads(1)
    payload = new_header("live", protocol={
        "loop": "mulde.watch.Watcher over a file as fast as it decodes (open_capture without "
                "--realtime), scores.csv written, one thread (torch, OpenCV)",
        "model": "objects:default with region_background=scene; MULDE default parameters, "
                 "seed 0, fitted on the first --train-frames training frames",
        "latency": "from a frame's arrival to its score; live_latency adds the flow window "
                   "(flow_baseline frames at 25 frames/s)"}, rows=rows)
    write_json(args.out, payload)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
