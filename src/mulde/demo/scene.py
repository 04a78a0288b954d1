"""A small synthetic surveillance scene with known anomalies: the built-in demo data set.

One static camera looks down on a park (ground plane, pinhole perspective: objects near the
top of the image are further away, so smaller and slower in pixels). Two one-way walkways:
path "A" crosses the image left to right, path "B" leads away from the camera (bottom to
top). Pedestrians (body, head, swinging legs and arms, some carrying a bag) enter, walk the
walkways in their normal direction at normal speed and leave. Lighting flickers slightly and
every frame carries sensor noise and H.264 compression, so frame differencing is not exact.

Training videos hold only that normal behaviour. Test videos follow `TEST_PLANS` (cycled):
one or two anomaly events each and one video with none. Anomalies:

- ``fast``: a runner or cyclist on a walkway, 3.4-4x the nominal walking speed;
- ``wrong_way``: a walker going against the walkway's direction at normal speed;
- ``object``: a cart driving across the lawn, or a bag that a walker drops and leaves.

A frame is anomalous while an anomalous object is visible (its box overlaps the image by at
least 2x2 pixels). Layout written by `generate_scene` (the "folder" layout):

    out_dir/train/train_01.mp4 ...   normal videos
    out_dir/test/test_01.mp4 ...     test videos
    out_dir/labels.csv               video,start,end: anomalous frame ranges of the test
                                     videos (0-based, inclusive end; video = file stem; a test
                                     video without rows is normal throughout)
    out_dir/scene.json               config, versions and the ground-truth tracks per video

The output is a function of the arguments alone: the same seed gives the same labels and
the same decoded frames (the encoder runs single-threaded).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from statistics import NormalDist
from typing import Any

import av
import cv2
import numpy as np

from mulde.datasets.labels import labels_to_ranges
from mulde.io.atomic import atomic_path, temp_target, write_text

NOMINAL_WALK_SPEED = 1.35
"""Nominal walking speed in m/s; walkers draw theirs from N(1.35, 0.1) clipped to [1.1, 1.6]."""
FAST_FACTOR = (3.4, 4.0)
"""Range of a fast mover's speed as a multiple of `NOMINAL_WALK_SPEED`."""
TEST_PLANS: tuple[tuple[str, ...], ...] = (
    ("fast", "wrong_way"),
    ("vehicle",),
    (),
    ("fast", "bag"),
)
"""Anomaly events of test video i: TEST_PLANS[i % 4]; "vehicle" and "bag" are `object`s."""

_SPLIT_CODES = {"train": 1, "test": 2}
_SHIFT = 4  # cv2 sub-pixel bits
_ONE = 1 << _SHIFT
_AA = cv2.LINE_AA

# World layout in metres: X to the right, Z away from the camera along the ground.
_PATH_A_Z = (14.0, 16.5)  # walkway A: a band of constant depth, walked towards +X
_PATH_B_X = (1.5, 4.0)  # walkway B: a band of constant X, walked towards +Z
_LAWN_NEAR_Z = (10.9, 12.4)  # where the cart drives
_B_NEAR, _B_FAR = 8.3, 25.5  # path B walkers appear/disappear beyond these depths
_TILE = 0.6
_NOISE_LUT = np.array(
    [round(2.0 * NormalDist().inv_cdf((k + 0.5) / 256)) for k in range(256)], dtype=np.int16
)  # a random byte -> sensor noise, N(0, 2^2) rounded to integers


@dataclass(frozen=True)
class _Camera:
    """Pinhole camera over the ground plane: y = y_h + f h / Z, x = W/2 + f X / Z."""

    width: int
    height: int
    cam_height: float = 14.0  # metres; with f and y_h below, the bottom row is 10 m away

    @property
    def f(self) -> float:
        return 1.25 * self.height

    @property
    def y_h(self) -> float:
        return -0.75 * self.height

    def project(self, X: float, Z: float) -> tuple[float, float, float]:
        """Return (x, y, pixels per metre) of the ground point (X, Z)."""
        ppm = self.f / Z
        return self.width / 2 + X * ppm, self.y_h + self.cam_height * ppm, ppm

    def x_range(self, Z: float) -> tuple[float, float]:
        """Return the world X seen at the image's left and right edges at depth Z."""
        half = self.width / 2 * Z / self.f
        return -half, half

    def depth_of_row(self, y: np.ndarray) -> np.ndarray:
        """Return the depth Z of the ground seen at image row y (y below the horizon)."""
        return self.f * self.cam_height / (y - self.y_h)


@dataclass
class _Track:
    """One moving or static thing: world positions for frames t0, t0+1, ... and its looks."""

    kind: str  # walker | runner | cyclist | vehicle | bag
    anomaly: str | None  # None | fast | wrong_way | object
    path: str  # A | B | lawn
    t0: int
    X: np.ndarray
    Z: np.ndarray
    phase: np.ndarray
    size: float  # body height (people), length (vehicle), width (bag), metres
    look: dict[str, Any] = field(default_factory=dict)
    drop_t: int | None = None  # frame after which a carried bag stays on the ground

    def image(self, i: int, cam: _Camera) -> tuple[float, float, float]:
        """Return (x, y, pixels per metre) of the ground point under position i."""
        return cam.project(float(self.X[i]), float(self.Z[i]))

    def at(self, t: int) -> int | None:
        i = t - self.t0
        return i if 0 <= i < len(self.X) else None


# ----------------------------------------------------------------------------------------
# Simulation


def _speed(rng: np.random.Generator) -> float:
    return float(np.clip(rng.normal(NOMINAL_WALK_SPEED, 0.1), 1.1, 1.6))


def _person_look(rng: np.random.Generator, bag_prob: float) -> dict[str, Any]:
    hue = rng.uniform(0, 180)
    shirt = cv2.cvtColor(
        np.uint8([[[hue, rng.uniform(60, 200), rng.uniform(90, 230)]]]), cv2.COLOR_HSV2RGB
    )[0, 0]
    trousers = [(42, 48, 70), (30, 30, 32), (88, 84, 80), (150, 132, 100), (62, 74, 112)]
    skins = [(224, 182, 150), (198, 150, 112), (150, 104, 72), (96, 66, 46), (236, 200, 172)]
    hairs = [(30, 24, 20), (70, 48, 30), (120, 90, 50), (160, 160, 160), (20, 20, 20)]
    bags = [(30, 30, 36), (90, 40, 30), (40, 50, 90), (110, 100, 80)]
    return {
        "shirt": tuple(int(c) for c in shirt),
        "trousers": trousers[rng.integers(len(trousers))],
        "skin": skins[rng.integers(len(skins))],
        "hair": hairs[rng.integers(len(hairs))],
        "bag": bags[rng.integers(len(bags))] if rng.random() < bag_prob else None,
        "girth": float(rng.uniform(0.9, 1.15)),
    }


def _walk(
    rng: np.random.Generator,
    cam: _Camera,
    path: str,
    direction: int,
    t0: int,
    t_end: int,
    speed: float,
    fps: float,
    stride: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (X, Z, gait phase) from frame t0 to t_end along a walkway, entering off-screen."""
    n = max(t_end - t0, 1)
    step = speed / fps
    s = np.arange(n) * step
    wander = 0.12 * np.sin(2 * np.pi * np.arange(n) / rng.uniform(40, 90) + rng.uniform(0, 7))
    if path == "A":
        lane = rng.uniform(_PATH_A_Z[0] + 0.35, _PATH_A_Z[1] - 0.35)
        lo, hi = cam.x_range(_PATH_A_Z[1])
        X = lo - 1.2 + s if direction > 0 else hi + 1.2 - s
        Z = np.clip(lane + wander, *_PATH_A_Z)
        keep = (X > lo - 1.5) & (X < hi + 1.5)
    else:
        lane = rng.uniform(_PATH_B_X[0] + 0.35, _PATH_B_X[1] - 0.35)
        Z = _B_NEAR + s if direction > 0 else _B_FAR - s
        X = np.clip(lane + wander, *_PATH_B_X)
        keep = (Z >= _B_NEAR - 0.01) & (Z <= _B_FAR + 0.01)
    n_keep = int(np.argmin(keep)) if not keep.all() else n
    phase = rng.uniform(0, 2 * np.pi) + 2 * np.pi * s / stride
    return X[:n_keep], Z[:n_keep], phase[:n_keep]


def _person(
    rng: np.random.Generator,
    cam: _Camera,
    *,
    path: str,
    t0: int,
    t_end: int,
    fps: float,
    direction: int = 1,
    kind: str = "walker",
    anomaly: str | None = None,
    speed: float | None = None,
    bag_prob: float = 0.2,
) -> _Track:
    height = float(rng.uniform(1.55, 1.92))
    if speed is None:
        speed = _speed(rng)
    stride = {"walker": 1.45, "runner": 2.6, "cyclist": 4.5}[kind]
    X, Z, phase = _walk(rng, cam, path, direction, t0, t_end, speed, fps, stride)
    look = _person_look(rng, bag_prob if kind == "walker" else 0.0)
    if kind == "cyclist":
        look["frame"] = ((200, 30, 30), (30, 90, 200), (40, 40, 40))[rng.integers(3)]
    return _Track(kind, anomaly, path, t0, X, Z, phase, height, look)


def _normal_walkers(
    rng: np.random.Generator, cam: _Camera, n_frames: int, fps: float
) -> list[_Track]:
    """Walkers entering each walkway as a Poisson stream (a warm-up fills the scene at t=0)."""
    tracks: list[_Track] = []
    for path, mean_gap in (("A", 55.0), ("B", 70.0)):
        t = -int(2.2 * 130 * 10 / fps) + int(rng.integers(0, 30))
        while t < n_frames:
            tracks.append(_person(rng, cam, path=path, t0=t, t_end=n_frames, fps=fps))
            t += int(max(22, rng.exponential(mean_gap) * 10 / fps))
    return tracks


def _event(
    rng: np.random.Generator, cam: _Camera, name: str, t_e: int, n_frames: int, fps: float
) -> list[_Track]:
    """Return the tracks of one anomaly event that starts (enters the image) near frame t_e."""
    if name == "fast":
        kind = "cyclist" if rng.random() < 0.5 else "runner"
        path = "A" if kind == "cyclist" else ("A", "B")[rng.integers(2)]
        speed = NOMINAL_WALK_SPEED * rng.uniform(*FAST_FACTOR)
        return [_person(rng, cam, path=path, t0=t_e, t_end=n_frames, fps=fps, kind=kind,
                        anomaly="fast", speed=speed)]
    if name == "wrong_way":
        path = ("A", "B")[rng.integers(2)]
        return [_person(rng, cam, path=path, t0=t_e, t_end=n_frames, fps=fps, direction=-1,
                        anomaly="wrong_way", bag_prob=0.0)]
    if name == "vehicle":
        direction = 1 if rng.random() < 0.5 else -1
        length = float(rng.uniform(2.4, 2.8))
        speed = float(rng.uniform(2.2, 2.8)) / fps
        lo, hi = cam.x_range(_LAWN_NEAR_Z[1])
        n = n_frames - t_e
        s = np.arange(n) * speed
        X = lo - length / 2 - 0.2 + s if direction > 0 else hi + length / 2 + 0.2 - s
        Z = np.full(n, rng.uniform(*_LAWN_NEAR_Z))
        colours = [(228, 228, 222), (224, 120, 36), (220, 196, 40), (180, 40, 40)]
        look = {"body": colours[rng.integers(len(colours))], "direction": direction}
        return [_Track("vehicle", "object", "lawn", t_e, X, Z, s / 0.3, length, look)]
    if name == "bag":
        path = ("A", "B")[rng.integers(2)]
        speed = _speed(rng)
        # choose the spawn so the carrier reaches a point in view at the drop frame t_e
        if path == "A":
            lo, _ = cam.x_range(_PATH_A_Z[1])
            dist = rng.uniform(0.35, 0.65) * 2 * abs(lo) + 1.2
        else:
            dist = rng.uniform(3.5, 8.0)
        t0 = t_e - int(round(dist / (speed / fps)))
        carrier = _person(rng, cam, path=path, t0=t0, t_end=n_frames, fps=fps, speed=speed,
                          bag_prob=1.0)
        carrier.drop_t = t_e
        i = t_e - t0
        side = 0.35 if path == "A" else -0.45
        bX = carrier.X[i] + (0.0 if path == "A" else side)
        bZ = carrier.Z[i] + (side if path == "A" else 0.0)
        n = n_frames - t_e
        bag = _Track("bag", "object", path, t_e, np.full(n, bX), np.full(n, bZ), np.zeros(n),
                     0.45, {"bag": carrier.look["bag"]})
        return [carrier, bag]
    raise ValueError(f"unknown anomaly event {name!r}")


def _event_times(rng: np.random.Generator, n_events: int, n_frames: int) -> list[int]:
    slots = {1: [(0.2, 0.35)], 2: [(0.04, 0.12), (0.55, 0.62)]}[n_events]
    return [int(rng.uniform(a, b) * n_frames) for a, b in slots]


def _simulate(
    rng: np.random.Generator, cam: _Camera, plan: tuple[str, ...], n_frames: int, fps: float
) -> list[_Track]:
    tracks = _normal_walkers(rng, cam, n_frames, fps)
    if plan:
        for name, t_e in zip(plan, _event_times(rng, len(plan), n_frames), strict=True):
            tracks += _event(rng, cam, name, t_e, n_frames, fps)
    return tracks


# ----------------------------------------------------------------------------------------
# Geometry of a drawn object (shared by drawing, visibility and the ground truth)


def _box(track: _Track, i: int, cam: _Camera) -> tuple[float, float, float, float]:
    """Return the image box (x0, y0, x1, y1) of a track at its i-th position."""
    x, y, ppm = track.image(i, cam)
    s = track.size * ppm
    if track.kind == "vehicle":
        return x - s / 2, y - 0.66 * s, x + s / 2, y + 0.02 * s
    if track.kind == "bag":
        return x - s / 2, y - 0.8 * s, x + s / 2, y + 0.05 * s
    half = 0.58 * s if track.kind == "cyclist" else 0.26 * s
    return x - half, y - 1.02 * s, x + half, y + 0.03 * s


def _visible(box: tuple[float, float, float, float], cam: _Camera) -> bool:
    w = min(box[2], cam.width) - max(box[0], 0.0)
    h = min(box[3], cam.height) - max(box[1], 0.0)
    return w >= 2.0 and h >= 2.0


# ----------------------------------------------------------------------------------------
# Rendering


def _p(x: float, y: float) -> tuple[int, int]:
    return int(round(x * _ONE)), int(round(y * _ONE))


def _line(img: np.ndarray, a: tuple[float, float], b: tuple[float, float], colour: Any,
          width: float) -> None:
    cv2.line(img, _p(*a), _p(*b), colour, max(1, int(round(width))), _AA, _SHIFT)


def _ellipse(img: np.ndarray, c: tuple[float, float], axes: tuple[float, float], colour: Any,
             angle: float = 0.0, start: float = 0.0, end: float = 360.0) -> None:
    ax = (max(1, int(round(axes[0] * _ONE))), max(1, int(round(axes[1] * _ONE))))
    cv2.ellipse(img, _p(*c), ax, angle, start, end, colour, -1, _AA, _SHIFT)


def _shade(colour: Any, k: float) -> tuple[int, int, int]:
    r, g, b = (min(255, max(0, int(c * k))) for c in colour)
    return r, g, b


def _draw_person(img: np.ndarray, tr: _Track, i: int, cam: _Camera, t: int) -> None:
    x, y, ppm = tr.image(i, cam)
    H = tr.size * ppm
    lk = tr.look
    j = min(i + 1, len(tr.X) - 1) if len(tr.X) > 1 else i
    k = max(j - 1, 0)
    x1, y1, _ = tr.image(j, cam)
    x0, y0, _ = tr.image(k, cam)
    norm = math.hypot(x1 - x0, y1 - y0) + 1e-9
    dx, dy = (x1 - x0) / norm, (y1 - y0) / norm
    ph = float(tr.phase[i])
    sw = np.sin(ph)
    if tr.kind == "cyclist":
        _draw_cyclist(img, x, y, H, dx, ph, lk)
        return
    run = tr.kind == "runner"
    amp = 0.27 if run else 0.17
    bob = -(0.035 if run else 0.015) * H * abs(np.cos(ph))
    lean = (0.07 if run else 0.0) * H * dx
    swing = np.array([dx * amp * H, dy * 0.35 * amp * H]) * sw
    sep = np.array([abs(dy) * 0.05 * H + 0.01 * H, 0.0])
    hip = np.array([x + 0.3 * lean, y - 0.48 * H + bob])
    foot = np.array([x, y])
    trousers = lk["trousers"]
    for sgn in (1, -1):
        f = foot + sgn * (swing + sep)
        if run:
            f[1] -= 0.08 * H * max(0.0, sgn * sw)
        _line(img, tuple(hip + sgn * sep * 0.6), tuple(f), _shade(trousers, 1 - 0.15 * (sgn > 0)),
              0.09 * tr.look["girth"] * H)
    girth = tr.look["girth"]
    torso_c = (x + lean, y - 0.66 * H + bob)
    torso_ax = ((0.10 + 0.045 * abs(dy)) * girth * H, 0.2 * H)
    shoulder_y = y - 0.8 * H + bob
    arm_len = (0.2 if run else 0.3) * H
    for sgn in (1, -1):
        sx = x + lean + sgn * (0.03 + 0.09 * abs(dy)) * girth * H
        hand = (sx - sgn * swing[0] * 0.8 + (0.1 * H * dx if run else 0),
                shoulder_y + arm_len - sgn * swing[1] * 0.8)
        if sgn > 0:
            _ellipse(img, torso_c, torso_ax, lk["shirt"], angle=15 * dx if run else 0)
        _line(img, (sx, shoulder_y + 0.03 * H), hand, _shade(lk["shirt"], 0.85), 0.06 * H)
        if sgn < 0 and lk.get("bag") is not None and (tr.drop_t is None or t < tr.drop_t):
            bw = 0.14 * H
            _ellipse(img, (hand[0], hand[1] + 0.05 * H), (bw * 0.55, bw * 0.5), lk["bag"])
    head = (x + 1.3 * lean, y - 0.9 * H + bob)
    r = 0.075 * H
    _ellipse(img, head, (r, r * 1.1), lk["skin"])
    away = dy < -0.5  # seen from behind: all hair
    _ellipse(img, (head[0] - 0.15 * r * dx, head[1] - 0.1 * r), (r * 0.95, r * 0.9),
             lk["hair"], start=180 if not away else 0, end=360)


def _draw_cyclist(img: np.ndarray, x: float, y: float, H: float, dx: float, ph: float,
                  lk: dict[str, Any]) -> None:
    r = 0.2 * H
    wheel_y = y - r
    fw, bw = (x + 0.34 * H * dx, wheel_y), (x - 0.34 * H * dx, wheel_y)
    frame = lk["frame"]
    for c in (fw, bw):
        cv2.circle(img, _p(*c), int(r * _ONE), (25, 25, 25), max(1, int(0.035 * H + 0.5)),
                   _AA, _SHIFT)
    crank = (x, wheel_y)
    seat = (x - 0.12 * H * dx, y - 0.55 * H)
    bars = (x + 0.28 * H * dx, y - 0.62 * H)
    for a, b in ((bw, crank), (crank, seat), (seat, bars), (bars, fw), (bw, seat), (crank, bars)):
        _line(img, a, b, frame, 0.03 * H)
    pedal = np.array([np.cos(ph), np.sin(ph)]) * 0.09 * H
    for sgn in (1, -1):
        knee = (x + 0.05 * H * dx + sgn * pedal[0] * 0.3, y - 0.42 * H + sgn * pedal[1] * 0.5)
        _line(img, seat, knee, lk["trousers"], 0.08 * H)
        _line(img, knee, (crank[0] + sgn * pedal[0], crank[1] + sgn * pedal[1]), lk["trousers"],
              0.07 * H)
    shoulder = (x + 0.14 * H * dx, y - 0.86 * H)
    _line(img, seat, shoulder, lk["shirt"], 0.16 * H)
    _line(img, shoulder, bars, _shade(lk["shirt"], 0.85), 0.05 * H)
    r_h = 0.075 * H
    head = (shoulder[0] + 0.06 * H * dx, shoulder[1] - 0.09 * H)
    _ellipse(img, head, (r_h, r_h * 1.1), lk["skin"])
    _ellipse(img, (head[0], head[1] - 0.2 * r_h), (r_h * 1.1, r_h), (235, 235, 235), start=180,
             end=360)  # helmet


def _draw_vehicle(img: np.ndarray, tr: _Track, i: int, cam: _Camera) -> None:
    x, y, ppm = tr.image(i, cam)
    L = tr.size * ppm
    d = tr.look["direction"]
    body = tr.look["body"]
    r = 0.13 * L
    wy = y - r
    for wx in (x - 0.3 * L, x + 0.3 * L):
        _ellipse(img, (wx, wy), (r, r), (22, 22, 22))
        _ellipse(img, (wx, wy), (0.45 * r, 0.45 * r), (120, 120, 120))
        a = float(tr.phase[i])
        _line(img, (wx, wy), (wx + 0.4 * r * np.cos(a), wy + 0.4 * r * np.sin(a)), (60, 60, 60), 1)
    x0, x1 = x - 0.5 * L, x + 0.5 * L
    cv2.rectangle(img, _p(x0, y - 0.36 * L), _p(x1, y - 0.14 * L), body, -1, _AA, _SHIFT)
    front = x1 if d > 0 else x0
    back = x0 if d > 0 else x1
    # roof on pillars, windscreen towards the front
    roof_y = y - 0.66 * L
    roof_x = sorted((back, front - 0.26 * L * d))
    cv2.rectangle(img, _p(roof_x[0], roof_y - 0.03 * L), _p(roof_x[1], roof_y + 0.02 * L),
                  _shade(body, 0.9), -1, _AA, _SHIFT)
    for px in (back + 0.05 * L * d, front - 0.28 * L * d):
        _line(img, (px, y - 0.36 * L), (px, roof_y), (40, 40, 40), 0.025 * L)
    pts = np.array([_p(front - 0.28 * L * d, roof_y), _p(front - 0.12 * L * d, y - 0.36 * L),
                    _p(front - 0.28 * L * d, y - 0.36 * L)], dtype=np.int32)
    cv2.fillPoly(img, [pts], (150, 190, 210), _AA, _SHIFT)
    _line(img, (x0, y - 0.2 * L), (x1, y - 0.2 * L), _shade(body, 0.7), 0.02 * L)
    seat_x = x - 0.05 * L * d
    cv2.rectangle(img, _p(seat_x - 0.12 * L, y - 0.47 * L), _p(seat_x + 0.12 * L, y - 0.36 * L),
                  (50, 50, 55), -1, _AA, _SHIFT)
    # the driver's head and shoulders
    dxp = seat_x + 0.05 * L * d
    _ellipse(img, (dxp, y - 0.5 * L), (0.06 * L, 0.08 * L), (60, 70, 110))
    _ellipse(img, (dxp, y - 0.6 * L), (0.035 * L, 0.04 * L), (200, 160, 130))
    _ellipse(img, (front - 0.02 * L * d, y - 0.3 * L), (0.02 * L, 0.02 * L), (250, 240, 180))


def _draw_bag(img: np.ndarray, tr: _Track, i: int, cam: _Camera) -> None:
    x, y, ppm = tr.image(i, cam)
    w = tr.size * ppm
    colour = tr.look["bag"]
    cv2.rectangle(img, _p(x - w / 2, y - 0.6 * w), _p(x + w / 2, y), colour, -1, _AA, _SHIFT)
    _line(img, (x - w / 2, y - 0.6 * w), (x + w / 2, y - 0.6 * w), _shade(colour, 1.4), 1)
    cv2.ellipse(img, _p(x, y - 0.6 * w), (int(0.2 * w * _ONE), int(0.2 * w * _ONE)), 0, 180, 360,
                _shade(colour, 0.7), max(1, int(0.06 * w + 0.5)), _AA, _SHIFT)


def _shadow(mask: np.ndarray, tr: _Track, i: int, cam: _Camera) -> None:
    x, y, ppm = tr.image(i, cam)
    s = tr.size * ppm
    if tr.kind == "vehicle":
        _ellipse(mask, (x + 0.08 * s, y), (0.55 * s, 0.1 * s), 255)
    elif tr.kind == "bag":
        _ellipse(mask, (x + 0.2 * s, y), (0.6 * s, 0.15 * s), 255)
    else:
        half = 0.5 if tr.kind == "cyclist" else 0.22
        _ellipse(mask, (x + 0.12 * s, y + 0.01 * s), (half * s, 0.055 * s), 255)


def _draw(img: np.ndarray, tr: _Track, i: int, cam: _Camera, t: int) -> None:
    if tr.kind == "vehicle":
        _draw_vehicle(img, tr, i, cam)
    elif tr.kind == "bag":
        _draw_bag(img, tr, i, cam)
    else:
        _draw_person(img, tr, i, cam, t)


def _noise_field(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> np.ndarray:
    """Smooth noise in [-1, 1]: a coarse random grid resized with bicubic interpolation."""
    h, w = shape
    g = rng.uniform(-1, 1, (max(2, h * cells // w), cells)).astype(np.float32)
    return np.clip(cv2.resize(g, (w, h), interpolation=cv2.INTER_CUBIC), -1, 1)


def _background(cam: _Camera, seed: int) -> np.ndarray:
    """Return the static scene (RGB uint8): lawn, tiled walkways, trees, benches, lamps."""
    rng = np.random.default_rng([seed, 0])
    H, W = cam.height, cam.width
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32) + 0.5
    Z = cam.depth_of_row(ys)
    X = (xs - W / 2) * Z / cam.f
    ppm = cam.f / Z
    # lawn: mowing stripes along X (world), blotches, fine grain
    stripes = np.where(np.floor(X / 1.6) % 2 == 0, 1.0, -1.0)
    lawn = np.array([78, 112, 56], np.float32) * (
        1 + 0.04 * stripes + 0.1 * _noise_field(rng, (H, W), 6) + 0.05 * _noise_field(
            rng, (H, W), 30))[..., None]
    lawn += rng.normal(0, 5, (H, W, 1)).astype(np.float32)
    # walkways: paving with joints every _TILE metres, drawn with pixel-width anti-aliasing
    in_a = (Z >= _PATH_A_Z[0]) & (Z <= _PATH_A_Z[1])
    in_b = (X >= _PATH_B_X[0]) & (X <= _PATH_B_X[1])
    paving = np.array([172, 166, 154], np.float32) * (
        1 + 0.05 * _noise_field(rng, (H, W), 12))[..., None]
    paving += rng.normal(0, 4, (H, W, 1)).astype(np.float32)

    def joint(u: np.ndarray, offset: float) -> np.ndarray:
        dist = np.abs((u - offset + _TILE / 2) % _TILE - _TILE / 2) * ppm
        return np.clip(1 - dist / 0.7, 0, 1)

    joints = np.maximum(joint(X, 0.0), joint(Z, _PATH_A_Z[0]))
    paving *= (1 - 0.22 * joints)[..., None]
    edge = np.zeros((H, W), np.float32)
    for u, lim in ((Z, _PATH_A_Z[0]), (Z, _PATH_A_Z[1]), (X, _PATH_B_X[0]), (X, _PATH_B_X[1])):
        edge = np.maximum(edge, np.clip(1 - np.abs(u - lim) * ppm / 1.0, 0, 1))
    walk = (in_a | in_b).astype(np.float32)
    walk = cv2.GaussianBlur(walk, (3, 3), 0.6)[..., None]
    img = lawn * (1 - walk) + paving * walk
    img *= (1 - 0.3 * edge * (in_a | in_b | (edge > 0)))[..., None]
    # soft shade from the trees and a vignette
    img *= (1 - 0.12 * ((xs - W / 2) ** 2 / (W / 2) ** 2 + (ys - H / 2) ** 2 / (H / 2) ** 2)
            / 2)[..., None]
    # static objects, far to near
    objs = [("bush", -7.4, 19.6), ("bush", 9.0, 20.2), ("bush", -2.6, 21.2), ("bush", 7.0, 12.2),
            ("lamp", -7.0, 16.9), ("lamp", 0.2, 16.9), ("lamp", 7.4, 16.9),
            ("lamp", 4.4, 20.0), ("lamp", 4.4, 11.6),
            ("bench", -5.0, 13.25), ("bench", -1.5, 13.25), ("bench", 6.5, 17.6),
            ("bin", 4.6, 13.6)]
    canvas = np.clip(img, 0, 255).astype(np.uint8)
    shadow = np.zeros((H, W), np.uint8)
    for kind, oX, oZ in objs:
        x, y, p = cam.project(oX, oZ)
        if kind == "bush":
            _ellipse(shadow, (x + 0.7 * p, y + 0.1 * p), (1.5 * p, 0.45 * p), 255)
        elif kind == "lamp":
            _line(shadow, (x, y), (x + 2.2 * p, y + 0.4 * p), 255, 0.12 * p)
        elif kind == "bench":
            _ellipse(shadow, (x + 0.3 * p, y + 0.1 * p), (0.95 * p, 0.25 * p), 255)
        else:
            _ellipse(shadow, (x + 0.25 * p, y + 0.05 * p), (0.35 * p, 0.15 * p), 255)
    canvas = (canvas * (1 - 0.4 * shadow[..., None] / 255.0)).astype(np.uint8)
    for kind, oX, oZ in sorted(objs, key=lambda o: -o[2]):
        x, y, p = cam.project(oX, oZ)
        if kind == "bush":
            for _ in range(9):
                cx = x + rng.uniform(-0.8, 0.8) * p
                rr = rng.uniform(0.45, 0.7) * p
                cy = y - rr - rng.uniform(0.0, 0.5) * p
                leaf = _shade((44, 84, 38), rng.uniform(0.8, 1.2))
                _ellipse(canvas, (cx, cy), (rr, rr * 0.85), leaf)
            _ellipse(canvas, (x - 0.3 * p, y - 1.0 * p), (0.35 * p, 0.25 * p), (72, 118, 56))
        elif kind == "lamp":
            _line(canvas, (x, y), (x, y - 4.0 * p), (58, 60, 66), 0.13 * p)
            _ellipse(canvas, (x, y - 4.05 * p), (0.25 * p, 0.13 * p), (232, 230, 204))
            _ellipse(canvas, (x, y - 4.12 * p), (0.27 * p, 0.08 * p), (50, 52, 58), start=180,
                     end=360)
        elif kind == "bench":
            wood, iron = (122, 86, 52), (45, 45, 48)
            for lx in (-0.7, 0.7):
                _line(canvas, (x + lx * p, y), (x + lx * p, y - 0.9 * p), iron, 0.08 * p)
            cv2.rectangle(canvas, _p(x - 0.85 * p, y - 0.5 * p), _p(x + 0.85 * p, y - 0.4 * p),
                          wood, -1, _AA, _SHIFT)
            cv2.rectangle(canvas, _p(x - 0.85 * p, y - 0.9 * p), _p(x + 0.85 * p, y - 0.65 * p),
                          _shade(wood, 0.85), -1, _AA, _SHIFT)
        else:
            cv2.rectangle(canvas, _p(x - 0.25 * p, y - 0.9 * p), _p(x + 0.25 * p, y),
                          (60, 80, 70), -1, _AA, _SHIFT)
            _line(canvas, (x - 0.27 * p, y - 0.9 * p), (x + 0.27 * p, y - 0.9 * p), (40, 50, 45),
                  0.12 * p)
    cv2.putText(canvas, "CAM 03", (4, 11), cv2.FONT_HERSHEY_PLAIN, 0.7, (235, 235, 235), 1, _AA)
    return canvas


def _render(
    bg: np.ndarray, tracks: list[_Track], n_frames: int, cam: _Camera, rng: np.random.Generator
) -> list[np.ndarray]:
    """Return the RGB uint8 frames: background, shadows, objects far to near, flicker, noise."""
    H, W = cam.height, cam.width
    period = rng.uniform(30, 60)
    offset = rng.uniform(0, 2 * np.pi)
    drift = np.cumsum(rng.normal(0, 0.002, n_frames))
    frames = []
    for t in range(n_frames):
        present = [(tr, i) for tr in tracks if (i := tr.at(t)) is not None]
        present.sort(key=lambda p: -float(p[0].Z[p[1]]))
        shadow = np.zeros((H, W), np.uint8)
        for tr, i in present:
            _shadow(shadow, tr, i, cam)
        shade = cv2.merge([255 - (shadow * 0.35).astype(np.uint8)] * 3)
        img = cv2.multiply(bg, shade, scale=1 / 255)
        for tr, i in present:
            _draw(img, tr, i, cam, t)
        gain = 1 + 0.02 * np.sin(2 * np.pi * t / period + offset) + drift[t]
        noisy = cv2.convertScaleAbs(img, alpha=float(gain)).astype(np.int16)
        noisy += _NOISE_LUT[rng.integers(0, 256, (H, W, 3), dtype=np.uint8)]
        frames.append(np.clip(noisy, 0, 255).astype(np.uint8))
    return frames


# ----------------------------------------------------------------------------------------
# Output


_ENCODER_OPTIONS = {
    # x264's macroblock-tree rate control made identical runs in one process give different
    # bitstreams (about 1 in 5 encodes after other decoding work, measured with PyAV 18 /
    # x264 core 165); without it 70 of 70 repeated encodes were identical.
    "libx264": {"crf": "20", "preset": "veryfast", "x264-params": "mbtree=0"},
    "mpeg4": {"qscale": "3", "flags": "+bitexact"},
}


def video_codec() -> str:
    """Return the encoder used: H.264 (libx264) where PyAV has it, else FFmpeg's MPEG-4."""
    return "libx264" if "libx264" in av.codecs_available else "mpeg4"


def _write_video(path: Path, frames: list[np.ndarray], fps: int) -> None:
    """Encode RGB frames to an MP4 file, reproducibly (`_ENCODER_OPTIONS`, one encoder
    thread), written atomically."""
    codec = video_codec()
    with atomic_path(path) as tmp:
        with av.open(str(tmp), "w", format="mp4") as out:
            stream = out.add_stream(codec, rate=fps)
            stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
            stream.pix_fmt = "yuv420p"
            stream.codec_context.thread_count = 1
            stream.options = _ENCODER_OPTIONS[codec]
            for t, frame in enumerate(frames):
                picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
                picture.pts, picture.time_base = t, Fraction(1, fps)
                out.mux(stream.encode(picture))
            out.mux(stream.encode())


def _track_record(tr: _Track, tid: int, cam: _Camera, n_frames: int) -> dict[str, Any] | None:
    """Return the ground truth of a track over the frames where it is visible, or None."""
    frames, world, foot, boxes = [], [], [], []
    for t in range(max(tr.t0, 0), min(tr.t0 + len(tr.X), n_frames)):
        i = t - tr.t0
        box = _box(tr, i, cam)
        if not _visible(box, cam):
            continue
        x, y, _ = tr.image(i, cam)
        frames.append(t)
        world.append([round(float(tr.X[i]), 3), round(float(tr.Z[i]), 3)])
        foot.append([round(float(x), 2), round(float(y), 2)])
        boxes.append([round(float(v), 2) for v in box])
    if not frames:
        return None
    if frames != list(range(frames[0], frames[-1] + 1)):
        raise AssertionError("a track left the image and came back")  # cannot happen
    return {"id": tid, "kind": tr.kind, "anomaly": tr.anomaly, "path": tr.path,
            "start": frames[0], "end": frames[-1], "world_xz": world, "foot_xy": foot,
            "box": boxes, "size_m": round(tr.size, 3)}


DIGESTS = ".scene-digests.json"
"""The file in a scene's folder naming the SHA-256 of each file `generate_scene` wrote (kept
apart from scene.json, which is the same bytes for the same seed while encoded videos need
not be), by which `check_scene_folder` knows a file edited since."""


def _digest(path: Path) -> str:
    """The SHA-256 of the file at `path` (hex)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_scene_folder(out_dir: str | os.PathLike[str]) -> None:
    """Refuse (ValueError, one line naming the file and what to do) an `out_dir` that
    `generate_scene` may not write into: a file, or a folder holding anything but an
    earlier scene's files (train/train_NN.mp4, test/test_NN.mp4, labels.csv, `DIGESTS` and
    a scene.json of this generator: a JSON object with its config, versions and videos),
    which writing the scene would overwrite or take for the scene's videos, or a scene file
    changed since the scene was written (its SHA-256 not `DIGESTS`' : a user's edited
    labels.csv would be lost). A new or empty folder, or an earlier scene, passes."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: a file, not a folder; give the demo an output folder of "
                         "its own")
    if not out.is_dir() or not any(out.iterdir()):
        return
    try:
        meta = json.loads((out / "scene.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        meta = None
    ours = isinstance(meta, dict) and {"config", "versions", "videos"} <= set(meta)
    for path in sorted(out.rglob("*")):
        rel = path.relative_to(out).as_posix()
        if temp_target(path.name) is not None:  # a killed writer's temp file: its own
            rel = path.with_name(temp_target(path.name)).relative_to(out).as_posix()
        scene_file = (rel in ("train", "test", "labels.csv", "scene.json", DIGESTS)
                      or re.fullmatch(r"(train|test)/\1_\d+\.mp4", rel) is not None)
        if not (ours and scene_file) and path.is_file():
            why = ("not a file of the demo's scene" if ours else
                   "in a folder without the demo's scene.json, so not an earlier demo's")
            raise ValueError(f"{path}: {why}; writing the scene would overwrite it or take it "
                             "for a video: give the demo another output folder (--out), or "
                             "move the file away first")
    try:
        digests = json.loads((out / DIGESTS).read_text(encoding="utf-8")) if ours else {}
    except (OSError, UnicodeDecodeError, ValueError):  # an earlier version's scene: none
        digests = {}
    for rel, digest in (digests.items() if isinstance(digests, dict) else ()):
        path = out / str(rel)
        if path.is_file() and path.parent.resolve().is_relative_to(out.resolve()) \
                and _digest(path) != digest:
            raise ValueError(f"{path}: changed since the demo wrote it; writing the scene "
                             "would overwrite your changes: give the demo another output "
                             "folder (--out), or move the file away first")


def generate_scene(
    out_dir: str | os.PathLike[str],
    *,
    n_train: int = 4,
    n_test: int = 4,
    n_frames: int = 120,
    size: tuple[int, int] = (240, 160),
    fps: int = 10,
    seed: int = 0,
) -> Path:
    """Write the synthetic surveillance data set to `out_dir` and return `out_dir` as a Path.

    Layout and labels are described in the module docstring; `scene.json` holds the config,
    library versions and, per video, the visible frames of every track (kind, anomaly,
    world position in metres, foot point and box in pixels) and the labelled intervals.
    Test video i follows `TEST_PLANS[i % 4]`. `size` is (width, height), both even.
    ValueError before anything is written where `out_dir` holds files not of an earlier
    scene (`check_scene_folder`).
    The defaults (4 + 4 videos of 120 frames, 12 s at 10 fps, 240x160) total 960 frames,
    44% of the test frames anomalous for seed 0, and take about 4 s of one CPU core.
    """
    width, height = size
    check_scene_folder(out_dir)
    if width % 2 or height % 2 or width < 64 or height < 48:
        raise ValueError(f"size must be (width, height), even and at least (64, 48): {size}")
    if n_frames < 10 or n_train < 1 or n_test < 0 or fps < 1:
        raise ValueError("need n_frames >= 10, n_train >= 1, n_test >= 0, fps >= 1: "
                         f"{n_frames}, {n_train}, {n_test}, {fps}")
    out = Path(out_dir)
    cam = _Camera(width, height)
    bg = _background(cam, seed)
    digits = max(2, len(str(max(n_train, n_test))))
    videos: list[dict[str, Any]] = []
    label_rows: list[tuple[str, int, int]] = []
    for split, count in (("train", n_train), ("test", n_test)):
        folder = out / split
        folder.mkdir(parents=True, exist_ok=True)
        names = [f"{split}_{k + 1:0{digits}d}" for k in range(count)]
        for stale in folder.iterdir():  # earlier runs with more videos
            if re.fullmatch(rf"{split}_\d+\.mp4", stale.name) and stale.stem not in names:
                stale.unlink()
        for k, name in enumerate(names):
            rng = np.random.default_rng([seed, _SPLIT_CODES[split], k])
            plan = TEST_PLANS[k % len(TEST_PLANS)] if split == "test" else ()
            tracks = _simulate(rng, cam, plan, n_frames, fps)
            frames = _render(bg, tracks, n_frames, cam, rng)
            _write_video(folder / f"{name}.mp4", frames, fps)
            records = [r for tid, tr in enumerate(tracks)
                       if (r := _track_record(tr, tid, cam, n_frames)) is not None]
            flags = np.zeros(n_frames, bool)
            for r in records:
                if r["anomaly"] is not None:
                    flags[r["start"]:r["end"] + 1] = True
            intervals = labels_to_ranges(flags)
            if split == "test":
                label_rows += [(name, a, b) for a, b in intervals]
            videos.append({"name": name, "split": split, "file": f"{split}/{name}.mp4",
                           "n_frames": n_frames, "plan": list(plan),
                           "anomalous_intervals": [list(iv) for iv in intervals],
                           "tracks": records})
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["video", "start", "end"])
    writer.writerows(label_rows)
    write_text(out / "labels.csv", buf.getvalue())
    from mulde import __version__

    meta = {
        "config": {"n_train": n_train, "n_test": n_test, "n_frames": n_frames,
                   "size": [width, height], "fps": fps, "seed": seed, "codec": video_codec(),
                   "camera": {"f_px": cam.f, "horizon_y": cam.y_h, "height_m": cam.cam_height},
                   "nominal_walk_speed_mps": NOMINAL_WALK_SPEED},
        "versions": {"mulde": __version__, "numpy": np.__version__, "opencv": cv2.__version__,
                     "av": av.__version__},
        "videos": videos,
    }
    write_text(out / "scene.json", json.dumps(meta, separators=(",", ":")))
    written = ["labels.csv", *(v["file"] for v in videos)]
    write_text(out / DIGESTS, json.dumps({rel: _digest(out / rel) for rel in written},
                                         indent=1))
    return out
