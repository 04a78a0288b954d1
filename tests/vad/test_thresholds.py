"""Alert thresholds (`mulde.vad.thresholds`): events counted as `find_events` finds them, the
events-per-hour, quantile and value rules, and the false-alarm rate on held-out videos."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mulde.vad.events import find_events
from mulde.vad.thresholds import (
    count_events,
    events_per_hour,
    fit_threshold,
    held_out_rate,
    smooth_scores,
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 4), max_size=40), st.integers(0, 4), st.integers(1, 4))
def test_count_events_is_what_find_events_finds(scores, threshold, patience):
    assert count_events(np.array(scores, float), threshold, patience) == len(
        find_events(scores, threshold, patience))


def test_events_per_hour_by_hand():
    # 3600 frames at 1 frame/s = one hour; two runs above 5 (frames 10-11 and 100)
    s = np.zeros(3600)
    s[[10, 11, 100]] = 9.0
    assert events_per_hour([s], 5.0, fps=1.0) == 2.0
    assert events_per_hour([s[:1800], s[1800:]], 5.0, fps=2.0) == 4.0  # half an hour


def test_no_event_allowed_in_less_than_an_hour_gives_the_top_training_score():
    """Ten minutes of video cannot vouch for one event per hour: the threshold is the
    highest (smoothed) training score, so the training videos raise no alert at all."""
    rng = np.random.default_rng(0)
    videos = [rng.normal(size=3000), rng.normal(size=3000)]  # 2 x 2 min at 25 frames/s
    fit = fit_threshold(videos, fps=25.0, sigma=0.0)
    assert fit.value == max(v.max() for v in videos)
    assert fit.train_events_per_hour == 0.0
    np.testing.assert_allclose(fit.resolution_per_hour, 15.0)  # one event per 4 minutes
    assert fit.rule == "events_per_hour" and fit.target == 1.0
    assert fit.too_short() == (
        "the training videos last 4.0 min in all: one false alarm there is already 15 per "
        "hour, above the target of 1, so the rate cannot be checked; train on at least 60 min "
        "of normal video for a threshold that keeps it")
    assert "at least 6 min" in fit_threshold(videos, 25.0, 0.0, target=11.0).too_short()  # 5.45
    assert fit_threshold(videos, fps=25.0, sigma=0.0, target=0.0).too_short() is None
    short = fit_threshold([v[:300] for v in videos[:1]], 25.0, 0.0).too_short()  # 12 s
    assert short.startswith("the training videos last 12 s in all: one false alarm there is "
                            "already 300 per hour")
    assert fit_threshold(videos, fps=25.0, sigma=0.0, target=15.0).too_short() is None
    assert fit_threshold(videos, 25.0, 0.0, "quantile", 0.99).too_short() is None


def test_events_per_hour_rule_lowers_the_threshold_to_the_allowed_count():
    """Two hours at 1 frame/s, target 1 per hour: two events allowed. Peaks 9, 8, 7 on a
    floor of 0: the threshold may go down to 7 (two events above it) but not below."""
    s = np.zeros(7200)
    s[[100, 2000, 5000]] = [9.0, 8.0, 7.0]
    fit = fit_threshold([s], fps=1.0, sigma=0.0, target=1.0)
    assert fit.value == 7.0 and fit.train_events_per_hour == 1.0
    assert len(find_events(s, fit.value)) == 2


def test_quantile_and_value_rules():
    s = np.arange(101, dtype=float)
    assert fit_threshold([s], 1.0, 0.0, "quantile", 0.9).value == 90.0
    assert fit_threshold([s], 1.0, 0.0, "value", 42.0).value == 42.0


def test_threshold_is_fitted_on_smoothed_scores():
    s = np.zeros(200)
    s[100] = 10.0
    fit = fit_threshold([s], fps=1.0, sigma=3.0)
    assert fit.value == pytest.approx(smooth_scores(s, 3.0).max())
    assert fit.value < 10.0 / 5  # a one-frame spike is spread over the Gaussian


@pytest.mark.parametrize("kwargs, message", [
    ({"rule": "median"}, "rule"), ({"target": -1.0}, "events per hour"),
    ({"rule": "quantile", "target": 2.0}, "quantile"), ({"fps": 0.0}, "fps"),
    ({"patience": 0}, "patience")])
def test_bad_threshold_settings_are_named(kwargs, message):
    args = {"fps": 1.0, "sigma": 0.0} | kwargs
    with pytest.raises(ValueError, match=message):
        fit_threshold([np.zeros(5)], **args)


def test_held_out_rate_refits_without_each_fold():
    """Four 1-hour videos at 1 frame/s, one peak each (1, 2, 3, 4), target 1 per hour. Each
    fold holds out one video; the other three (3 hours: 3 events allowed) put the threshold
    on their floor 0 (their 3 peaks fire, no more), so each held-out peak fires once: 4
    events in 4 hours."""
    videos = []
    for k in range(4):
        v = np.zeros(3600)
        v[1000] = k + 1.0
        videos.append(v)
    fit = fit_threshold(videos, 1.0, 0.0, target=1.0)
    assert fit.value == 0.0  # 4 hours: 4 events allowed, so every peak may fire
    held = held_out_rate(videos, fit, folds=4)
    assert held["folds"] == 4 and held["hours"] == 4.0
    assert held["events"] == 4 and held["events_per_hour"] == 1.0
    # the folds are the check's own (there without calibration folds); in-sample scores hold
    # out the threshold only, which the record says
    assert ("each of 4 folds of the training videos (the folds of this check, not the "
            "calibration's)") in held["definition"]
    assert "new to the models too" in held["definition"]  # fit_threshold's default
    in_sample = fit_threshold(videos, 1.0, 0.0, target=1.0, out_of_sample=False)
    assert ("only the threshold is held out and the rate is optimistic"
            in held_out_rate(videos, in_sample, folds=2)["definition"])


def test_held_out_rate_counts_what_the_others_threshold_misses():
    """Target 0 events: the threshold of the other videos is their highest score; a held-out
    video with a higher peak raises one false alarm there."""
    videos = [np.r_[np.zeros(99), 1.0], np.r_[np.zeros(99), 1.0], np.r_[np.zeros(99), 5.0]]
    fit = fit_threshold(videos, 1.0, 0.0, target=0.0)
    held = held_out_rate(videos, fit, folds=3)
    assert held["events"] == 1  # video 2 (peak 5) above the others' threshold 1
    assert held["frames_above"] == pytest.approx(1 / 300)


def test_video_lengths_read_in_seconds_under_a_minute():
    from mulde.vad.thresholds import video_length

    assert video_length(70 / 25 / 3600) == "3 s"  # 70 frames at 25/s: not "0.0 min"
    assert video_length(59 / 3600) == "59 s"
    assert video_length(1 / 60) == "1.0 min"
    assert video_length(1.7 / 60) == "1.7 min"


def test_frame_rates_read_to_two_decimals_in_messages():
    """The mean rate of training files at 25 and 30 frames/s read "25.8696" in `mulde watch`
    and `mulde info`; messages give two decimals at most, and whole rates bare."""
    from mulde.vad.thresholds import rate_text

    assert rate_text(1190 / 46.0) == "25.87"
    assert rate_text(30000 / 1001) == "29.97"
    assert [rate_text(r) for r in (25, 25.0, 12.5, 8.333333)] == ["25", "25", "12.5", "8.33"]
