"""The helpers of the detector benchmarks (benchmarks/detector_every.py), by hand values."""

from __future__ import annotations

import pytest

pytest.importorskip("cv2")
from detector_every import policy_recall  # noqa: E402


def test_policy_recall_is_the_mean_recall_over_the_cycle_by_hand():
    hits, totals = [10, 9, 6, 4], [10, 10, 8, 8]  # R_j = 1, 0.9, 0.75, 0.5
    assert policy_recall(hits, totals, 1) == pytest.approx(1.0)
    assert policy_recall(hits, totals, 2) == pytest.approx(0.95)
    assert policy_recall(hits, totals, 4) == pytest.approx((1 + 0.9 + 0.75 + 0.5) / 4)
    assert policy_recall([0, 0], [0, 0], 2) == 0.0  # no reference box: no recall, no error


def test_pose_confidence_rule_picks_the_smallest_passing_level_by_hand():
    import numpy as np
    from detector_pose_confidence import choose, keep

    from mulde.video.features.records import ObjectFeatures

    levels, kept = [0.0, 0.2, 0.3, 0.4], [1.0, 0.8, 0.3, 0.1]
    assert choose(levels, [0.3, 0.15, 0.05, -0.2], kept) == 0.3  # 0.4 keeps too few
    assert choose(levels, [0.3, 0.1, 0.05, 0.0], kept) == 0.2  # rho <= 0.1 passes
    assert choose(levels, [0.3, 0.2, 0.15, 0.0], kept) is None  # none passes: no rule
    record = ObjectFeatures.build(np.arange(6.0).reshape(3, 2), [0, 0, 2],
                                  [[0, 0, 1, 1]] * 3, 3, 2)
    left = keep(record, np.array([0.5, 0.1, 0.3]), 0.3)
    assert left.features.tolist() == [[0, 1], [4, 5]] and left.frame_index.tolist() == [0, 2]


def test_cache_compare_counts_person_recall_frame_by_frame_by_hand():
    import numpy as np
    from detector_cache_compare import PERSON, compare_boxes

    # frame 0: two persons, the candidate finds one (shifted 1 px on a 10 px box: IoU 0.82)
    # and a bicycle (not a person: not counted); frame 1: one person, found exactly
    ref = np.array([[0, 0, 0, 10, 10, 0.9, PERSON], [0, 50, 50, 60, 60, 0.8, PERSON],
                    [1, 0, 0, 10, 10, 0.9, PERSON]])
    cand = np.array([[0, 1, 0, 11, 10, 0.9, PERSON], [0, 50, 50, 60, 60, 0.8, 2],
                     [1, 0, 0, 10, 10, 0.7, PERSON]])
    out = compare_boxes(ref, cand)
    assert (out["reference_persons"], out["matched_persons"]) == (3, 2)
    assert out["recall"] == pytest.approx(2 / 3)
    assert out["max_box_diff"] is None  # the classes differ: rows are not comparable
    same = compare_boxes(ref, ref + [0, 0.5, 0, 0, 0, -0.1, 0])
    assert same["recall"] == 1.0 and same["max_box_diff"] == 0.5
    assert same["max_score_diff"] == pytest.approx(0.1)


def test_motion_crops_pad_grow_clip_and_merge_by_hand():
    from detector_crops import motion_crops

    # a 20 x 40 box padded by 16: (84, 84, 136, 156), 52 wide -> grown to 64 about x = 110
    assert motion_crops([(100, 100, 120, 140)], 360, 240) == [(78, 84, 142, 156)]
    # at the corner: padded (-11, -11, 21, 21) grown to 64 about 5 -> (-27, 37), clipped
    assert motion_crops([(5, 5, 5, 5)], 360, 240) == [(0, 0, 37, 37)]
    # two crops that overlap merge into their bounding box; a far one stays apart
    crops = motion_crops([(100, 100, 120, 140), (130, 110, 150, 150), (300, 10, 320, 30)],
                         360, 240)
    assert crops == [(278, 0, 342, 52), (78, 84, 172, 166)]  # far: 52 -> 64 about (310, 20)
    # crops that only touch stay apart; no components: no crops
    assert motion_crops([(0, 0, 64, 64), (96, 0, 160, 64)], 360, 240, pad=16,
                        min_side=0) == [(0, 0, 80, 80), (80, 0, 176, 80)]
    assert motion_crops([], 360, 240) == []


def test_the_pose_crowd_sidak_command_in_its_docstring_parses():
    """The docstring's command is what a reader reruns: it must be one the script takes."""
    import shlex

    import detector_pose_crowd_sidak as bench

    doc = bench.__doc__.replace("\\\n", " ")
    line = next(ln for ln in doc.splitlines() if "detector_pose_crowd_sidak.py" in ln)
    argv = shlex.split(line.split("detector_pose_crowd_sidak.py", 1)[1])
    args = bench.build_parser().parse_args(argv)
    assert args.key.startswith("objects-")


def test_stream_scores_find_the_one_extraction_of_a_video(tmp_path):
    """detector_stream_scores reads the cache key from the cached test files, and asks for
    --key when a video has no extraction or several."""
    from detector_stream_scores import cache_key

    folder = tmp_path / "ucsd_ped2" / "test"
    folder.mkdir(parents=True)
    (folder / "01.objects-aaa.npz").touch()
    (folder / "01.objects-aaa.json").touch()
    (folder / "02.objects-bbb.npz").touch()
    assert cache_key(tmp_path, "ucsd_ped2", "01") == "objects-aaa"
    with pytest.raises(SystemExit, match="found none: give --key"):
        cache_key(tmp_path, "ucsd_ped2", "03")
    (folder / "01.objects-ccc.npz").touch()
    with pytest.raises(SystemExit, match="objects-aaa.*objects-ccc.*give --key"):
        cache_key(tmp_path, "ucsd_ped2", "01")


class _MirrorPose:
    """A pose model that sees the body: keypoint k at (x0 + u_k w, y0 + v_k h) in its box,
    with a keypoint and its left-right counterpart m(k) at u_m(k) = 1 - u_k, v_m(k) = v_k."""

    def keypoints(self, frame, boxes):
        import numpy as np

        b = np.asarray(boxes, np.float64)
        u = np.r_[0.5, np.repeat(np.linspace(0.1, 0.4, 8), 2)]
        u[2::2] = 1 - u[2::2]  # COCO: 1, 3, ... left; 2, 4, ... their right counterparts
        v = np.r_[0.05, np.repeat(np.linspace(0.1, 0.9, 8), 2)]
        out = np.zeros((len(b), 17, 3))
        out[:, :, 0] = b[:, :1] + u * (b[:, 2:3] - b[:, :1])
        out[:, :, 1] = b[:, 1:2] + v * (b[:, 3:4] - b[:, 1:2])
        out[:, :, 2] = 0.25
        return out


def test_flip_error_is_zero_for_a_mirror_consistent_model_and_grows_when_it_is_not():
    import numpy as np
    from detector_pose_models import MIRRORED, flip_error

    assert sorted(MIRRORED) == list(range(17))
    assert all(MIRRORED[MIRRORED[k]] == k for k in range(17))
    frame = np.zeros((40, 60, 3), np.uint8)
    boxes = np.array([[10.0, 5.0, 20.0, 35.0], [30.0, 0.0, 50.0, 20.0]])
    confidence, error = flip_error(_MirrorPose(), frame, boxes)
    np.testing.assert_allclose(confidence, 0.25)
    np.testing.assert_allclose(error, 0.0, atol=1e-12)

    class Shifted(_MirrorPose):  # 3 px to the right whatever the image: not mirror-consistent
        def keypoints(self, frame, boxes):
            out = super().keypoints(frame, boxes)
            out[:, :, 0] += 3.0
            return out

    _, error = flip_error(Shifted(), frame, boxes)
    # the mirrored run's +3 comes back as -3: 6 px apart, in box heights 30 and 20
    np.testing.assert_allclose(error, [6 / 30, 6 / 20])


def test_people_per_frame_come_from_the_pose_stream_else_the_class_streams_person_slot():
    import numpy as np
    from detector_stream_counts import people

    from mulde.video.features.records import ObjectFeatures, Stream, VideoFeatures

    cls = np.zeros((4, 7))
    cls[[0, 1, 3], 0] = 0.9  # persons in frames 0, 0, 2; the third object is a bicycle
    cls[2, 1] = 0.8
    klass = ObjectFeatures.build(cls, np.array([0, 0, 1, 2]), np.zeros((4, 4)), 3, 7)
    assert people(VideoFeatures({Stream.CLASS: klass}, 3)).tolist() == [2, 0, 1]
    pose = ObjectFeatures.build(np.zeros((1, 34)), np.array([1]), np.zeros((1, 4)), 3, 34)
    both = VideoFeatures({Stream.CLASS: klass, Stream.POSE: pose}, 3)
    assert people(both).tolist() == [0, 1, 0]


def test_best_in_region_takes_the_class_boxes_centred_inside_by_hand():
    import numpy as np
    from detector_far_objects import best_in_region

    boxes = np.array([[0, 0, 10, 10], [8, 8, 12, 12], [20, 20, 30, 30], [0, 0, 20, 20]],
                     np.float32)  # centres (5, 5), (10, 10), (25, 25), (10, 10)
    classes, scores = np.array([2, 2, 2, 1]), np.array([0.3, 0.2, 0.9, 0.8], np.float32)
    assert best_in_region(boxes, classes, scores, (0, 0, 10, 10), 2) == pytest.approx(0.3)
    assert best_in_region(boxes, classes, scores, (6, 6, 10, 10), 2) == pytest.approx(0.2)
    assert best_in_region(boxes, classes, scores, (0, 0, 10, 10), 1) == pytest.approx(0.8)
    assert best_in_region(boxes, classes, scores, (40, 40, 50, 50), 2) == 0.0


def test_missed_frames_are_the_anomalous_ones_at_or_below_the_top_normal_frame(tmp_path):
    from detector_far_objects import missed_frames

    csv = tmp_path / "frame_scores.csv"
    csv.write_text("video,frame,label,score,score_unsmoothed\n"
                   "06,0,1,0.5,0\n06,1,1,2.0,0\n06,2,0,0.9,0\n06,3,1,0.9,0\n07,0,1,0.1,0\n")
    assert missed_frames(csv, "06") == ([0, 3], 3)  # 0.5 and 0.9 <= 0.9; 2.0 is above
    assert missed_frames(csv, "07") == ([], 1)  # no normal frame: nothing to miss against
