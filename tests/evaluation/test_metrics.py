"""Metrics: hand-computed values, degenerate inputs, properties, and real UCSD Ped2 labels."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from fakes import data_dir
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from mulde.evaluation import (
    EvaluationError,
    average_precision,
    equal_error_rate,
    macro_auc,
    micro_auc,
    micro_roc_curve,
)

PED2_COUNTS = [180, 180, 150, 180, 150, 180, 180, 180, 120, 150, 180, 180]


def _pairwise_auc(s: np.ndarray, y: np.ndarray) -> float:
    """Mann-Whitney AUC by counting pairs: P(s+ > s-) + 0.5 P(s+ == s-)."""
    pos, neg = s[y == 1][:, None], s[y == 0][None, :]
    return float(((pos > neg) + 0.5 * (pos == neg)).mean())


# ----------------------------------------------------------------------------- micro


def test_micro_auc_hand_computed():
    # positives {0.35, 0.8} vs negatives {0.1, 0.4}: 3 of 4 pairs ordered correctly
    scores = {"a": [0.1, 0.4], "b": [0.35, 0.8]}
    labels = {"a": [0, 0], "b": [1, 1]}
    assert micro_auc(scores, labels) == pytest.approx(0.75)


def test_micro_auc_counts_ties_as_half():
    # positives {2, 3} vs negatives {1, 2}: 1 + 0.5 + 1 + 1 = 3.5 of 4 pairs
    assert micro_auc({"v": [1, 2, 2, 3]}, {"v": [0, 0, 1, 1]}) == pytest.approx(0.875)


def test_micro_roc_curve_endpoints():
    fpr, tpr = micro_roc_curve({"v": [0.1, 0.4, 0.35, 0.8]}, {"v": [0, 0, 1, 1]})
    np.testing.assert_allclose(fpr, [0, 0, 0.5, 0.5, 1])
    np.testing.assert_allclose(tpr, [0, 0.5, 0.5, 1, 1])
    # every threshold is kept, collinear points included
    fpr, tpr = micro_roc_curve({"v": [0.1, 0.2, 0.3, 0.4]}, {"v": [0, 0, 1, 1]})
    np.testing.assert_allclose(fpr, [0, 0, 0, 0.5, 1])
    np.testing.assert_allclose(tpr, [0, 0.5, 1, 1, 1])


def test_average_precision_hand_computed():
    # ranked: 0.8 (+), 0.4 (-), 0.35 (+), 0.1 (-): precisions at the positives 1 and 2/3
    ap = average_precision({"v": [0.1, 0.4, 0.35, 0.8]}, {"v": [0, 0, 1, 1]})
    assert ap == pytest.approx((1 + 2 / 3) / 2)


@pytest.mark.parametrize(
    ("scores", "labels", "eer"),
    [
        # ROC passes exactly through (0.5, 0.5)
        ([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], 0.5),
        # negatives {1, 2, 4}, positive {3}: crossing on the vertical segment
        # (1/3, 0) -> (1/3, 1), where FNR = 1/3 at TPR = 2/3
        ([1, 2, 4, 3], [0, 0, 0, 1], 1 / 3),
        # tie at 2: diagonal segment (0, 0.5) -> (0.5, 1), crossing at its midpoint (0.25, 0.75)
        ([1, 2, 2, 3], [0, 0, 1, 1], 0.25),
        ([0, 1, 2, 3], [0, 0, 1, 1], 0.0),  # perfectly separated
        ([3, 2, 1, 0], [0, 0, 1, 1], 1.0),  # perfectly reversed
        ([2, 2], [0, 1], 0.5),  # all tied: one segment (0, 0) -> (1, 1), crossing at its middle
    ],
)
def test_equal_error_rate_hand_computed(scores, labels, eer):
    assert equal_error_rate({"v": scores}, {"v": labels}) == pytest.approx(eer)


# ----------------------------------------------------------------------------- macro

MACRO_SCORES = {
    "a": [1.0, 2.0, 3.0],
    "all_normal": [5.0, 1.0],
    "all_anomalous": [-1.0, 2.0],
    "mixed": [2.0, 1.0, 3.0],
}
MACRO_LABELS = {"a": [0, 0, 1], "all_normal": [0, 0], "all_anomalous": [1, 1], "mixed": [1, 0, 0]}


def test_macro_auc_padded_hand_computed():
    mean, per_video = macro_auc(MACRO_SCORES, MACRO_LABELS)
    # padded AUC = (U + n_pos + n_neg + 1) / ((n_pos + 1) (n_neg + 1)), U = ordered pairs
    # a: 3 beats {1, 2}: U = 2, (2 + 1 + 2 + 1) / (2 * 3) = 1
    # all_normal: U = 0, (0 + 0 + 2 + 1) / (1 * 3) = 1
    # all_anomalous: (0 + 2 + 0 + 1) / (3 * 1) = 1, the negative score -1 included
    # mixed: 2 beats 1, not 3: U = 1, (1 + 1 + 2 + 1) / (2 * 3) = 5/6
    expected = {"a": 1.0, "all_normal": 1.0, "all_anomalous": 1.0, "mixed": 5 / 6}
    assert list(per_video) == list(MACRO_SCORES)
    for name, auc in expected.items():
        assert per_video[name] == pytest.approx(auc), name
    assert mean == pytest.approx(np.mean(list(expected.values())))


def test_macro_auc_skip_single_class_hand_computed():
    mean, per_video = macro_auc(MACRO_SCORES, MACRO_LABELS, "skip_single_class")
    # a: 3 beats {1, 2} -> 1; mixed: 2 beats 1, loses to 3 -> 1/2; one-class videos left out
    assert per_video == {"a": 1.0, "mixed": 0.5}
    assert mean == 0.75
    with pytest.raises(EvaluationError, match="none of the 2 video.*skip_single_class"):
        macro_auc({"n": [1, 2], "p": [3, 4]}, {"n": [0, 0], "p": [1, 1]}, "skip_single_class")


def test_macro_auc_single_video_single_class_is_defined():
    mean, per_video = macro_auc({"n": [0.3, 0.2]}, {"n": [0, 0]})
    assert mean == per_video["n"] == 1.0


def test_macro_auc_issue13_shift_of_all_scores_changes_nothing():
    # issue 13, item 1: padding with a frame scored exactly 0 gave 0.835 / 0.386 / 0.885
    rng = np.random.default_rng(0)
    y = {"all_anomalous": np.ones(50, int), "mixed": np.r_[np.zeros(50, int), np.ones(50, int)]}
    s = {k: rng.normal(size=len(v)) + v for k, v in y.items()}
    values = [macro_auc({k: v + shift for k, v in s.items()}, y)[0]
              for shift in (0.0, -100.0, 100.0, -1e6)]
    assert values[0] == values[1] == values[2] == values[3]
    # all scores > 0 after +100: AI-VAD's padding (0 and float max) gives the same number
    aivad = np.mean([_pairwise_auc(np.r_[0.0, v + 100, sys.float_info.max], np.r_[0, y[k], 1])
                     for k, v in s.items()])
    assert values[0] == pytest.approx(aivad, abs=1e-15)


def _aivad_padded(s: np.ndarray, y: np.ndarray) -> float:
    """AI-VAD's per-video AUC: (label 0, score 0) first, (label 1, float max) last."""
    return float(roc_auc_score(np.r_[0, y, 1], np.r_[0.0, s, sys.float_info.max]))


def test_macro_auc_differs_from_aivad_only_by_anomalous_frames_scored_exactly_0():
    # scores [0, 0.5, 2], labels [1, 0, 1]. AI-VAD: positives {0, 2, M} vs negatives {0, 0.5}:
    # 0.5 + 0 + 2 + 2 = 4.5 of 6 pairs = 0.75 (its 0 pad ties with the anomalous 0).
    # padded: U = 1 (2 > 0.5), (1 + 2 + 1 + 1) / (3 * 2) = 5/6: 0.5 / 6 more per such frame
    s, y = np.array([0.0, 0.5, 2.0]), np.array([1, 0, 1])
    assert _aivad_padded(s, y) == pytest.approx(0.75)
    assert macro_auc({"v": s}, {"v": y})[1]["v"] == pytest.approx(5 / 6)
    # no order-only definition matches AI-VAD on all scores >= 0: [0, 1] and [1, 2] (= +1)
    y2 = np.array([1, 0])
    assert _aivad_padded(np.array([0.0, 1.0]), y2) == 0.625
    assert _aivad_padded(np.array([1.0, 2.0]), y2) == 0.75
    assert macro_auc({"v": [0.0, 1.0]}, {"v": y2})[0] == macro_auc({"v": [1.0, 2.0]},
                                                                   {"v": y2})[0] == 0.75


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.floats(1e-300, 1e300), st.integers(0, 1)), min_size=1,
                max_size=30))
def test_macro_auc_equals_aivad_bitwise_for_positive_scores(frames):
    # AI-VAD's numbers are kept exactly wherever its 0 pad lies below every score
    s = np.array([f[0] for f in frames])
    y = np.array([f[1] for f in frames])
    assert macro_auc({"v": s}, {"v": y})[1]["v"] == _aivad_padded(s, y)


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize("fn", [micro_auc, average_precision, equal_error_rate, macro_auc])
def test_empty_input_raises(fn):
    with pytest.raises(EvaluationError, match=r"^no videos to evaluate \(empty scores\)$"):
        fn({}, {})


def test_length_mismatch_names_video():
    with pytest.raises(EvaluationError, match=r"video 'b'.*3 scores but 2 labels"):
        micro_auc({"a": [0, 1], "b": [1, 2, 3]}, {"a": [0, 1], "b": [0, 1]})


def test_nan_score_names_video_and_frame():
    with pytest.raises(EvaluationError, match=r"video 'b': score of frame 2 is nan"):
        macro_auc({"a": [0, 1], "b": [1, 2, np.nan]}, {"a": [0, 1], "b": [0, 1, 1]})


def test_inf_score_raises():
    with pytest.raises(EvaluationError, match=r"frame 0 is inf"):
        micro_auc({"a": [np.inf, 1]}, {"a": [0, 1]})


@pytest.mark.parametrize(("value", "kind"), [(0, "normal"), (1, "anomalous")])
def test_micro_single_class_says_so(value, kind):
    labels = {"a": [value] * 3, "b": [value] * 2}
    scores = {"a": [1, 2, 3], "b": [4, 5]}
    for fn in (micro_auc, average_precision, equal_error_rate):
        with pytest.raises(EvaluationError, match=rf"all 5 frames .* are {kind}.*both classes"):
            fn(scores, labels)
    with pytest.raises(EvaluationError, match=rf"^all 1 frames of the 1 video\(s\) are {kind} "
                       rf"\({value}\): micro metrics need both classes$"):
        micro_auc({"a": [0.5]}, {"a": [value]})


def test_missing_and_extra_labels_name_the_video():
    with pytest.raises(EvaluationError, match="no labels for video 'b'"):
        micro_auc({"a": [0, 1], "b": [0, 1]}, {"a": [0, 1]})
    with pytest.raises(EvaluationError, match="labels for video 'c' which has no scores"):
        micro_auc({"a": [0, 1]}, {"a": [0, 1], "c": [1]})


def test_bad_label_value_and_shape():
    with pytest.raises(EvaluationError, match=r"video 'a': label of frame 1 is 2"):
        micro_auc({"a": [0, 1, 2]}, {"a": [0, 2, 1]})
    with pytest.raises(EvaluationError, match=r"video 'a': scores must be 1-D"):
        micro_auc({"a": [[0, 1]]}, {"a": [0, 1]})
    with pytest.raises(EvaluationError,
                       match=r"^video 'a': labels must be 1-D, got shape \(1, 2\)$"):
        micro_auc({"a": [0, 1]}, {"a": [[0, 1]]})
    with pytest.raises(EvaluationError, match=r"video 'a': no frames"):
        micro_auc({"a": []}, {"a": []})


def test_unknown_macro_definition_rejected():
    with pytest.raises(ValueError, match="nope"):
        macro_auc({"a": [0, 1]}, {"a": [0, 1]}, "nope")


# ----------------------------------------------------------------------------- properties

int_scores = st.lists(st.integers(-50, 50), min_size=2, max_size=40)


@st.composite
def two_class_video(draw):
    s = draw(int_scores)
    y = draw(st.lists(st.integers(0, 1), min_size=len(s), max_size=len(s)))
    if min(y) == max(y):
        y[0] = 1 - y[0]
    return np.array(s, dtype=float), np.array(y)


@settings(max_examples=60, deadline=None)
@given(two_class_video(), st.sampled_from(["affine", "exp", "cube"]))
def test_micro_auc_invariant_to_strictly_monotone_transforms(video, transform):
    s, y = video
    f = {"affine": lambda x: 3 * x + 7, "exp": lambda x: np.exp(x / 7), "cube": lambda x: x**3}
    assert micro_auc({"v": f[transform](s)}, {"v": y}) == pytest.approx(
        micro_auc({"v": s}, {"v": y}), abs=1e-12
    )


@settings(max_examples=60, deadline=None)
@given(two_class_video())
def test_micro_auc_matches_pair_count_and_negation(video):
    s, y = video
    auc = micro_auc({"v": s}, {"v": y})
    assert auc == pytest.approx(_pairwise_auc(s, y), abs=1e-12)
    assert micro_auc({"v": -s}, {"v": y}) == pytest.approx(1 - auc, abs=1e-12)
    assert 0.0 <= equal_error_rate({"v": s}, {"v": y}) <= 1.0


@st.composite
def videos_any_labels(draw):
    n = draw(st.integers(1, 5))
    scores, labels = {}, {}
    for i in range(n):
        s = draw(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=20))
        y = draw(st.lists(st.integers(0, 1), min_size=len(s), max_size=len(s)))
        scores[f"v{i}"], labels[f"v{i}"] = np.array(s), np.array(y)
    return scores, labels


@settings(max_examples=60, deadline=None)
@given(videos_any_labels())
def test_macro_auc_in_unit_interval_and_matches_pair_count(videos):
    scores, labels = videos
    mean, per_video = macro_auc(scores, labels)
    assert 0.0 <= mean <= 1.0
    for name, auc in per_video.items():
        s, y = scores[name], labels[name]
        # a normal frame below and an anomalous frame above every frame of the video
        pad = np.r_[s.min() - 1.0 - abs(s.min()), s, s.max() + 1.0 + abs(s.max())]
        assert auc == pytest.approx(_pairwise_auc(pad, np.r_[0, y, 1]), abs=1e-12)
        pos, neg = int(y.sum()), int(y.size - y.sum())
        u = _pairwise_auc(s, y) * pos * neg if pos and neg else 0.0
        assert auc == pytest.approx((u + pos + neg + 1) / ((pos + 1) * (neg + 1)), abs=1e-12)


@st.composite
def integer_videos(draw):
    """1-4 videos of integer scores (exact under the shifts and scales below), any labels,
    both classes somewhere (micro metrics need them)."""
    n = draw(st.integers(1, 4))
    scores, labels = {}, {}
    for i in range(n):
        s = draw(st.lists(st.integers(-1000, 1000), min_size=1, max_size=15))
        y = draw(st.lists(st.integers(0, 1), min_size=len(s), max_size=len(s)))
        scores[f"v{i}"], labels[f"v{i}"] = np.array(s, dtype=float), np.array(y)
    flat = np.concatenate(list(labels.values()))
    if flat.min() == flat.max():  # add a frame of the other class
        labels["v0"] = np.r_[labels["v0"], 1 - flat[0]]
        scores["v0"] = np.r_[scores["v0"], draw(st.integers(-1000, 1000))].astype(float)
    return scores, labels


@settings(max_examples=50, deadline=None)
@given(integer_videos(), st.integers(-10**6, 10**6), st.sampled_from([1.0, 2.0, 3.0, 0.125]))
def test_every_metric_depends_only_on_the_order_of_the_scores(videos, shift, scale):
    # issue 13, item 1: invariant to adding a constant and to a positive scale (exact here:
    # integer scores, shifts and scales keep every float exact)
    scores, labels = videos
    moved = {n: s * scale + shift for n, s in scores.items()}
    for definition in ("padded", "skip_single_class"):
        if definition == "skip_single_class" and not any(
                y.min() != y.max() for y in labels.values()):
            continue
        assert macro_auc(moved, labels, definition) == macro_auc(scores, labels, definition)
    for fn in (micro_auc, average_precision, equal_error_rate):
        assert fn(moved, labels) == fn(scores, labels)


# ----------------------------------------------------------------------------- real labels


def ped2_labels() -> dict[str, np.ndarray]:
    """Per-frame labels of the 12 UCSD Ped2 test videos from ped2.mat (1-based inclusive)."""
    import scipy.io as sio

    path = data_dir("ucsd_ped2", "ped2.mat")
    ranges = sio.loadmat(str(path))["gt"].ravel()
    labels = {}
    for i, (n, r) in enumerate(zip(PED2_COUNTS, ranges, strict=True)):
        r = np.asarray(r, dtype=int).reshape(2, -1)
        y = np.zeros(n, dtype=np.int8)
        for start, end in r.T:
            y[start - 1 : end] = 1
        labels[f"{i + 1:02d}"] = y
    return labels


def test_ped2_real_labels_perfect_random_and_inverted_scores():
    labels = ped2_labels()
    assert sum(int(y.sum()) for y in labels.values()) == 1648  # data/README.md
    perfect = {n: y.astype(float) for n, y in labels.items()}
    assert micro_auc(perfect, labels) == 1.0
    mean, per_video = macro_auc(perfect, labels)
    assert mean == 1.0 and len(per_video) == 12
    assert average_precision(perfect, labels) == 1.0
    assert equal_error_rate(perfect, labels) == 0.0
    assert micro_auc({n: -s for n, s in perfect.items()}, labels) == 0.0

    rng = np.random.default_rng(0)
    random = {n: rng.random(y.size) for n, y in labels.items()}
    assert abs(micro_auc(random, labels) - 0.5) < 0.06  # std of a random AUC here ~0.017
    assert abs(equal_error_rate(random, labels) - 0.5) < 0.06
