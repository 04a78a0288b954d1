"""The sizing table of docs/scaling.md: hours of feature extraction per benchmark on N cores,
computed from the per-core throughput measured on UCSD Ped2 (benchmarks/video_stages.py ->
benchmarks/results/video_stages.json, one thread, CPU).

Assumptions, printed with the table: the extractors' cost per frame grows with the pixel
count (dense optical flow and the foreground regions dominate the object extractor: 80% of
its time on Ped2), so frames/s at another resolution = Ped2's x (Ped2's pixels / its pixels);
the appearance stream's cost grows with the objects per frame instead and is kept at Ped2's
rate (a lower bound on the hours for busier scenes); N cores run N workers at the
per-core rate (perfect scaling: see benchmarks/ray_scaling.py for the measured factor).

    python benchmarks/sizing.py
"""

from __future__ import annotations

import json

from common import RESULTS_DIR

# train + test frames and frame size (width x height) of the full benchmarks
DATASETS = {
    "UCSD Ped2": (2_550 + 2_010, 360 * 240),
    "CUHK Avenue": (15_328 + 15_324, 640 * 360),
    "ShanghaiTech": (274_515 + 40_791, 856 * 480),
    "UCF-Crime": (13_800_000, 320 * 240),  # 1,900 videos, about 128 h at 30 frames/s
}
PED2_PIXELS = 360 * 240
CORES = (1, 16, 64)


def table(stages: dict) -> str:
    configs = stages["configs"]
    rows = ["| extractor | frames/s per core on Ped2 | dataset | frames | "
            + " | ".join(f"hours on {n} core{'s' * (n > 1)}" for n in CORES) + " |",
            "| --- | ---: | --- | ---: | " + " | ".join("---:" for _ in CORES) + " |"]
    for name, cfg in configs.items():
        fps = cfg["extraction_frames_per_s"]
        seconds = cfg["extraction_seconds"]
        pixel_bound = sum(v for k, v in seconds.items() if k != "appearance")
        share = pixel_bound / sum(seconds.values())
        for dataset, (frames, pixels) in DATASETS.items():
            # seconds per frame: the pixel-bound share scales with pixels, the rest does not
            spf = (share * pixels / PED2_PIXELS + (1 - share)) / fps
            hours = [frames * spf / n / 3600 for n in CORES]
            rows.append(f"| {name} | {fps:.1f} | {dataset} | {frames:,} | "
                        + " | ".join(f"{h:,.2f}" if h < 10 else f"{h:,.0f}" for h in hours) + " |")
    return "\n".join(rows)


def main() -> None:
    stages = json.loads((RESULTS_DIR / "video_stages.json").read_text())
    print(table(stages))
    print(f"\nmeasured {stages['created']} on {stages['machine']['cpu']} "
          f"({stages['machine']['cpu_count']} cores, load {stages['machine']['loadavg_at_start']}),"
          f" threads {stages['threads']}: {'; '.join(stages['commands'])}")


if __name__ == "__main__":
    main()
