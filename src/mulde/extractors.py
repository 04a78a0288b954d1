"""Feature extractors by name, for the command line and the pipeline.

`objects` is the object-centric default (`objects:default`), `objects:<preset>` one of
`mulde.video.features.PRESETS` (e.g. `objects:ped2`), `frames` the
frame-centric window embedding (`frames:hiera` with a local Hiera checkpoint).
"""

from __future__ import annotations

from mulde.video.cache import Extractor


def extractor_names() -> list[str]:
    """Return the names `build_extractor` accepts."""
    from mulde.video.features import PRESETS

    return ["objects", *(f"objects:{p}" for p in PRESETS), "frames", "frames:hiera"]


def build_extractor(name: str, weights_path: str | None = None, boxes_dir: str | None = None,
                    min_box_score: float = 0.0) -> Extractor:
    """Return the extractor called `name`; `weights_path` is a local backbone checkpoint;
    `boxes_dir` (object extractors only) a folder of detector boxes that replace the
    foreground regions (`mulde.video.features.detections`)."""
    from mulde.video.features import PRESETS, FrameCentricExtractor

    kind, _, preset = name.partition(":")
    if kind == "objects" and (not preset or preset in PRESETS):
        import dataclasses

        boxes = ({"regions": "boxes", "boxes_dir": str(boxes_dir),
                  "min_box_score": min_box_score} if boxes_dir is not None else {})
        return dataclasses.replace(PRESETS[preset or "default"], weights_path=weights_path,
                                   **boxes)
    if boxes_dir is not None:
        raise ValueError(f"detector boxes apply to the object extractors, not {name!r}")
    if kind == "frames" and preset in ("", "hiera"):
        return FrameCentricExtractor(backbone=preset or "efficientnet-lite0",
                                     weights_path=weights_path)
    raise ValueError(f"unknown extractor {name!r}; choose from {', '.join(extractor_names())}")
