"""Metrics: hand-computed values, degenerate inputs, properties, and real UCSD Ped2 labels."""

from __future__ import annotations

import numpy as np
import pytest
from fakes import data_dir
from hypothesis import given, settings
from hypothesis import strategies as st

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


def test_macro_auc_float_max_padding_hand_computed():
    mean, per_video = macro_auc(MACRO_SCORES, MACRO_LABELS)
    # a: padded [0,1,2,3,M] / [0,0,0,1,1] -> 1
    # all_normal: only the appended M is positive -> 1
    # all_anomalous: negatives {0}, positives {-1, 2, M} -> 2/3
    # mixed: padded [0,2,1,3,M] / [0,1,0,0,1]: 2 beats {0,1}, M beats all -> 5/6
    expected = {"a": 1.0, "all_normal": 1.0, "all_anomalous": 2 / 3, "mixed": 5 / 6}
    assert list(per_video) == list(MACRO_SCORES)
    for name, auc in expected.items():
        assert per_video[name] == pytest.approx(auc), name
    assert mean == pytest.approx(np.mean(list(expected.values())))


def test_macro_auc_video_max_padding_hand_computed():
    _, per_video = macro_auc(MACRO_SCORES, MACRO_LABELS, padding="video_max")
    # all_normal: appended 5 vs {0, 5, 1} -> (1 + 0.5 + 1) / 3
    assert per_video["all_normal"] == pytest.approx(2.5 / 3)
    # mixed: positives {2, 3} vs negatives {0, 1, 3} -> (2 + 2.5) / 6
    assert per_video["mixed"] == pytest.approx(0.75)
    assert per_video["all_anomalous"] == pytest.approx(2 / 3)


def test_macro_auc_single_video_single_class_is_defined():
    mean, per_video = macro_auc({"n": [0.3, 0.2]}, {"n": [0, 0]})
    assert mean == per_video["n"] == 1.0


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


def test_unknown_padding_rejected():
    with pytest.raises(ValueError, match="nope"):
        macro_auc({"a": [0, 1]}, {"a": [0, 1]}, padding="nope")


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
@given(videos_any_labels(), st.sampled_from(["float_max", "video_max"]))
def test_macro_auc_in_unit_interval_and_matches_pair_count(videos, padding):
    scores, labels = videos
    mean, per_video = macro_auc(scores, labels, padding=padding)
    assert 0.0 <= mean <= 1.0
    for name, auc in per_video.items():
        s, y = scores[name], labels[name]
        top = np.finfo(float).max if padding == "float_max" else s.max()
        expected = _pairwise_auc(np.r_[0.0, s, top], np.r_[0, y, 1])
        assert auc == pytest.approx(expected, abs=1e-12)


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
