"""Protocol: smoothing, object -> frame scores, calibration, fusion, the metrics dict."""

from __future__ import annotations

import dataclasses
import json
import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mulde.evaluation import (
    Calibration,
    EvaluationError,
    EvaluationProtocol,
    average_precision,
    compute_metrics,
    equal_error_rate,
    fuse,
    macro_auc,
    micro_auc,
    objects_to_frames,
    smooth,
)

# normalised weights of a sigma=1 Gaussian kernel truncated at 4 sigma (scipy's default)
W = [math.exp(-(k**2) / 2) for k in range(5)]
W0 = 1 / (W[0] + 2 * sum(W[1:]))  # 0.398942...


# ----------------------------------------------------------------------------- smoothing


def test_smooth_sigma_zero_is_identity_copy():
    x = np.array([3, 1, 4, 1, 5], dtype=np.int64)
    out = smooth(x, 0)
    np.testing.assert_array_equal(out, x)
    assert out.dtype == np.float64
    out[0] = 99
    assert x[0] == 3


def test_smooth_impulse_hand_computed():
    out = smooth([0, 0, 0, 0, 1, 0, 0, 0, 0], 1.0)
    assert out[4] == pytest.approx(W0)
    assert out[3] == pytest.approx(W0 * W[1])
    assert out[2] == pytest.approx(W0 * W[2])


def test_smooth_reflect_boundary_hand_computed():
    # mode "reflect" extends [1, 0, 0, ...] as [..., 0, 1 | 1, 0, ...]: out[0] = w0 + w1
    x = np.zeros(12)
    x[0] = 1
    assert smooth(x, 1.0)[0] == pytest.approx(W0 * (W[0] + W[1]))  # 0.640913
    # "nearest" repeats the edge value: out[0] = w0 + w1 + w2 + w3 + w4
    assert smooth(x, 1.0, mode="nearest")[0] == pytest.approx(W0 * sum(W))


def test_smooth_truncate_hand_computed():
    # truncate 1 at sigma 1: a 3-tap kernel [w1, 1, w1] / (1 + 2 w1), w1 = exp(-1/2)
    w1 = math.exp(-0.5)
    expected = np.array([0, 0, 0, w1, 1, w1, 0, 0, 0]) / (1 + 2 * w1)
    impulse = [0, 0, 0, 0, 1, 0, 0, 0, 0]
    np.testing.assert_allclose(smooth(impulse, 1.0, truncate=1.0), expected, atol=1e-15)
    protocol = EvaluationProtocol(smoothing_sigma=1.0, smoothing_truncate=1.0)
    np.testing.assert_allclose(protocol.smooth(impulse), expected, atol=1e-15)
    # scipy's radius is int(truncate * sigma + 0.5): 0 taps each side at truncate 0.4
    np.testing.assert_array_equal(smooth(impulse, 1.0, truncate=0.4), impulse)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"sigma": -1}, "smoothing sigma must be finite and >= 0, got -1"),
    ({"sigma": float("nan")}, "smoothing sigma must be finite and >= 0, got nan"),
    ({"sigma": 1, "mode": "edge"}, "smoothing mode 'edge' is not one of"),
    ({"sigma": 1, "truncate": 0.0}, "smoothing truncate must be finite and > 0, got 0.0"),
    ({"sigma": 1, "truncate": -2.0}, "smoothing truncate must be finite and > 0, got -2.0"),
    ({"sigma": 1, "truncate": math.inf}, "smoothing truncate must be finite and > 0, got inf"),
])
def test_smooth_rejects_bad_settings(kwargs, message):
    with pytest.raises(EvaluationError, match="^" + re.escape(message)):
        smooth([1.0, 2.0], **kwargs)
    with pytest.raises(EvaluationError, match="1-D"):
        smooth(np.zeros((2, 2)), 1)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-1e3, 1e3, allow_subnormal=False), min_size=1, max_size=60),
    st.floats(0.1, 20),
)
def test_smooth_reflect_preserves_sum_and_constants(xs, sigma):
    # true for mode "reflect" (its filter matrix is symmetric with unit row sums), not "nearest"
    x = np.array(xs)
    assert smooth(x, sigma).sum() == pytest.approx(x.sum(), abs=1e-8 * (1 + np.abs(x).sum()))
    np.testing.assert_allclose(smooth(np.full_like(x, xs[0]), sigma), xs[0], rtol=1e-12)


# ----------------------------------------------------------------------------- object -> frame


def test_objects_to_frames_max_and_empty_fill():
    out = objects_to_frames([1.0, 5.0, 2.0, 7.0, -3.0], [0, 0, 2, 2, 4], 5, empty=-10.0)
    np.testing.assert_array_equal(out, [5.0, -10.0, 7.0, -10.0, -3.0])


def test_objects_to_frames_empty_frames_raise_by_default():
    with pytest.raises(EvaluationError, match=r"2 frame\(s\) have no object, first frame 1; "
                       "pass empty=<score> to give them a score$"):
        objects_to_frames([1.0, 2.0], [0, 2], 4)
    with pytest.raises(EvaluationError, match="^empty-frame score must be finite, got nan$"):
        objects_to_frames([1.0, 2.0], [0, 2], 4, empty=np.nan)
    # no objects at all: every frame gets the fill
    np.testing.assert_array_equal(objects_to_frames([], np.array([], int), 3, empty=0.5), 0.5)


def test_objects_to_frames_bad_inputs():
    with pytest.raises(EvaluationError, match=r"object 1: frame index 3 outside \[0, 2\]"):
        objects_to_frames([1.0, 2.0], [0, 3], 3)
    with pytest.raises(EvaluationError, match=r"object 1 \(frame 2\): score is nan"):
        objects_to_frames([1.0, np.nan], [0, 2], 3)
    with pytest.raises(EvaluationError, match="integers"):
        objects_to_frames([1.0], [0.0], 1)
    with pytest.raises(EvaluationError, match="equal length"):
        objects_to_frames([1.0, 2.0], [0], 1)
    with pytest.raises(EvaluationError, match="^n_frames must be >= 1, got 0$"):
        objects_to_frames([1.0], [0], 0)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_objects_to_frames_matches_brute_force(data):
    n = data.draw(st.integers(1, 10))
    idx = data.draw(st.lists(st.integers(0, n - 1), max_size=30))
    s = data.draw(st.lists(st.floats(-1e6, 1e6), min_size=len(idx), max_size=len(idx)))
    out = objects_to_frames(s, np.array(idx, dtype=int), n, empty=-7.0)
    for f in range(n):
        mine = [v for v, i in zip(s, idx, strict=True) if i == f]
        assert out[f] == (max(mine) if mine else -7.0)


# ----------------------------------------------------------------------------- calibration


def test_calibration_maps_min_to_0_and_p999_to_1():
    train = np.arange(1001.0)  # 0..1000: min 0, 99.9th percentile (linear) = 999
    cal = Calibration.fit(train)
    assert (cal.low, cal.percentile) == (0.0, 99.9)
    assert cal.high == pytest.approx(999.0)
    np.testing.assert_allclose(cal.transform([0.0, 999.0, 499.5, 1998.0]), [0, 1, 0.5, 2])
    assert cal.transform(train.min()) == 0.0
    assert cal.transform(np.percentile(train, 99.9)) == pytest.approx(1.0, abs=1e-15)


def test_calibration_dict_round_trip_and_frozen():
    cal = Calibration.fit([2.0, 4.0, 6.0, 10.0], percentile=50)
    assert (cal.low, cal.high) == (2.0, 5.0)
    d = json.loads(json.dumps(cal.to_dict()))
    assert Calibration.from_dict(d) == cal
    with pytest.raises(dataclasses.FrozenInstanceError):
        cal.low = 0.0  # type: ignore[misc]
    with pytest.raises(EvaluationError, match="lacks field 'high'"):
        Calibration.from_dict({"low": 0.0, "percentile": 99.9})
    assert cal.percentile == 50.0 and Calibration.fit([2.0, 4.0], percentile=100).high == 4.0


@pytest.mark.parametrize("percentile", [0, -1, 100.5])
def test_calibration_percentile_outside_0_100_is_refused(percentile):
    with pytest.raises(EvaluationError, match=re.escape(
            f"calibration percentile must be in (0, 100], got {percentile}")):
        Calibration.fit([1.0, 2.0], percentile=percentile)
    assert Calibration.fit([0.0, 1.0, 2.0], percentile=0.5).high == pytest.approx(0.01)


def test_calibration_spread_threshold_is_1e_12_relative_to_max_1_and_low():
    assert Calibration.fit([0.0, 0.5], percentile=100).high == 0.5  # small but real spreads
    assert Calibration(low=0.0, high=1.5e-12).high == 1.5e-12  # above 1e-12 * max(1, 0)
    for low, high in ((0.0, 1e-12), (1e6, 1e6 + 1e-7), (-1e6, -1e6 + 1e-7)):
        with pytest.raises(EvaluationError, match="apart by more than rounding"):
            Calibration(low=low, high=high)
    assert Calibration(low=1e6, high=1e6 + 1e-5).high == 1e6 + 1e-5
    for low, high in ((0.0, math.inf), (-math.inf, 0.0), (0.0, math.nan)):
        with pytest.raises(EvaluationError, match="finite low < high"):
            Calibration(low=low, high=high)


def test_calibration_degenerate_inputs():
    with pytest.raises(EvaluationError, match="constant"):
        Calibration.fit([3.0] * 10)
    with pytest.raises(EvaluationError, match="^calibration: no training scores$"):
        Calibration.fit([])
    with pytest.raises(EvaluationError, match="training score 1 is nan"):
        Calibration.fit([1.0, np.nan, 2.0])
    with pytest.raises(EvaluationError, match="low < high"):
        Calibration(low=1.0, high=1.0)


def test_fuse_sums_calibrated_streams():
    cals = {"pose": Calibration(low=0.0, high=2.0), "velocity": Calibration(low=-1.0, high=1.0)}
    fused = fuse({"pose": [0.0, 1.0, 4.0], "velocity": [-1.0, 0.0, 1.0]}, cals)
    np.testing.assert_allclose(fused, [0.0 + 0.0, 0.5 + 0.5, 2.0 + 1.0])
    with pytest.raises(EvaluationError, match="calibrations for"):
        fuse({"pose": [0.0]}, cals)
    with pytest.raises(EvaluationError, match="stream 'velocity' has 2 frames"):
        fuse({"pose": [0.0, 1.0, 4.0], "velocity": [0.0, 1.0]}, cals)
    with pytest.raises(EvaluationError, match="^fuse: no streams$"):
        fuse({}, cals)
    with pytest.raises(EvaluationError,
                       match=re.escape("fuse: stream 'pose' must be 1-D, got shape (1, 2)")):
        fuse({"pose": [[0.0, 1.0]]}, {"pose": cals["pose"]})


# ----------------------------------------------------------------------------- metrics dict


def _toy():
    rng = np.random.default_rng(1)
    labels = {"a": np.r_[np.zeros(30), np.ones(20)], "b": np.zeros(40), "c": np.ones(25)}
    scores = {n: y + rng.normal(0, 0.8, y.size) for n, y in labels.items()}
    return scores, labels


def test_compute_metrics_smoothed_and_unsmoothed():
    scores, labels = _toy()
    m = compute_metrics(scores, labels, EvaluationProtocol(smoothing_sigma=3))
    smoothed = {n: smooth(s, 3) for n, s in scores.items()}  # per video, no leak across videos
    assert m["micro_auc"] == pytest.approx(micro_auc(smoothed, labels))
    assert m["micro_auc_unsmoothed"] == pytest.approx(micro_auc(scores, labels))
    mean, per_video = macro_auc(smoothed, labels)
    assert m["macro_auc"] == pytest.approx(mean)
    assert m["per_video_auc"] == pytest.approx(per_video)
    assert (m["n_videos"], m["n_frames"], m["n_anomalous_frames"]) == (3, 115, 45)
    assert m["protocol"]["smoothing_sigma"] == 3.0
    assert "sigma=3" in m["protocol"]["description"]
    json.dumps(m, allow_nan=False)


def test_compute_metrics_passes_padding_and_reports_ap_and_eer():
    scores, labels = _toy()
    m = compute_metrics(scores, labels, EvaluationProtocol(smoothing_sigma=0,
                                                           macro_padding="video_max"))
    assert m["macro_auc"] == macro_auc(scores, labels, "video_max")[0]
    assert m["macro_auc"] != macro_auc(scores, labels, "float_max")[0]
    assert m["average_precision"] == average_precision(scores, labels)
    assert m["eer"] == equal_error_rate(scores, labels)
    scores["b"] = np.r_[scores["b"][:5], np.nan, scores["b"][6:]]
    with pytest.raises(EvaluationError, match="^video 'b': score of frame 5 is nan"):
        compute_metrics(scores, labels)


def test_compute_metrics_sigma_zero_twins_are_equal():
    scores, labels = _toy()
    m = compute_metrics(scores, labels, EvaluationProtocol(smoothing_sigma=0))
    for key in ("micro_auc", "macro_auc", "average_precision", "eer", "per_video_auc"):
        assert m[key] == m[key + "_unsmoothed"]
    assert "no temporal smoothing" in m["protocol"]["description"]


def test_protocol_validates_and_describes_padding():
    with pytest.raises(EvaluationError):
        EvaluationProtocol(smoothing_sigma=-1)
    with pytest.raises(ValueError):
        EvaluationProtocol(macro_padding="nope")
    p = EvaluationProtocol(macro_padding="video_max")
    assert p.to_dict()["macro_padding"] == "video_max"
    assert "(label 1, score = the video's maximum score) frame last." in p.describe()
    assert ("(label 1, score = sys.float_info.max (AI-VAD reference code)) frame last."
            in EvaluationProtocol().describe())


def test_protocol_description_and_dict():
    p = EvaluationProtocol(smoothing_sigma=1, smoothing_mode="nearest", smoothing_truncate=2)
    text = p.describe()
    assert text.startswith("Frame-level evaluation (MULDE / AI-VAD protocol): each test "
                           "video's frame scores smoothed with a 1-D Gaussian filter, sigma=1 "
                           "frames (scipy gaussian_filter1d, mode=nearest, truncate=2); the "
                           "*_unsmoothed numbers use the raw frame scores. Micro AUC, average "
                           "precision and EER over all test frames concatenated; macro AUC = "
                           "mean of per-video ROC-AUCs, each video padded with a (label 0, "
                           "score 0) frame first")
    assert EvaluationProtocol(smoothing_sigma=0).describe().startswith(
        "Frame-level evaluation (MULDE / AI-VAD protocol): no temporal smoothing. Micro AUC")
    assert p.to_dict() == {"smoothing_sigma": 1.0, "smoothing_mode": "nearest",
                           "smoothing_truncate": 2.0, "macro_padding": "float_max",
                           "description": text}
