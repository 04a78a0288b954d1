"""Object -> frame scores, stream calibration and fusion (AI-VAD's protocol)."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mulde.vad.fusion import (
    SPIKE_FRAMES,
    SPIKE_RATIO,
    Calibration,
    FusionError,
    calibration_spikes,
    fuse,
    objects_to_frames,
    sidak_frames,
    sidak_objects,
    spike_reference,
)


def test_objects_to_frames_max_and_empty_fill():
    out = objects_to_frames([1.0, 5.0, 2.0, 7.0, -3.0], [0, 0, 2, 2, 4], 5, empty=-10.0)
    np.testing.assert_array_equal(out, [5.0, -10.0, 7.0, -10.0, -3.0])


def test_objects_to_frames_empty_frames_raise_by_default():
    with pytest.raises(FusionError, match=r"2 frame\(s\) have no object, first frame 1; "
                       "pass empty=<score> to give them a score$"):
        objects_to_frames([1.0, 2.0], [0, 2], 4)
    with pytest.raises(FusionError, match="^empty-frame score must be finite, got nan$"):
        objects_to_frames([1.0, 2.0], [0, 2], 4, empty=np.nan)
    # no objects at all: every frame gets the fill
    np.testing.assert_array_equal(objects_to_frames([], np.array([], int), 3, empty=0.5), 0.5)


def test_objects_to_frames_bad_inputs():
    with pytest.raises(FusionError, match=r"object 1: frame index 3 outside \[0, 2\]"):
        objects_to_frames([1.0, 2.0], [0, 3], 3)
    with pytest.raises(FusionError, match=r"object 1 \(frame 2\): score is nan"):
        objects_to_frames([1.0, np.nan], [0, 2], 3)
    with pytest.raises(FusionError, match="integers"):
        objects_to_frames([1.0], [0.0], 1)
    with pytest.raises(FusionError, match="equal length"):
        objects_to_frames([1.0, 2.0], [0], 1)
    with pytest.raises(FusionError, match="^n_frames must be >= 1, got 0$"):
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
    with pytest.raises(FusionError, match="lacks field 'high'"):
        Calibration.from_dict({"low": 0.0, "percentile": 99.9})
    assert cal.percentile == 50.0 and Calibration.fit([2.0, 4.0], percentile=100).high == 4.0


def test_calibration_degenerate_inputs():
    with pytest.raises(FusionError, match="constant"):
        Calibration.fit([3.0] * 10)
    with pytest.raises(FusionError, match="^calibration: no training scores$"):
        Calibration.fit([])
    with pytest.raises(FusionError, match="training score 1 is nan"):
        Calibration.fit([1.0, np.nan, 2.0])
    with pytest.raises(FusionError, match="low < high"):
        Calibration(low=1.0, high=1.0)


def test_fuse_sums_calibrated_streams():
    cals = {"pose": Calibration(low=0.0, high=2.0), "velocity": Calibration(low=-1.0, high=1.0)}
    fused = fuse({"pose": [0.0, 1.0, 4.0], "velocity": [-1.0, 0.0, 1.0]}, cals)
    np.testing.assert_allclose(fused, [0.0 + 0.0, 0.5 + 0.5, 2.0 + 1.0])
    with pytest.raises(FusionError, match="calibrations for"):
        fuse({"pose": [0.0]}, cals)
    with pytest.raises(FusionError, match="stream 'velocity' has 2 frames"):
        fuse({"pose": [0.0, 1.0, 4.0], "velocity": [0.0, 1.0]}, cals)
    with pytest.raises(FusionError, match="^fuse: no streams$"):
        fuse({}, cals)
    with pytest.raises(FusionError,
                       match=re.escape("fuse: stream 'pose' must be 1-D, got shape (1, 2)")):
        fuse({"pose": [[0.0, 1.0]]}, {"pose": cals["pose"]})


# ----------------------------------------------------------------------------- metrics dict


@pytest.mark.parametrize("percentile", [0, -1, 100.5])
def test_calibration_percentile_outside_0_100_is_refused(percentile):
    with pytest.raises(FusionError, match=re.escape(
            f"calibration percentile must be in (0, 100], got {percentile}")):
        Calibration.fit([1.0, 2.0], percentile=percentile)
    assert Calibration.fit([0.0, 1.0, 2.0], percentile=0.5).high == pytest.approx(0.01)


def test_calibration_spread_threshold_is_1e_12_relative_to_max_1_and_low():
    assert Calibration.fit([0.0, 0.5], percentile=100).high == 0.5  # small but real spreads
    assert Calibration(low=0.0, high=1.5e-12).high == 1.5e-12  # above 1e-12 * max(1, 0)
    for low, high in ((0.0, 1e-12), (1e6, 1e6 + 1e-7), (-1e6, -1e6 + 1e-7)):
        with pytest.raises(FusionError, match="apart by more than rounding"):
            Calibration(low=low, high=high)
    assert Calibration(low=1e6, high=1e6 + 1e-5).high == 1e6 + 1e-5
    for low, high in ((0.0, math.inf), (-math.inf, 0.0), (0.0, math.nan)):
        with pytest.raises(FusionError, match="finite low < high"):
            Calibration(low=low, high=high)


@given(st.lists(st.floats(-1e9, 1e9), min_size=2, max_size=200),
       st.lists(st.floats(-1e10, 1e10), min_size=1, max_size=20))
@settings(max_examples=50, deadline=None)
def test_calibration_is_monotone_and_maps_min_to_0_and_percentile_to_1(train, test):
    try:
        cal = Calibration.fit(train)
    except FusionError:
        assume(False)  # constant up to the percentile: refused, tested in test_protocol
    ordered = np.sort(test)
    assert np.all(np.diff(cal.transform(ordered)) >= 0)
    assert cal.transform(min(train)) == 0.0
    assert cal.transform(cal.high) == pytest.approx(1.0)
    assert cal.transform(train).min() == 0.0


def test_calibration_of_a_subnormal_spread_is_refused_or_finite():
    # the branch taken: refused (a spread below rounding would map scores to inf), while a
    # spread just above the rounding threshold is finite
    with pytest.raises(FusionError, match="constant up to the 99.9th percentile"):
        Calibration.fit([0.0, 2.2250738585e-313])
    cal = Calibration.fit([0.0, 1e-11], percentile=100)
    assert cal.transform([1e-11]) == 1.0 and np.isfinite(cal.transform([1.0])).all()


def test_sidak_frames_by_hand():
    """Reference 1, 2, 3, 4 (n = 4): p(s) = (1 + #{ref >= s}) / 5. Frame 0: one object at 5,
    p 0.2 -> -log 0.2. Frame 1: 2.5 (p 0.6) and 0.5 (p 1): -log(1 - 0.4^2). Frame 2: none
    -> 0. Frame 3: three objects at 5: -log(1 - 0.8^3), below frame 0's: the same largest
    score among more objects is less surprising."""
    scores = sidak_frames([5.0, 2.5, 0.5, 5.0, 5.0, 5.0], [0, 1, 1, 3, 3, 3], 4,
                          [3.0, 1.0, 4.0, 2.0])
    expected = [-math.log(0.2), -math.log(1 - 0.4 ** 2), 0.0, -math.log(1 - 0.8 ** 3)]
    np.testing.assert_allclose(scores, expected, rtol=1e-12)


def test_sidak_frames_do_not_grow_with_the_crowd_under_independent_draws():
    """Objects drawn from the reference distribution: the score is -log of a uniform, Exp(1)
    whatever k, so frames of 1 and of 10 objects average 1; the plain maximum grows with k."""
    rng = np.random.default_rng(0)
    reference = rng.standard_normal(100_000)
    for k in (1, 10):
        frames = 4000
        s = rng.standard_normal(frames * k)
        idx = np.repeat(np.arange(frames), k)
        assert sidak_frames(s, idx, frames, reference).mean() == pytest.approx(1.0, abs=0.05)
    assert objects_to_frames(s, idx, frames).mean() > 1.5  # k = 10: E max of 10 normals 1.54


def test_sidak_frames_refuse_bad_input():
    with pytest.raises(FusionError, match="reference"):
        sidak_frames([1.0], [0], 1, [])
    with pytest.raises(FusionError, match="outside"):
        sidak_frames([1.0], [3], 2, [0.0, 1.0])


def test_sidak_objects_by_hand_and_their_frame_maximum_is_the_frame_score():
    """The reference and objects of test_sidak_frames_by_hand: frame 1's 2.5 (p 0.6, k 2)
    scores -log(1 - 0.4^2) and its 0.5 (p 1) 0; frame 3's three objects at 5 each
    -log(1 - 0.8^3); the largest per frame is sidak_frames' score."""
    s, idx, ref = [5.0, 2.5, 0.5, 5.0, 5.0, 5.0], [0, 1, 1, 3, 3, 3], [3.0, 1.0, 4.0, 2.0]
    objects = sidak_objects(s, idx, 4, ref)
    np.testing.assert_allclose(objects, [-math.log(0.2), -math.log(1 - 0.4 ** 2), 0.0]
                               + [-math.log(1 - 0.8 ** 3)] * 3, rtol=1e-12)
    frames = sidak_frames(s, idx, 4, ref)
    np.testing.assert_allclose(objects_to_frames(objects, idx, 4, empty=0.0), frames,
                               rtol=1e-12)
    with pytest.raises(FusionError, match="reference"):
        sidak_objects([1.0], [0], 1, [])


ONE_IN_100 = {"frame": 99, "velocity": 99}  # training frames with objects, per stream


def _fitted(folds=4, components=None, rows=210):
    """A stand-in for a fitted `StreamEnsemble`: what `warn_below_calibration` reads."""
    from types import SimpleNamespace

    model = SimpleNamespace() if components is None else SimpleNamespace(
        components_=np.zeros((components, 5)))
    fit = SimpleNamespace(model=model, dim=1280 if components else 16, train_objects=rows)
    return SimpleNamespace(fits_={"frame": fit, "velocity": fit}, calibration_folds=folds)


def test_below_calibration_flags_a_stream_most_of_whose_frames_fall_below_zero():
    from mulde.vad.fusion import CalibrationWarning, warn_below_calibration

    with pytest.warns(CalibrationWarning) as caught:
        flagged = warn_below_calibration(_fitted(3, components=128),
                                         {"frame": (6, 10, 0), "velocity": (1, 10, 0)},
                                         {"frame": 210, "velocity": 210})
    assert flagged == ["frame (60% of 10 frames)"]
    assert len(caught) == 1
    said = str(caught[0].message)
    assert said.startswith("stream frame: 60% of the 10 test frames score below every "
                           "training frame its calibration saw")
    assert "expected about 1 in 211" in said
    assert "each of the 3 calibration folds" in said
    assert "as happens with few training rows per feature" in said
    assert ("(210 training rows of 128 principal components of 1280 features: fewer than 10 "
            "per feature)") in said
    assert said.endswith("train on more normal video, or reduce the stream (--pca frame=K "
                         "with K at most 21)")


def test_below_calibration_leaves_out_the_frames_without_objects():
    """An empty scene scores low with nothing wrong in the calibration: 100 such frames
    beside 76 with objects, 10 of them below 0, flag nothing (a newcomer's run warned of
    57% of 176); when most frames with objects are below, the warning counts those alone
    and says how many were left out."""
    from mulde.vad.fusion import CalibrationWarning, warn_below_calibration

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert warn_below_calibration(_fitted(), {"velocity": (10, 76, 100)}, ONE_IN_100) == []
        assert warn_below_calibration(_fitted(), {"velocity": (0, 0, 30)}, ONE_IN_100) == []
    with pytest.warns(CalibrationWarning, match=r"^stream velocity: 60% of the 5 test frames "
                      r"with objects \(the 100 without an object of their own, an empty scene, "
                      r"are left out\) score below every training frame"):
        assert warn_below_calibration(_fitted(), {"velocity": (3, 5, 100)}, ONE_IN_100) == [
            "velocity (60% of 5 frames)"]


def test_below_calibration_blames_few_rows_and_advises_pca_only_where_they_are_few():
    """33,323 rows of 8 features are thousands per feature: neither the few-rows cause nor
    --pca is said, only more training video; 5 rows of 16 features are few, but too few for
    any reduction to reach 10 per feature, so --pca is not advised either."""
    from mulde.vad.fusion import CalibrationWarning, warn_below_calibration

    many = _fitted(rows=33323)
    many.fits_["velocity"].dim = 8
    with pytest.warns(CalibrationWarning) as caught:
        warn_below_calibration(many, {"velocity": (9, 10, 0)}, ONE_IN_100)
    said = str(caught[0].message)
    assert "few training rows" not in said and "--pca" not in said
    assert "as happens when the training videos differ from one another more than new video " \
        "differs from them, or when the new video shows less than any training frame did " \
        "(objects that do not move, a still or frozen picture: check the source) (33323 " \
        "training rows of 8 features)" in said
    assert said.endswith("; train on more normal video")
    with pytest.warns(CalibrationWarning) as caught:
        warn_below_calibration(_fitted(rows=5), {"velocity": (9, 10, 0)}, ONE_IN_100)
    said = str(caught[0].message)
    assert "(5 training rows of 16 features: fewer than 10 per feature)" in said
    assert said.endswith("; train on more normal video")


def test_few_rows_per_feature_is_the_thin_set_of_the_members_rule():
    from mulde.core.training import MEMBERS_ROWS_PER_FEATURE
    from mulde.vad.fusion import FEW_ROWS_PER_FEATURE

    assert FEW_ROWS_PER_FEATURE == MEMBERS_ROWS_PER_FEATURE


def test_below_calibration_leaves_half_or_fewer_and_empty_streams_alone():
    from mulde.vad.fusion import warn_below_calibration

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert warn_below_calibration(_fitted(), {"frame": (5, 10, 0), "velocity": (0, 0, 0)},
                                      ONE_IN_100) == []
        # not fitted
        assert warn_below_calibration(_fitted(), {"other": (9, 10, 0)}, ONE_IN_100) == []


def test_below_calibration_without_folds_names_the_training_scores():
    from mulde.vad.fusion import CalibrationWarning, warn_below_calibration

    with pytest.warns(CalibrationWarning, match=r"the training scores the calibration saw are "
                      r"higher than the model's scores of new video \(210 training rows of "
                      r"16 features\)") as caught:
        warn_below_calibration(_fitted(None), {"velocity": (3, 3, 0)}, {"velocity": 7},
                               "frames watched")
    assert "100% of the 3 frames watched" in str(caught[0].message)


def _ramp_and_glitch(glitch: float | None) -> list[np.ndarray]:
    """Video 0: 199 frames from 0 to 1 (step 1/198); video 1: one frame, `glitch` (none
    when None)."""
    return [np.linspace(0.0, 1.0, 199), np.array([] if glitch is None else [glitch])]


def test_calibration_spikes_name_the_frames_that_set_the_percentile():
    """200 frames: the 99.9th percentile sits at sorted position 0.999 x 199 = 198.801,
    between the ramp's top 1 and the glitch 1,000: 1 + 0.801 x 999 = 801.199. The reference
    takes the 199 frames above the minimum 0 less the 5 highest: k / 198 for 1 <= k <= 194,
    whose 99th percentile is at position 0.99 x 193 = 191.07, (1 + 191.07) / 198. 801.199 >
    100 x that, so the glitch (video 1, frame 0) is named; the ramp's frames, below 97, are
    not."""
    frames = _ramp_and_glitch(1000.0)
    cal = Calibration.fit(np.concatenate(frames))
    assert cal.low == 0.0
    np.testing.assert_allclose(cal.high, 801.199, rtol=1e-12)
    reference = spike_reference(np.concatenate(frames), cal.low)
    np.testing.assert_allclose(reference, 192.07 / 198, rtol=1e-12)
    assert SPIKE_FRAMES == 5 and SPIKE_RATIO * reference < 801.199
    assert calibration_spikes(frames, cal) == [(1, 0, 1000.0)]


def test_calibration_spikes_see_a_glitch_of_more_than_one_percent_of_a_short_set():
    """A glitch spikes the frames whose motion is measured against it (two here) and, on 123
    training frames, those are more than 1 %: the 99th percentile of every frame is set by
    them too (position 0.99 x 122 = 120.78, 0.78 of the way from 1 to 900), so the
    reference leaves the 5 highest out first."""
    frames = [np.linspace(0.0, 1.0, 118), np.array([0.5, 1000.0, 0.5, 0.5, 900.0])]
    cal = Calibration.fit(np.concatenate(frames))
    np.testing.assert_allclose(np.percentile(np.concatenate(frames), 99), 1 + 0.78 * 899)
    assert calibration_spikes(frames, cal) == [(1, 1, 1000.0), (1, 4, 900.0)]


def test_calibration_spikes_leave_a_heavy_tail_alone():
    """Without the glitch the percentile is the ramp's own; a top frame of 50 (percentile
    1 + 0.801 x 49 = 40.249, about 41x the reference 0.97: heavier than kNN's 26 on Ped2's
    velocity stream) stays below the ratio of 100."""
    frames = _ramp_and_glitch(None)
    assert calibration_spikes(frames, Calibration.fit(np.concatenate(frames))) == []
    frames = _ramp_and_glitch(50.0)
    cal = Calibration.fit(np.concatenate(frames))
    np.testing.assert_allclose(cal.high, 40.249, rtol=1e-12)
    assert calibration_spikes(frames, cal) == []


def test_calibration_spikes_compare_with_the_frames_that_hold_objects():
    """Frames without objects get the minimum; they are no bulk to compare with. 985 empty
    frames and 15 with objects from 0.5 to 15: the reference is the 99th percentile of the 10
    lowest of the 15, not a point near the empty frames, and nothing is named. With at most
    5 frames above the minimum there is no reference at all."""
    frames = [np.r_[np.zeros(985), np.linspace(0.5, 15.0, 15)]]
    cal = Calibration.fit(frames[0])
    # every frame's 5 highest left out, the 99th percentile would sit near the empty frames
    assert np.percentile(np.sort(frames[0])[:-5], 99) < 0.1
    np.testing.assert_allclose(spike_reference(frames[0], cal.low),
                               np.percentile(np.linspace(0.5, 15.0, 15)[:10], 99))
    assert calibration_spikes(frames, cal) == []
    frames = [np.zeros(995), np.array([5.0, 6.0, 7.0, 8.0, 9.0])]
    cal = Calibration.fit(np.concatenate(frames))
    assert spike_reference(np.concatenate(frames), cal.low) is None
    assert calibration_spikes(frames, cal) == []


def test_calibration_spikes_are_every_frame_over_the_line_highest_first():
    frames = [np.linspace(0.0, 1.0, 997), np.array([500.0, 0.5, 3000.0]),
              np.array([2000.0, 1000.0])]
    cal = Calibration.fit(np.concatenate(frames))
    assert calibration_spikes(frames, cal) == [(1, 2, 3000.0), (2, 0, 2000.0), (2, 1, 1000.0),
                                               (1, 0, 500.0)]
