"""Live frame-centric features (mulde.video.features.online_frames): the window embeddings of
`FrameCentricExtractor.extract`, one frame at a time, and live scores of a frames model."""

import numpy as np
import pytest
from fakes import MeanBackbone

from mulde.vad.ensemble import StreamEnsemble
from mulde.vad.live import LiveScorer
from mulde.video import backbones as backbone_module
from mulde.video.features.frame_centric import FrameCentricExtractor
from mulde.video.features.online import OnlineObjectExtractor, frames_to_features
from mulde.video.features.online_frames import OnlineFrameExtractor, online_extractor
from mulde.video.features.records import Stream


@pytest.fixture
def mean_backbone(monkeypatch):
    """The 1-d backbone of the mean pixel value: its embedding of a frame is the same alone
    or in a batch, so live and offline features can be compared bit for bit."""
    monkeypatch.setitem(backbone_module.BACKBONES, "mean", MeanBackbone)
    backbone_module.load_backbone.cache_clear()
    yield
    backbone_module.load_backbone.cache_clear()


def _frames(n, seed=0, shape=(12, 16)):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (*shape, 3), dtype=np.uint8) for _ in range(n)]


@pytest.mark.parametrize("policy", ["clamp", "shift"])
@pytest.mark.parametrize("length,n", [(16, 40), (5, 12), (4, 3), (1, 6), (16, 1)])
def test_live_window_embeddings_are_the_offline_ones(mean_backbone, policy, length, n):
    """Every frame's feature and box equal `extract`'s on the same frames, each frame
    returned as soon as its window is fixed (clamp: after frame t + (length - 1) // 2;
    shift: after the last frame of its window, frames 0 .. length - 1 near the start), the
    rest by finish, and no more than `length` embeddings kept."""
    ex = FrameCentricExtractor(backbone="mean", length=length, size=8, policy=policy)
    frames = _frames(n)
    offline = ex.extract(frames)[Stream.FRAME]
    online = OnlineFrameExtractor(ex)
    out, after = [], (length - 1) // 2
    for i, frame in enumerate(frames):
        got = online.push(frame)
        if policy == "clamp":
            assert [f.index for f in got] == ([i - after] if i >= after else [])
        else:  # a window's last frame has just arrived
            assert [max(0, f.index - length // 2) + length - 1 for f in got] == [i] * len(got)
        assert len(online._embedded) <= length
        out += got
    out += online.finish()
    assert [f.index for f in out] == list(range(n))
    if (policy, length, n) == ("shift", 5, 12):  # by hand: frames 0-2 wait for frame 4
        assert [online.ready_after(t) for t in range(5)] == [5, 5, 5, 6, 7]
    _assert_same(out, online, offline)


def _assert_same(out, online, offline):
    live = frames_to_features(out, online.dims)[Stream.FRAME]
    np.testing.assert_array_equal(live.features, offline.features)
    np.testing.assert_array_equal(live.boxes, offline.boxes)
    np.testing.assert_array_equal(live.frame_index, offline.frame_index)


@pytest.mark.parametrize("policy", ["clamp", "shift"])
@pytest.mark.parametrize("stride", [2, 3, 5])
@pytest.mark.parametrize("length,n", [(16, 40), (5, 12), (4, 3), (3, 11), (1, 7), (16, 1)])
def test_a_strided_extractor_is_live_as_offline(mean_backbone, policy, stride, length, n):
    """With a stride, each frame takes the nearest centre's window as offline (the last
    frame a centre too), whatever the stream's length; a frame waits at most stride // 2
    frames more than at stride 1, and between pushes at most three window means are kept."""
    ex = FrameCentricExtractor(backbone="mean", length=length, stride=stride, size=8,
                               policy=policy)
    frames = _frames(n, seed=stride)
    offline = ex.extract(frames)[Stream.FRAME]
    online = OnlineFrameExtractor(ex)
    out = []
    for i, frame in enumerate(frames):
        out += online.push(frame)
        due = [t for t in range(i + 1) if online.ready_after(t) + stride // 2 <= i + 1]
        assert len(out) >= len(due)
        assert len(online._means) <= 3 and len(online._embedded) <= length
    out += online.finish()
    assert [f.index for f in out] == list(range(n))
    _assert_same(out, online, offline)


def test_a_strided_frame_waits_for_the_nearer_centre(mean_backbone):
    """Stride 4 (centres 0, 4, 8, ...), length 1, by hand: frame 1 takes centre 0 once frame
    2 has arrived (a stream ending at frame 1 would make it its own centre); frame 2, tied
    between centres 0 and 4, takes 0 only once frame 4 has arrived (a stream ending at frame
    2 or 3 would make that frame a nearer centre), and frame 3 takes centre 4 then."""
    online = OnlineFrameExtractor(FrameCentricExtractor(backbone="mean", length=1, stride=4,
                                                        size=8))
    frames = _frames(5)
    got = [[f.index for f in online.push(frame)] for frame in frames[:4]]
    assert got == [[0], [], [1], []]
    assert [online.centre_of(t) for t in (1, 2, 3)] == [0, None, None]
    assert [f.index for f in online.push(frames[4])] == [2, 3, 4]
    assert [online.centre_of(t) for t in (2, 3)] == [0, 4]
    assert online.finish() == []


def test_settings_not_run_live_and_bad_frames_are_refused(mean_backbone):
    with pytest.raises(ValueError, match="with the hiera video backbone, which is not run"):
        OnlineFrameExtractor(FrameCentricExtractor(backbone="hiera"))
    online = OnlineFrameExtractor(FrameCentricExtractor(backbone="mean", size=8), "cam")
    online.push(_frames(1)[0])
    with pytest.raises(ValueError, match=r"cam: frame 1 is 20x10, the first frame 16x12"):
        online.push(_frames(1, shape=(10, 20))[0])
    with pytest.raises(ValueError, match=r"cam: frame 1: need RGB uint8"):
        online.push(np.zeros((12, 16), np.uint8))


@pytest.mark.parametrize("crop", [False, True])
def test_a_camera_of_another_aspect_ratio_is_warned_about(mean_backbone, crop):
    """Training video 16x12 (aspect 1.33): a 32x24 camera is resized alike (no warning); a
    32x18 one (1.78) is stretched (or cut) otherwise, which the warning says, once; an 8x6
    one holds less detail, which it says too."""
    import warnings

    from mulde.video.features.online import FrameSizeWarning

    ex = FrameCentricExtractor(backbone="mean", size=8, center_crop=crop)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same = OnlineFrameExtractor(ex, "cam", trained_shape=(12, 16))
        for frame in _frames(2, shape=(24, 32)):
            same.push(frame)
    wide = OnlineFrameExtractor(ex, "cam", trained_shape=(12, 16))
    changed = "cut" if crop else "stretched"
    with pytest.warns(FrameSizeWarning, match=rf"^cam: frames are 32x18 \(aspect 1.78\) but "
                      rf"the model was trained on 16x12 video \(aspect 1.33\).*this view is "
                      rf"{changed} otherwise than in training") as caught:
        for frame in _frames(3, shape=(18, 32)):
            wide.push(frame)
    assert len(caught) == 1
    small = OnlineFrameExtractor(ex, "cam", trained_shape=(12, 16))
    with pytest.warns(FrameSizeWarning, match=r"^cam: frames are 8x6 \(aspect 1.33\) but the "
                      r"model was trained on 16x12 video \(aspect 1.33\); the frames hold "
                      r"less detail than the training ones \(the backbone sees them "
                      r"enlarged\) and the scores may not compare"):
        small.push(_frames(1, shape=(6, 8))[0])


def test_the_live_form_follows_the_extractor(mean_backbone):
    from mulde.video.features.registry import build_extractor

    frames = FrameCentricExtractor(backbone="mean")
    assert isinstance(online_extractor(frames), OnlineFrameExtractor)
    assert frames.streams == (Stream.FRAME,)
    objects = build_extractor("objects:ped2")
    assert isinstance(online_extractor(objects), OnlineObjectExtractor)


@pytest.mark.parametrize("stride", [1, 3])
def test_a_frames_model_scores_live_as_offline(mean_backbone, stride):
    """`mulde watch` on a frames model: the live scorer's unsmoothed scores are the offline
    `score_video` scores of the same frames (strided too)."""
    ex = FrameCentricExtractor(backbone="mean", length=4, size=8, stride=stride)
    train = {f"t{i}": ex.extract(_frames(30, seed=i)) for i in range(3)}
    ensemble = StreamEnsemble("knn").fit(train)
    test = _frames(25, seed=9)
    offline = ensemble.score_video(ex.extract(test))
    scorer = LiveScorer(ex, ensemble, sigmas=3.0)
    scores = [s for frame in test for s in scorer.push(frame)] + scorer.finish()
    assert [s.index for s in scores] == list(range(25))
    np.testing.assert_allclose([s.score for s in scores], offline.fused, rtol=1e-6, atol=1e-9)
    restarted = scorer.restart()  # a gap: nothing waiting, and a fresh window after it
    assert restarted == [] and isinstance(scorer.online, OnlineFrameExtractor)
