"""Dense optical flow (OpenCV DIS) over a centred temporal baseline."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from enum import Enum

import cv2
import numpy as np


class FlowPreset(str, Enum):
    """OpenCV DIS presets, fastest first. Medium (OpenCV 4): 8 px patches every 3 px, finest
    pyramid scale 1, i.e. the flow is estimated at half resolution and upsampled; fine: medium
    at full resolution (finest scale 0; about 4x slower), for objects a few patches wide."""

    ULTRAFAST = "ultrafast"
    FAST = "fast"
    MEDIUM = "medium"
    FINE = "fine"


_PRESETS = {FlowPreset.ULTRAFAST: cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
            FlowPreset.FAST: cv2.DISOPTICAL_FLOW_PRESET_FAST,
            FlowPreset.MEDIUM: cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
            FlowPreset.FINE: cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}


def dis_flow(preset: FlowPreset | str = FlowPreset.MEDIUM) -> cv2.DISOpticalFlow:
    """Return a fresh OpenCV DIS optical-flow object for the preset."""
    preset = FlowPreset(preset)
    dis = cv2.DISOpticalFlow_create(_PRESETS[preset])
    if preset is FlowPreset.FINE:
        dis.setFinestScale(0)
    return dis


def centred_flows(grays: Sequence[np.ndarray], baseline: int = 2,
                  preset: FlowPreset | str = FlowPreset.MEDIUM) -> Iterator[np.ndarray]:
    """Yield one float32 (H, W, 2) flow (dx, dy) in pixels per frame for each frame t.

    Flow t is DIS(frame t0 -> frame t1) / (t1 - t0) with t0 = max(0, t - baseline) and
    t1 = min(n - 1, t + baseline): the mean velocity over a window centred on t, shortened at
    the ends of the video, so every frame, the first and last included, gets a flow. A longer
    baseline averages out gait jitter and flow noise. A one-frame video gets zero flow.
    """
    if baseline < 1:
        raise ValueError(f"baseline must be >= 1 frame, got {baseline}")
    n = len(grays)
    dis = dis_flow(preset)
    for t in range(n):
        t0, t1 = max(0, t - baseline), min(n - 1, t + baseline)
        if t1 == t0:
            yield np.zeros((*grays[t].shape, 2), np.float32)
            continue
        yield dis.calc(grays[t0], grays[t1], None) / np.float32(t1 - t0)
