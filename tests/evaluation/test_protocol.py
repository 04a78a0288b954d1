"""Protocol: smoothing and the metrics dict."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mulde.evaluation import (
    EvaluationError,
    EvaluationProtocol,
    compute_metrics,
    macro_auc,
    micro_auc,
    normalize,
    orient,
    replace_nonfinite,
    smooth,
)
from mulde.evaluation.protocol import INVERSION_MARGIN, PUBLISHED_SMOOTHING_SIGMA

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


def test_smooth_truncate_sets_the_kernel_radius_hand_computed():
    # truncate 1 at sigma 1: radius int(1 * 1 + 0.5) = 1, weights (e^-0.5, 1, e^-0.5) / sum
    x = np.zeros(9)
    x[4] = 1
    out = EvaluationProtocol(smoothing_sigma=1, smoothing_truncate=1).smooth(x)
    norm = 1 + 2 * W[1]
    np.testing.assert_allclose(out[3:6], [W[1] / norm, 1 / norm, W[1] / norm])
    assert out[2] == 0 and out[6] == 0


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"sigma": -1}, "smoothing sigma must be finite and >= 0, got -1"),
    ({"sigma": float("nan")}, "smoothing sigma must be finite and >= 0, got nan"),
    # a sigma of 1e9 frames asked numpy for a 60 GiB kernel (a newcomer's trial)
    ({"sigma": 1e9}, "smoothing sigma 1e+09 frames is longer than any video (at most 250,000 "
                     "is taken); sigma counts frames: the benchmarks' protocols use 3 to 7"),
    ({"sigma": 3, "truncate": 1e9}, "smoothing truncate 1e+09 times sigma 3 makes a kernel "
                                    "radius of 3e+09 frames, beyond 1,000,000"),
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


def test_compute_metrics_sigma_zero_twins_are_equal():
    scores, labels = _toy()
    m = compute_metrics(scores, labels, EvaluationProtocol(smoothing_sigma=0))
    for key in ("micro_auc", "macro_auc", "average_precision", "eer", "per_video_auc"):
        assert m[key] == m[key + "_unsmoothed"]
    assert "no temporal smoothing" in m["protocol"]["description"]


def test_protocol_validates_and_describes_macro_definition():
    with pytest.raises(EvaluationError):
        EvaluationProtocol(smoothing_sigma=-1)
    with pytest.raises(ValueError, match="nope"):
        EvaluationProtocol(macro="nope")
    p = EvaluationProtocol(macro="skip_single_class")
    assert p.to_dict()["macro"] == "skip_single_class"
    assert "single-class videos left out" in p.describe()
    assert "ranked below and an anomalous frame ranked above" in EvaluationProtocol().describe()
    for field, value in (("direction", "up"), ("nonfinite", "zero"), ("normalization", "z")):
        with pytest.raises(EvaluationError, match=f"{value!r} is not one of"):
            EvaluationProtocol(**{field: value})


def test_the_description_says_whose_smoothing_sigma_it_is():
    """The published protocol's sigma (Ped2/Avenue 3, ShanghaiTech 7: AI-VAD; UCF-Crime 0:
    Sultani et al. 2018, unsmoothed) is said as such, another sigma for those datasets
    against it, and a sigma for a dataset without a published protocol (UBnormal) as a
    choice; UBnormal's sigma 7 was said to be "MULDE / AI-VAD protocol" as ShanghaiTech's (a
    newcomer's trial). No dataset: as before."""
    def head(**kwargs) -> str:
        return EvaluationProtocol(**kwargs).describe().split("): ", 1)[0] + ")"

    assert head(smoothing_sigma=3, dataset="avenue") == (
        "Frame-level evaluation (MULDE / AI-VAD protocol; smoothing sigma 3, AI-VAD's "
        "published value for avenue)")
    assert head(smoothing_sigma=7, dataset="shanghaitech").endswith(
        "sigma 7, AI-VAD's published value for shanghaitech)")
    assert head(smoothing_sigma=(1, 2), dataset="ucsd_ped2") == (
        "Frame-level evaluation (MULDE / AI-VAD protocol; smoothing sigma 1, 2, where AI-VAD's "
        "published protocol for ucsd_ped2 has sigma 3)")
    assert head(smoothing_sigma=0, dataset="avenue").endswith(
        "smoothing sigma 0, where AI-VAD's published protocol for avenue has sigma 3)")
    assert head(smoothing_sigma=7, dataset="ubnormal") == (
        "Frame-level evaluation (MULDE / AI-VAD metrics; smoothing sigma 7, a choice, as no "
        "MULDE protocol is published for ubnormal)")
    assert head(smoothing_sigma=3, dataset="folder").endswith(
        "smoothing sigma 3, a choice, as no MULDE protocol is published for a folder of one's "
        "own videos)")
    assert head(smoothing_sigma=0, dataset="ucf_crime") == (
        "Frame-level evaluation (MULDE / AI-VAD metrics; smoothing sigma 0, Sultani et al. "
        "2018's published protocol for ucf_crime, unsmoothed as the weakly supervised works "
        "after it report it)")
    assert head(smoothing_sigma=7, dataset="ucf_crime") == (
        "Frame-level evaluation (MULDE / AI-VAD metrics; smoothing sigma 7, where Sultani et "
        "al. 2018's published protocol for ucf_crime is unsmoothed)")
    assert head(smoothing_sigma=0, dataset="ubnormal") == (
        "Frame-level evaluation (MULDE / AI-VAD metrics; no MULDE protocol is published for "
        "ubnormal)")
    assert head(smoothing_sigma=3) == "Frame-level evaluation (MULDE / AI-VAD protocol)"


def test_ucf_crime_smoothed_notes_that_its_literature_compares_unsmoothed_numbers():
    """UCF-Crime's default is unsmoothed (its published protocol): only a sigma given
    against it notes that the unsmoothed numbers are the ones to compare."""
    from mulde.datasets import ucf_crime

    assert ucf_crime.SMOOTHING_SIGMA == PUBLISHED_SMOOTHING_SIGMA["ucf_crime"] == 0.0
    scores, labels = _toy()
    said = [n for n in compute_metrics(scores, labels, EvaluationProtocol(
        smoothing_sigma=7, dataset="ucf_crime"))["notes"] if "literature" in n]
    assert len(said) == 1 and "compare the unsmoothed micro AUC" in said[0]
    for protocol in (EvaluationProtocol(smoothing_sigma=0, dataset="ucf_crime"),
                     EvaluationProtocol(smoothing_sigma=7, dataset="ubnormal")):
        assert not any("literature" in n for n in compute_metrics(scores, labels,
                                                                  protocol)["notes"])


def test_macro_definition_recorded_with_single_class_videos():
    scores, labels = _toy()  # b is all normal, c all anomalous
    padded = compute_metrics(scores, labels, EvaluationProtocol(smoothing_sigma=0))
    skipped = compute_metrics(scores, labels, EvaluationProtocol(0, macro="skip_single_class"))
    assert padded["macro_definition"] == "padded" and padded["protocol"]["macro"] == "padded"
    assert skipped["macro_definition"] == "skip_single_class"
    assert padded["single_class_videos"] == skipped["single_class_videos"] == ["b", "c"]
    assert list(skipped["per_video_auc"]) == ["a"]
    assert skipped["macro_auc"] == pytest.approx(micro_auc({"a": scores["a"]}, {"a": labels["a"]}))
    assert padded["per_video_auc"]["b"] == padded["per_video_auc"]["c"] == 1.0


# ----------------------------------------------------------------------------- preparation


def test_orient_negates_normality_scores():
    np.testing.assert_array_equal(orient([1.0, -2.0, np.inf], "normality"), [-1.0, 2.0, -np.inf])
    np.testing.assert_array_equal(orient([1, 2], "anomaly"), [1.0, 2.0])
    with pytest.raises(EvaluationError, match="direction 'up'"):
        orient([1.0], "up")


def test_replace_nonfinite_uses_the_global_finite_extremes():
    scores = {"a": [1.0, np.inf, -2.0], "b": [-np.inf, 5.0]}
    out = replace_nonfinite(scores, "replace")
    np.testing.assert_array_equal(out["a"], [1.0, 5.0, -2.0])  # +inf -> max of all videos
    np.testing.assert_array_equal(out["b"], [-2.0, 5.0])  # -inf -> min of all videos
    with pytest.raises(EvaluationError, match=r"video 'a': score of frame 1 is inf .*'replace'"):
        replace_nonfinite(scores)
    with pytest.raises(EvaluationError, match=r"video 'b': score of frame 0 is NaN"):
        replace_nonfinite({"b": [np.nan, 1.0]}, "replace")
    with pytest.raises(EvaluationError, match="no finite score"):
        replace_nonfinite({"b": [np.inf]}, "replace")


def test_nonfinite_scores_in_several_videos_name_the_first_and_count_the_others():
    """NaN or inf in 3 videos: the first named, 2 more counted (it stopped at the first, as
    if it were the only one: a newcomer's trial); NaN, which no policy takes, before an
    earlier video's inf."""
    scores = {"a": [1.0, 2.0], "b": [np.inf, 1.0], "c": [0.0, np.nan], "d": [np.nan] * 2,
              "e": [np.nan, 1.0], "f": [-np.inf, 0.0]}
    with pytest.raises(EvaluationError) as err:
        replace_nonfinite(scores)
    assert str(err.value) == ("video 'c': score of frame 1 is NaN (1 NaN score(s) in this "
                              "video, and 2 more videos with NaN scores); NaN has no place in "
                              "the order of scores: fix the score file")
    with pytest.raises(EvaluationError, match=r"^video 'b': score of frame 0 is inf \(1 "
                       r"infinite score\(s\) in this video, and 1 more video with infinite "
                       r"scores\); refused"):
        replace_nonfinite({n: s for n, s in scores.items() if n in "abf"})


def test_normalize_hand_computed():
    scores = {"a": [2.0, 4.0, 3.0], "b": [7.0, 7.0], "c": [-1.0]}
    mm = normalize(scores, "video_minmax")
    np.testing.assert_array_equal(mm["a"], [0.0, 1.0, 0.5])
    np.testing.assert_array_equal(mm["b"], [0.0, 0.0])  # a constant video becomes 0
    np.testing.assert_array_equal(mm["c"], [0.0])
    rank = normalize(scores, "global_rank")  # order -1 < 2 < 3 < 4 < 7 = 7, six frames
    np.testing.assert_allclose(rank["a"], np.array([2, 4, 3]) / 6)
    np.testing.assert_allclose(rank["b"], [5.5 / 6, 5.5 / 6])  # ties share ranks 5 and 6
    np.testing.assert_allclose(rank["c"], [1 / 6])
    assert normalize(scores)["a"].tolist() == [2.0, 4.0, 3.0]


def test_prepare_order_direction_then_nonfinite_then_normalization():
    # STG-NF style: normality with +inf for frames without a person
    p = EvaluationProtocol(0, direction="normality", nonfinite="replace",
                           normalization="video_minmax")
    out = p.prepare({"a": [1.0, np.inf, 3.0], "b": [0.0, 2.0]})
    # negated: a [-1, -inf, -3], b [0, -2]; -inf -> global min -3; min-max per video
    np.testing.assert_allclose(out["a"], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(out["b"], [1.0, 0.0])


def test_repeated_smoothing_hand_computed_and_recorded():
    # two sigma-1 passes on an impulse far from the edges: the centre is sum_k w_k^2
    x = np.zeros(31)
    x[15] = 1
    p = EvaluationProtocol(smoothing_sigma=(1, 1))
    assert p.smooth(x)[15] == pytest.approx(W0**2 * (W[0] ** 2 + 2 * sum(w**2 for w in W[1:])))
    stgnf = EvaluationProtocol(smoothing_sigma=[1, 2, 3, 4, 5, 6])
    y = np.random.default_rng(0).normal(size=40)
    expected = y
    for sigma in range(1, 7):
        expected = smooth(expected, sigma)
    np.testing.assert_array_equal(stgnf.smooth(y), expected)
    assert stgnf.to_dict()["smoothing_sigma"] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert "sigma 1, 2, 3, 4, 5, 6 frames in turn" in stgnf.describe()
    assert EvaluationProtocol(smoothing_sigma=[3]).smoothing_sigma == 3.0
    assert not EvaluationProtocol(smoothing_sigma=[0, 0]).smooths
    with pytest.raises(EvaluationError, match="sigma must be finite and >= 0"):
        EvaluationProtocol(smoothing_sigma=[1, -2])


@pytest.mark.parametrize("mode", ["reflect", "nearest", "mirror", "wrap"])
@pytest.mark.parametrize("normalization", ["none", "video_minmax", "global_rank"])
def test_metrics_unchanged_by_shift_and_positive_scale_of_all_scores(mode, normalization):
    # issue 13, item 1, with smoothing (which depends on differences only, except in mode
    # "constant", which pads with zeros)
    scores, labels = _toy()
    p = EvaluationProtocol(smoothing_sigma=(1, 2), smoothing_mode=mode,
                           normalization=normalization)
    base = compute_metrics(scores, labels, p)
    for shift, scale in ((-1000.0, 1.0), (1000.0, 3.0), (0.0, 1e-3)):
        moved = compute_metrics({n: s * scale + shift for n, s in scores.items()}, labels, p)
        for key in ("micro_auc", "macro_auc", "average_precision", "eer", "per_video_auc",
                    "micro_auc_unsmoothed", "macro_auc_unsmoothed"):
            assert moved[key] == pytest.approx(base[key], abs=1e-12), (key, shift, scale)


def test_warning_when_micro_auc_below_one_half():
    scores, labels = _toy()
    assert compute_metrics(scores, labels)["warnings"] == []
    flipped = compute_metrics({n: -s for n, s in scores.items()}, labels)
    assert "below 0.5" in flipped["warnings"][0] and "'normality'" in flipped["warnings"][0]
    fixed = compute_metrics({n: -s for n, s in scores.items()}, labels,
                            EvaluationProtocol(direction="normality"))
    assert fixed["micro_auc"] == compute_metrics(scores, labels)["micro_auc"]
    assert fixed["warnings"] == []


def test_many_single_class_videos_give_the_macro_auc_of_the_two_class_videos():
    """With at least a quarter of the videos of one class (each 1.0 in the padded macro
    AUC), a note gives the macro AUC over the two-class videos alone."""
    # a: labels [0, 1, 0, 1] scores [1, 2, 3, 0]: 1 of 4 pairs -> AUC 0.25, padded
    # (1 + 2 + 2 + 1) / 9 = 2/3; b (all normal) padded 1.0 -> padded macro 5/6
    labels = {"a": np.array([0, 1, 0, 1]), "b": np.zeros(3)}
    scores = {"a": np.array([1.0, 2.0, 3.0, 0.0]), "b": np.array([1.0, 2.0, 3.0])}
    m = compute_metrics(scores, labels, EvaluationProtocol(smoothing_sigma=0))
    assert m["macro_auc"] == pytest.approx(5 / 6)
    assert m["macro_auc_two_class"] == m["macro_auc_two_class_unsmoothed"] == 0.25
    assert m["notes"] == [
        "1 of the 2 videos holds a single class and counts 1.0 in the padded macro AUC "
        "0.8333, which lifts even chance scores; over the 1 two-class video alone the macro "
        "AUC is 0.2500 (unsmoothed 0.2500; the skip_single_class definition)"]
    # fewer than a quarter single-class, or skip_single_class already: no note, no keys
    more = {**labels, **{f"c{i}": np.array([0, 1]) for i in range(4)}}
    few = compute_metrics({**scores, **{f"c{i}": np.array([0.0, 1.0]) for i in range(4)}},
                          more, EvaluationProtocol(smoothing_sigma=0))
    assert few["notes"] == [] and "macro_auc_two_class" not in few
    skip = compute_metrics(scores, labels, EvaluationProtocol(smoothing_sigma=0,
                                                              macro="skip_single_class"))
    assert skip["notes"] == [] and "macro_auc_two_class" not in skip


def test_scores_all_alike_are_warned_of_as_ranking_nothing():
    """A newcomer's all-zero scores gave micro AUC 0.5 and a padded macro AUC of 0.76 with
    no word that nothing was ranked; a single score differing is no such case."""
    labels = {"a": np.array([0, 1, 0, 1]), "b": np.zeros(3)}
    flat = {"a": np.zeros(4), "b": np.zeros(3)}
    m = compute_metrics(flat, labels, EvaluationProtocol(smoothing_sigma=0))
    assert m["micro_auc"] == 0.5 and m["warnings"] == [
        "every one of the 7 frame scores is 0: they rank nothing, so the micro AUC is 0.5 by "
        "construction and the macro AUC counts only how many videos hold a single class; "
        "check that the scores are the ones meant (the right column or key of a score file) "
        "and were not all clipped, filled or normalised away"]
    flat["a"] = np.array([0.0, 1e-9, 0.0, 0.0])  # an anomalous frame a little higher
    assert compute_metrics(flat, labels, EvaluationProtocol(smoothing_sigma=0))[
        "warnings"] == []


def test_the_warning_below_one_half_needs_a_margin_below_chance():
    """Chance-level scores (AUC a little below 0.5) are not told to flip their direction:
    only an AUC more than INVERSION_MARGIN below 0.5 is warned about."""
    # one anomalous frame among 100 normal ones, ranked above k of them: AUC = k / 100
    labels = {"v": np.array([1] + [0] * 100)}
    p = EvaluationProtocol(smoothing_sigma=0)
    for k, warned in ((49, False), (46, False), (44, True), (10, True)):
        scores = {"v": np.array([k - 0.5] + list(range(100)), dtype=float)}
        m = compute_metrics(scores, labels, p)
        assert m["micro_auc"] == pytest.approx(k / 100)
        assert bool(m["warnings"]) is warned, k
    assert INVERSION_MARGIN == 0.05
    assert compute_metrics({"v": np.array([43.5] + list(range(100)))}, labels, p)[
        "warnings"][0].startswith("micro AUC 0.4400 is below 0.5 by more than 0.05: the "
                                  "scores rank normal")


def test_the_warning_below_one_half_names_the_direction_not_given():
    """Anomaly scores evaluated as normality scores are told to drop the direction given,
    not to give it."""
    scores, labels = _toy()
    wrong = compute_metrics(scores, labels, EvaluationProtocol(direction="normality"))
    assert wrong["warnings"] == [
        f"micro AUC {wrong['micro_auc']:.4f} (unsmoothed {wrong['micro_auc_unsmoothed']:.4f}) "
        "is below 0.5 by more than 0.05 "
        "with the scores taken as "
        "normality scores (direction 'normality': negated): they look like anomaly scores "
        "(higher = more anomalous); if they are, evaluate with score direction 'anomaly' (drop "
        "--direction normality)"]


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
