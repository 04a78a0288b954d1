"""The trained pipeline as one artefact (`mulde.vad.artifact.PipelineModel`): save/load round
trips per stream model, the same scores after loading, the scene background carried inside,
and one-line errors naming the file for a truncated, foreign, newer or other-extractor model."""

import json
import shutil

import numpy as np
import pytest
from fakes import FAST

from mulde.vad import StreamEnsemble
from mulde.vad.artifact import (
    MANIFEST,
    SELF_DIGEST,
    ArtifactError,
    PipelineModel,
    check_model_folder,
    foreign_files,
    made_from,
    manifest_digest,
    model_digest,
    saved_model_digest,
)
from mulde.video.features import ObjectFeatures, Stream, VideoFeatures
from mulde.video.features.objects import ObjectCentricExtractor


def features(rng, n_frames: int, shift: float = 0.0, dims=(("velocity", 3),)) -> VideoFeatures:
    """2 objects per frame per stream, Gaussian features (+shift)."""
    out = {}
    for name, d in dims:
        idx = np.repeat(np.arange(n_frames), 2)
        x = rng.normal(size=(len(idx), d)) + shift
        boxes = np.tile([1.0, 1.0, 5.0, 5.0], (len(idx), 1))
        out[Stream(name)] = ObjectFeatures.build(x, idx, boxes, n_frames, d)
    return VideoFeatures.of(out)


DIMS = (("velocity", 3), ("geometry", 2))


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    train = {f"t{i}": features(rng, 30, dims=DIMS) for i in range(4)}
    test = features(rng, 20, dims=DIMS)
    test[Stream.VELOCITY].features[:4] += 6.0  # frames 0-1: anomalous
    return train, test


def fitted(data, detector, folds=2):
    train, _ = data
    extractor = ObjectCentricExtractor(streams=("velocity", "geometry"))
    ens = StreamEnsemble(detector, mulde_params=dict(FAST), calibration_folds=folds)
    return PipelineModel.fit(extractor, train, ens, fps=10.0, smoothing_sigma=1.0,
                             training={"dataset": "synthetic"})


@pytest.mark.parametrize("detector", ["knn", "gmm", "mulde"])
def test_round_trip_scores_identically(data, detector, tmp_path):
    _, test = data
    model = fitted(data, detector)
    before = model.score(test)
    model.save(tmp_path / "model")
    loaded = PipelineModel.load(tmp_path / "model")
    after = loaded.score(test)
    np.testing.assert_array_equal(after.fused, before.fused)
    for s in before.streams:
        np.testing.assert_array_equal(after.streams[s], before.streams[s])
    assert loaded.streams == [Stream.GEOMETRY, Stream.VELOCITY]
    assert loaded.threshold == model.threshold
    assert (loaded.fps, loaded.smoothing_sigma) == (10.0, 1.0)
    assert loaded.extractor == model.extractor
    assert loaded.training["videos"] == 4 and loaded.training["frames"] == 120
    # what mulde watch's calibration warning counts: every frame here holds objects
    assert loaded.training["frames_with_objects"] == {"geometry": 120, "velocity": 120}
    info = loaded.describe()  # what `mulde info` prints
    assert info["streams"]["velocity"]["model"]["kind"] == detector
    assert info["streams"]["velocity"]["train_objects"] == 240
    assert info["threshold"]["held_out"] == model.threshold.held_out
    for a, b in zip(loaded.train_scores, model.train_scores, strict=True):
        np.testing.assert_array_equal(a, b)
    assert before.fused[:2].min() > model.threshold.value  # the anomaly is above it
    assert [e.start for e in loaded.events(after.fused)] == [0]


def test_threshold_is_fitted_on_out_of_fold_training_scores(data):
    model = fitted(data, "knn", folds=2)
    fit = model.threshold
    assert fit.out_of_sample and fit.rule == "events_per_hour" and fit.target == 1.0
    assert fit.patience == 10  # one second at 10 frames/s
    top = max(model.smooth(s).max() for s in model.train_scores)
    assert fit.value == top  # 12 s of training video: no event allowed
    assert fit.held_out["folds"] == 2 and fit.held_out["hours"] == pytest.approx(120 / 36000)


def test_chunks_score_as_the_whole_video(data):
    """A frame's score depends on its own objects only: `watch` may score chunk by chunk."""
    _, test = data
    model = fitted(data, "knn")
    whole = model.score(test).fused
    rec = test[Stream.VELOCITY]

    def chunk(vf, lo, hi):
        out = {}
        for s, r in vf.items():
            keep = (r.frame_index >= lo) & (r.frame_index < hi)
            out[s] = ObjectFeatures(r.features[keep], r.frame_index[keep] - lo, hi - lo,
                                    r.boxes[keep])
        return VideoFeatures.of(out)

    parts = [model.score(chunk(test, lo, min(lo + 7, rec.n_frames))).fused
             for lo in range(0, rec.n_frames, 7)]
    np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_scene_background_travels_inside_the_model(tmp_path):
    rng = np.random.default_rng(1)
    videos = [[rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(6)]
              for _ in range(2)]
    extractor = ObjectCentricExtractor(streams=("velocity", "static")).with_scene(
        videos, tmp_path / "scene")
    train = {f"v{i}": extractor.extract(v) for i, v in enumerate(videos)}
    frames = videos[0]
    model = PipelineModel.fit(extractor, train, StreamEnsemble("knn"), fps=25.0)
    model.save(tmp_path / "model")
    shutil.rmtree(tmp_path / "scene")  # the training run's copy is gone
    loaded = PipelineModel.load(tmp_path / "model")
    assert loaded.extractor.scene_background == str(tmp_path / "model" / "scene" / "0.png")
    np.testing.assert_array_equal(loaded.score_video(frames).fused,
                                  model.score(train["v0"]).fused)


def test_a_view_is_one_the_model_has_and_an_error_names_those(tmp_path):
    """extractor_for: a view of a model of several names the views it has; a model of one
    view (with its scene background) and one without any say so; none says it was 'trained
    without a scene background' when it has one."""
    rng = np.random.default_rng(2)
    videos = [[rng.integers(0, 255, (24, 32, 3), dtype=np.uint8) for _ in range(4)]]
    extractor = ObjectCentricExtractor(streams=("velocity", "static")).with_scene(
        videos, tmp_path / "scene")
    model = PipelineModel(extractor, StreamEnsemble("knn"))  # the views need no fitting
    scene = extractor.scene_background
    with pytest.raises(ArtifactError) as err:
        model.extractor_for("3")
    assert str(err.value) == (
        "the model has no camera view '3': it has one view, the unnamed one of its training "
        f"videos (scene background {scene}), which is used when --view is left out")
    assert model.extractor_for("") is model.extractor_for(None) is model.extractor
    model.scene_backgrounds = {"north": scene, "east": scene}
    assert model.extractor_for("east").scene_background == scene
    with pytest.raises(ArtifactError, match=r"^the model has no camera view '3': its training "
                       r"videos showed the views east, north, one scene background each; "
                       r"--view must be one of them$"):
        model.extractor_for("3")
    with pytest.raises(ArtifactError, match=r"^the model has no camera views \(its objects "
                       r"extractor uses no scene background\), so view '3' does not apply: "
                       r"leave --view out$"):
        PipelineModel(ObjectCentricExtractor(streams=("velocity",)),
                      StreamEnsemble("knn")).extractor_for("3")


def test_saving_replaces_a_model_but_never_another_folder(data, tmp_path):
    model = fitted(data, "knn")
    model.save(tmp_path / "m")
    model.save(tmp_path / "m")  # replaced
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no temp folders left
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ArtifactError, match="not a mulde model folder"):
        model.save(tmp_path / "other")
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"
    # a user's notes put beside an earlier model (a newcomer's rerun deleted them)
    (tmp_path / "m" / "my_readme.txt").write_text("mine")
    (tmp_path / "m" / "streams" / "old.txt").write_text("mine")
    (tmp_path / "m" / ".DS_Store").write_bytes(b"\0")  # Finder's, of a model looked at: not
    (tmp_path / "m" / "streams" / "Thumbs.db").write_bytes(b"\0")  # the user's files
    assert foreign_files(tmp_path / "m") == ["my_readme.txt", "streams/old.txt"]
    with pytest.raises(ArtifactError, match=r"m: an earlier model's folder that also holds "
                       r"files a model does not write \(my_readme.txt, streams/old.txt\); "
                       "replacing the model would delete them: move them out, or give "):
        model.save(tmp_path / "m")
    assert (tmp_path / "m" / "my_readme.txt").read_text() == "mine"
    (tmp_path / "m" / "my_readme.txt").unlink()
    (tmp_path / "m" / "streams" / "old.txt").unlink()
    model.save(tmp_path / "m")  # the model's own files alone: replaced


def test_the_model_folder_check_passes_new_empty_and_model_folders_only(tmp_path):
    """`mulde run/train` check out/model with `save`'s own rule before extracting (it was
    refused only after minutes of extraction and fitting)."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "earlier").mkdir()
    (tmp_path / "earlier" / MANIFEST).write_text('{"format": "mulde-pipeline"}')
    for fine in ("new", "empty", "earlier"):
        check_model_folder(tmp_path / fine)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    (tmp_path / "afile").write_text("mine")
    (tmp_path / "kubeflow").mkdir()  # another tool's pipeline.json: not a model's folder
    (tmp_path / "kubeflow" / MANIFEST).write_text('{"pipelineSpec": {}}')
    (tmp_path / "kubeflow" / "run.yaml").write_text("mine")
    for taken in ("other", "afile", "kubeflow"):
        with pytest.raises(ArtifactError, match=f"^{tmp_path / taken}: exists and is not a "
                                                "mulde model folder; give a new or empty "
                                                "folder"):
            check_model_folder(tmp_path / taken)
    # a feature cache beside the model folder passes; inside it (or it) is refused: the new
    # model replaces the folder whole, its cache with it
    check_model_folder(tmp_path / "new", tmp_path / "cache")
    check_model_folder(tmp_path / "new", tmp_path / "new_cache")
    for inside in (tmp_path / "new", tmp_path / "new" / "features"):
        with pytest.raises(ArtifactError, match=f"^{inside}: a feature cache inside "
                                                f"{tmp_path / 'new'}, which the new model "
                                                "replaces whole"):
            check_model_folder(tmp_path / "new", inside)
    # inside another run's model folder: that model's next save would delete it or refuse
    with pytest.raises(ArtifactError, match=f"^{tmp_path / 'earlier' / 'c'}: a feature cache "
                                            f"inside the model folder {tmp_path / 'earlier'}"):
        check_model_folder(tmp_path / "new", tmp_path / "earlier" / "c")


def test_custom_stream_model_cannot_be_saved(data, tmp_path):
    from mulde.vad import GMMStream

    class Mine(GMMStream):
        pass

    train, _ = data
    model = PipelineModel.fit(ObjectCentricExtractor(streams=("velocity", "geometry")), train,
                              StreamEnsemble(Mine), fps=10.0)
    with pytest.raises(ArtifactError, match="the Mine model of stream .* cannot be saved"):
        model.save(tmp_path / "m")
    assert not (tmp_path / "m").exists()


@pytest.fixture
def saved(data, tmp_path):
    return fitted(data, "knn").save(tmp_path / "model")


def edit_manifest(folder, change, sign=True):
    """Change the manifest as a mulde that wrote it so would have (`sign`: its own SHA-256
    recomputed), or as a hand edit does (not)."""
    m = json.loads((folder / MANIFEST).read_text())
    change(m)
    if sign:
        m[SELF_DIGEST] = manifest_digest(m)
    (folder / MANIFEST).write_text(json.dumps(m))


def test_an_edited_calibration_or_threshold_is_refused(saved):
    """An edit of pipeline.json (a calibration's high 11.7 -> 1.0) was read as it was: live
    scores ten times larger and an event, while docs/alerts.md said edits are refused (a
    newcomer's trial). The manifest now stores a SHA-256 of its own settings."""
    first = sorted(json.loads((saved / MANIFEST).read_text())["streams"])[0]
    edit_manifest(saved, lambda m: m["streams"][first]["calibration"].update(high=1.0),
                  sign=False)
    with pytest.raises(ArtifactError, match=r"pipeline\.json: its settings do not match their "
                                            r"SHA-256 \(edited or damaged after saving"):
        PipelineModel.load(saved)
    edit_manifest(saved, lambda m: m["streams"][first]["calibration"].update(high=2.0))
    assert PipelineModel.load(saved).ensemble.fits_  # re-signed, as a save would: read
    edit_manifest(saved, lambda m: m.pop(SELF_DIGEST), sign=False)  # saved before the digest
    assert SELF_DIGEST not in json.loads((saved / MANIFEST).read_text())
    PipelineModel.load(saved)


def test_truncated_stream_file_is_named(saved):
    path = saved / "streams" / "velocity.safetensors"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ArtifactError, match=r"velocity\.safetensors: its content does not"):
        PipelineModel.load(saved)


def test_truncated_manifest_is_named(saved):
    text = (saved / MANIFEST).read_text()
    (saved / MANIFEST).write_text(text[:len(text) // 2])
    with pytest.raises(ArtifactError, match=r"pipeline\.json: not readable JSON"):
        PipelineModel.load(saved)


def test_missing_folder_and_a_mulde_model_file_are_named(saved, tmp_path):
    with pytest.raises(ArtifactError, match="no such model folder"):
        PipelineModel.load(tmp_path / "nowhere")
    with pytest.raises(ArtifactError, match="pipeline.json: missing"):
        PipelineModel.load(saved / "streams")
    with pytest.raises(ArtifactError, match=r"velocity\.safetensors: a file, not a model fo"):
        PipelineModel.load(saved / "streams" / "velocity.safetensors")


def test_foreign_and_newer_formats_are_refused(saved):
    edit_manifest(saved, lambda m: m.update(format_version=99))
    with pytest.raises(ArtifactError, match="format version 99.*upgrade mulde"):
        PipelineModel.load(saved)
    for bad in (1.5, "abc", None, "2", True, 0, -1):  # not "upgrade": a changed manifest
        edit_manifest(saved, lambda m, bad=bad: m.update(format_version=bad))
        with pytest.raises(ArtifactError) as err:
            PipelineModel.load(saved)
        assert str(err.value).endswith(f"pipeline.json: format version {bad!r} is not a whole "
                                       "number from 1 to 2: the manifest was changed or "
                                       "damaged; restore it, or train the model again")
    edit_manifest(saved, lambda m: m.update(format="something", format_version=1))
    with pytest.raises(ArtifactError, match="not a mulde pipeline manifest"):
        PipelineModel.load(saved)


def test_model_of_another_extractor_version_is_refused(saved):
    edit_manifest(saved, lambda m: m["extractor"].update(version="1"))
    with pytest.raises(ArtifactError, match="objects extractor version 1.*retrain"):
        PipelineModel.load(saved)
    edit_manifest(saved, lambda m: m["extractor"].update(name="sift", version="2"))
    with pytest.raises(ArtifactError, match="extractor 'sift' cannot be rebuilt"):
        PipelineModel.load(saved)


def test_a_model_saved_before_pose_carry_held_keeps_movenet_on_every_frame():
    """objects:detector sets pose_carry_held since round 9; a model trained before (its
    manifest's settings without the field) is rebuilt as trained, MoveNet on every frame:
    the manifest names the extractor "objects", whose preset leaves the field False."""
    from mulde.vad.artifact import extractor_settings, rebuild_extractor
    from mulde.video.features.registry import build_extractor

    # the pose stream is a setting since round 10: the preset with it, as models of rounds 9
    # and before were trained
    extractor = build_extractor("objects:detector", settings={
        "streams": ["velocity", "pose", "appearance", "class"]})
    settings = extractor_settings(extractor)
    assert settings.pop("pose_carry_held") is True
    old = rebuild_extractor(extractor.name, extractor.version, settings)
    pose = [s for s in old.stream_objects() if s.stream is Stream.POSE]
    assert old.pose_carry_held is False and pose[0].carry_every == 1
    assert rebuild_extractor(extractor.name, extractor.version,
                             extractor_settings(extractor)).pose_carry_held is True


def test_a_model_saved_before_velocity_regions_keeps_velocity_on_the_boxes():
    """objects:detector computes its velocity on grid cells since issue 14's round 12; a
    model trained before (settings without the field) is rebuilt as trained, the velocity
    on the extraction's own regions (the detector's boxes): its manifest names the
    extractor "objects", whose preset leaves the field None."""
    from mulde.vad.artifact import extractor_settings, rebuild_extractor
    from mulde.video.features.registry import build_extractor

    extractor = build_extractor("objects:detector")
    settings = extractor_settings(extractor)
    assert settings.pop("velocity_regions") == "grid"
    old = rebuild_extractor(extractor.name, extractor.version, settings)
    velocity = [s for s in old.stream_objects() if s.stream is Stream.VELOCITY]
    assert old.velocity_regions is None and velocity[0].regions is None
    assert rebuild_extractor(extractor.name, extractor.version,
                             extractor_settings(extractor)) == extractor


def test_features_of_another_extractor_are_refused(saved):
    model = PipelineModel.load(saved)
    rng = np.random.default_rng(0)
    with pytest.raises(ArtifactError, match="velocity features have 8 columns.*trained on 3"):
        model.score(features(rng, 5, dims=(("velocity", 8), ("geometry", 2))))
    with pytest.raises(ArtifactError, match="no geometry stream"):
        model.score(features(rng, 5))


def test_every_file_of_the_model_gets_the_usual_permissions(data, tmp_path):
    import os

    umask = os.umask(0)
    os.umask(umask)
    folder = fitted(data, "gmm").save(tmp_path / "model")
    modes = {p.name: p.stat().st_mode & 0o777 for p in folder.rglob("*") if p.is_file()}
    assert "training_scores.safetensors" in modes
    assert set(modes.values()) == {0o666 & ~umask}, modes


def _round_trip(ens, data, folder):
    """Fit `ens` on velocity + geometry, save it into `folder`, load it; check the loaded
    model scores the test video exactly as the fitted one; return (fitted, loaded)."""
    train, test = data
    model = PipelineModel.fit(ObjectCentricExtractor(streams=("velocity", "geometry")), train,
                              ens, fps=10.0, smoothing_sigma=1.0)
    before = model.score(test)
    model.save(folder)
    loaded = PipelineModel.load(folder)
    np.testing.assert_array_equal(loaded.score(test).fused, before.fused)
    return model, loaded


@pytest.mark.parametrize("detector", ["knn", "gmm", "mulde"])
def test_a_reduced_stream_travels_with_its_pca(data, detector, tmp_path):
    """velocity (3-d) on 2 principal components: the projection is saved beside the model
    (streams/velocity.pca.safetensors, hashed like every file) and the loaded model scores
    exactly as the fitted one; geometry stays unreduced."""
    from mulde.vad.stream_models import PCAStream

    ens = StreamEnsemble(detector, mulde_params=dict(FAST), calibration_folds=2,
                         pca={"velocity": 2})
    model, loaded = _round_trip(ens, data, tmp_path / "model")
    fit = loaded.ensemble.fits_[Stream.VELOCITY]
    assert isinstance(fit.model, PCAStream) and fit.dim == 3
    np.testing.assert_array_equal(fit.model.components_,
                                  model.ensemble.fits_[Stream.VELOCITY].model.components_)
    assert not isinstance(loaded.ensemble.fits_[Stream.GEOMETRY].model, PCAStream)
    info = loaded.describe()
    entry = info["streams"]["velocity"]["model"]
    assert entry["kind"] == detector and entry["pca"]["n_components"] == 2
    assert entry["pca"]["kept"] == 2 and 0 < entry["pca"]["explained_variance"] <= 1
    assert info["ensemble"]["pca"] == {"velocity": 2}
    pca_file = tmp_path / "model" / "streams" / "velocity.pca.safetensors"
    assert "streams/velocity.pca.safetensors" in json.loads(
        (tmp_path / "model" / MANIFEST).read_text())["files"]
    pca_file.write_bytes(pca_file.read_bytes()[:40])
    with pytest.raises(ArtifactError, match="velocity.pca.safetensors"):
        PipelineModel.load(tmp_path / "model")


def test_a_sidak_stream_travels_with_its_reference_and_is_not_exported(data, tmp_path):
    """The training object scores of a Sidak stream are saved (streams/velocity.reference.
    safetensors, hashed like every file); the loaded model scores exactly as the fitted one;
    the ONNX export, whose manifest describes the maximum only, refuses it."""
    from mulde.estimator.export import ExportError
    from mulde.vad.export import export_pipeline

    ens = StreamEnsemble("gmm", calibration_folds=2, sidak=["velocity"])
    model, loaded = _round_trip(ens, data, tmp_path / "model")
    np.testing.assert_array_equal(loaded.ensemble.fits_[Stream.VELOCITY].reference,
                                  model.ensemble.fits_[Stream.VELOCITY].reference)
    assert loaded.ensemble.fits_[Stream.GEOMETRY].reference is None
    info = loaded.describe()
    assert info["streams"]["velocity"]["frame_score"] == "sidak"
    assert info["streams"]["geometry"]["frame_score"] == "maximum"
    assert info["ensemble"]["sidak"] == ["velocity"]
    with pytest.raises(ExportError, match="velocity stream's frame score is the Sidak"):
        export_pipeline(loaded, tmp_path / "onnx")
    assert not (tmp_path / "onnx").exists()  # refused before anything was written
    ref = tmp_path / "model" / "streams" / "velocity.reference.safetensors"
    ref.write_bytes(ref.read_bytes()[:40])
    with pytest.raises(ArtifactError, match="velocity.reference.safetensors"):
        PipelineModel.load(tmp_path / "model")


@pytest.mark.parametrize("options, version", [({}, 1), ({"pca": {"velocity": 2}}, 2),
                                              ({"sidak": ["velocity"]}, 2)])
def test_format_version_is_raised_only_by_side_files(data, options, version, tmp_path,
                                                     monkeypatch):
    """A model with a reduced or a Sidak stream is format version 2, so that a mulde that
    reads version 1 only (simulated here) refuses it instead of scoring without its
    projection or with the maximum; a model without either stays readable as version 1."""
    from mulde.vad import artifact

    ens = StreamEnsemble("gmm", calibration_folds=2, **options)
    _round_trip(ens, data, tmp_path / "model")
    manifest = json.loads((tmp_path / "model" / MANIFEST).read_text())
    assert manifest["format_version"] == version
    monkeypatch.setattr(artifact, "FORMAT_VERSION", 1)
    if version == 1:
        PipelineModel.load(tmp_path / "model")
    else:
        with pytest.raises(ArtifactError, match="format version 2.*upgrade mulde"):
            PipelineModel.load(tmp_path / "model")


def test_a_refused_cli_export_leaves_no_folder_it_made_and_keeps_one_that_was_there(
        data, tmp_path, capsys):
    """`mulde export` of a Sidak pipeline: one `mulde: error:` line, exit 2, and --out is not
    created (it used to be left behind empty); a folder that existed before stays."""
    from mulde.cli import main

    _round_trip(StreamEnsemble("gmm", calibration_folds=2, sidak=["velocity"]), data,
                tmp_path / "model")
    out = tmp_path / "exported"
    assert main(["export", str(tmp_path / "model"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mulde: error: the velocity stream's frame score is the Sidak")
    assert err.count("\n") == 1 and not out.exists()
    assert main(["export", str(tmp_path / "model")]) == 2  # the default DIR/onnx
    assert not (tmp_path / "onnx").exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    assert main(["export", str(tmp_path / "model"), "--out", str(kept)]) == 2
    assert kept.is_dir()


def test_the_model_digest_tells_a_model_apart_and_not_its_saves(data, tmp_path):
    """The same fitted model saved twice, and loaded, has one digest (`model_digest` of its
    manifest); a model fitted otherwise has another; a manifest written before its own
    SHA-256 (manifest_sha256) gets the same digest."""
    model, other = fitted(data, "gmm"), fitted(data, "gmm", folds=None)
    assert model.digest is None  # never saved
    model.save(tmp_path / "a")
    first = model.digest
    model.save(tmp_path / "b")
    manifest = json.loads((tmp_path / "a" / MANIFEST).read_text())
    assert first == model.digest == model_digest(manifest) == saved_model_digest(tmp_path / "b")
    assert PipelineModel.load(tmp_path / "a").digest == first
    other.save(tmp_path / "c")
    assert saved_model_digest(tmp_path / "c") not in (None, first)
    del manifest[SELF_DIGEST]  # written before mulde stored it
    (tmp_path / "a" / MANIFEST).write_text(json.dumps(manifest))
    assert saved_model_digest(tmp_path / "a") == first
    assert PipelineModel.load(tmp_path / "a").digest == first
    assert saved_model_digest(tmp_path / "missing") is None


def test_the_model_digest_leaves_out_the_roots_spelling_and_the_fits_seconds(data, tmp_path):
    """A rerun over the same data with --root spelled otherwise (relative, a trailing slash),
    or whose fits took other seconds, or whose skipped videos' errors name their paths
    otherwise, writes the same model: same digest, though the manifest (and its own SHA-256)
    differs; what decides the model (the training videos, a stream's weights or
    calibration) still changes it. `made_from` takes the digest an export records, and the
    manifest's own SHA-256 that exports recorded before."""
    model = fitted(data, "gmm")

    def saved(folder, root, seconds):
        model.training.update(root=root, skipped=[{"split": "train", "video": "t9",
                                                   "error": f"{root}/t9: cannot read"}])
        for fit in model.ensemble.fits_.values():
            fit.fit_s = seconds
        model.save(tmp_path / folder)
        return json.loads((tmp_path / folder / MANIFEST).read_text())

    first = saved("a", "/data/ucsd_ped2", 1.5)
    again = saved("b", "../data/ucsd_ped2/", 2.25)
    assert first[SELF_DIGEST] != again[SELF_DIGEST]  # the integrity check covers them all
    assert model_digest(first) == model_digest(again) == saved_model_digest(tmp_path / "b")
    assert made_from(tmp_path / "b", model_digest(first))
    assert made_from(tmp_path / "b", again[SELF_DIGEST])  # an older export of this manifest
    assert not made_from(tmp_path / "b", first[SELF_DIGEST])  # of the other one: stale
    assert not made_from(tmp_path / "missing", model_digest(first))
    for edit in (lambda m: m["training"].update(videos=3),
                 lambda m: m["streams"]["velocity"]["calibration"].update(high=2.0),
                 lambda m: m["files"].update({"streams/velocity.safetensors": "0" * 64})):
        changed = json.loads(json.dumps(first))
        edit(changed)
        assert model_digest(changed) != model_digest(first)
    # a manifest of another shape (an export's, a damaged one) gets a digest, no error
    assert model_digest({"training": None, "streams": {"velocity": 3}})


def test_the_fits_warnings_travel_with_the_model(data, tmp_path):
    """A calibration set by a glitch frame (`CalibrationSpikeWarning`) is kept in the
    manifest with its class and read back; an edit of it is refused as any other (the
    manifest's SHA-256 covers it); a manifest written before the field reads as a model
    without fit warnings."""
    from mulde.vad.fusion import CalibrationSpikeWarning

    train, _ = data
    glitched = {**train, "t1": features(np.random.default_rng(1), 30, dims=DIMS)}
    glitched["t1"][Stream.VELOCITY].features[10:12] += 1e6  # frame 5 of t1
    ens = StreamEnsemble("knn", calibration_folds=2)
    with pytest.warns(CalibrationSpikeWarning, match=r"^velocity stream: a few training "
                                                     r"frames .*: t1 frame 5 "):
        model = PipelineModel.fit(ObjectCentricExtractor(streams=("velocity", "geometry")),
                                  glitched, ens, fps=10.0)
    (said,) = ens.fit_warnings_
    assert said.category == "mulde.vad.fusion.CalibrationSpikeWarning"
    folder = model.save(tmp_path / "model")
    assert json.loads((folder / MANIFEST).read_text())["fit_warnings"] == [said.to_dict()]
    back = PipelineModel.load(folder)
    assert back.ensemble.fit_warnings_ == [said]
    assert back.describe()["fit_warnings"] == [said.to_dict()]
    edit_manifest(folder, lambda m: m["fit_warnings"].clear(), sign=False)
    with pytest.raises(ArtifactError, match="do not match their SHA-256"):
        PipelineModel.load(folder)
    edit_manifest(folder, lambda m: m.update(fit_warnings=[{"category": "x"}]))
    with pytest.raises(ArtifactError, match="inconsistent manifest: ValueError not a fit "
                                            "warning"):
        PipelineModel.load(folder)
    edit_manifest(folder, lambda m: m.pop("fit_warnings"))  # an older mulde's manifest
    assert PipelineModel.load(folder).ensemble.fit_warnings_ == []
    edit_manifest(folder, lambda m: m.pop(SELF_DIGEST), sign=False)  # and one before that
    assert PipelineModel.load(folder).describe()["fit_warnings"] == []
