"""ONNX export of a trained pipeline (mulde.vad.export): one graph per stream whose
onnxruntime scores equal the pipeline's, calibration included; kNN streams refused."""

import json

import numpy as np
import pytest
from fakes import FAST

from mulde.cli import main
from mulde.estimator.export import ExportError
from mulde.vad import StreamEnsemble
from mulde.vad.artifact import PipelineModel, model_digest
from mulde.vad.export import SOURCE_DIGEST, export_pipeline
from mulde.vad.fusion import objects_to_frames
from mulde.vad.live import causal_smooth, live_threshold
from mulde.video.features import ObjectFeatures, Stream, VideoFeatures
from mulde.video.features.objects import ObjectCentricExtractor

ort = pytest.importorskip("onnxruntime", reason="the round trip needs onnxruntime")
pytest.importorskip("onnxscript", reason="PyTorch's ONNX exporter needs onnxscript")


def _video(rng, n_frames, shift=0.0):
    out = {}
    for name, d in (("velocity", 3), ("geometry", 2)):
        idx = np.repeat(np.arange(n_frames), 2)
        x = rng.normal(size=(len(idx), d)) + shift
        out[Stream(name)] = ObjectFeatures.build(x, idx, np.tile([1.0, 1, 5, 5], (len(idx), 1)),
                                                 n_frames, d)
    return VideoFeatures.of(out)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(1)
    return {f"t{i}": _video(rng, 20) for i in range(3)}, _video(rng, 15, shift=0.5)


def _pipeline(data, detector):
    extractor = ObjectCentricExtractor(streams=("velocity", "geometry"))
    ensemble = StreamEnsemble(detector, mulde_params=dict(FAST), calibration_folds=None)
    return PipelineModel.fit(extractor, data[0], ensemble, fps=10.0, smoothing_sigma=1.0)


@pytest.mark.parametrize("detector", ["mulde", "gmm"])
def test_the_graphs_and_the_frame_rule_give_the_pipelines_scores(data, detector, tmp_path):
    model = _pipeline(data, detector)
    out = export_pipeline(model, tmp_path / "onnx")
    manifest = json.loads((out / "pipeline.json").read_text())
    test = data[1]
    expected = model.score(test)
    fused = np.zeros(test.n_frames)
    for stream in model.streams:
        entry = manifest["onnx"]["streams"][stream.value]
        session = ort.InferenceSession(str(out / entry["file"]),
                                       providers=["CPUExecutionProvider"])
        record = test[stream]
        raw, calibrated = session.run(None, {"x": record.features.astype(np.float32)})
        fit = model.ensemble.fits_[stream]
        np.testing.assert_allclose(raw, fit.model.score(record.features.astype(np.float64)),
                                   rtol=1e-5, atol=1e-4)
        frames = objects_to_frames(calibrated, record.frame_index, record.n_frames,
                                   empty=entry["calibrated_fill"])
        np.testing.assert_allclose(frames, expected.streams[stream], rtol=1e-5, atol=1e-4)
        fused += frames
    np.testing.assert_allclose(fused, expected.fused, rtol=1e-5, atol=1e-4)
    assert manifest["threshold"]["value"] == model.threshold.value
    # the live rule, read from the manifest alone, is what `mulde watch` applies
    live = manifest["onnx"]["live"]
    (w,) = [np.array(w) for w in live["smoothing"]["weights"]]
    start = live["smoothing"]["start_level"]  # frames before the stream count as it
    assert start == float(np.median(np.concatenate(model.train_scores)))
    padded = np.r_[[start] * (len(w) - 1), fused]
    by_hand = [float(np.dot(w, padded[t + len(w) - 1::-1][:len(w)])) for t in range(len(fused))]
    np.testing.assert_allclose(by_hand, causal_smooth(expected.fused, 1.0, start=start),
                               rtol=1e-4)
    assert live["threshold"]["value"] == live_threshold(model)[0]
    assert "causal half-Gaussian" in live["threshold"]["definition"]


def test_a_knn_pipeline_is_refused_and_the_cli_exports_a_saved_one(data, tmp_path, capsys):
    with pytest.raises(ExportError, match=r"geometry stream.s model \(KNNStream\) has no ONNX"):
        export_pipeline(_pipeline(data, "knn"), tmp_path / "knn")
    _pipeline(data, "gmm").save(tmp_path / "run" / "model")
    assert main(["export", str(tmp_path / "run")]) == 0
    assert "geometry.onnx, velocity.onnx and pipeline.json" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "run" / "onnx").iterdir()) == [
        "geometry.onnx", "pipeline.json", "velocity.onnx"]


def test_an_export_replaces_an_earlier_one_whole_and_refuses_other_folders(
        data, tmp_path, monkeypatch, capsys):
    """The graphs and pipeline.json are written beside and swapped in together: an export
    interrupted after its first graph leaves the earlier export as it was (a newcomer's
    Ctrl-C left the new static.onnx beside the old velocity.onnx and pipeline.json), the
    manifest names each graph's SHA-256, a folder of other files is refused, and --out
    x.onnx (a file name) is refused for a pipeline, which exports to a folder."""
    import hashlib

    import mulde.vad.export as export

    first, second = _pipeline(data, "gmm"), _pipeline(data, "mulde")
    out = tmp_path / "onnx"
    export_pipeline(first, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    manifest = json.loads(before["pipeline.json"])
    for stream in manifest["onnx"]["streams"].values():
        assert stream["sha256"] == hashlib.sha256(before[stream["file"]]).hexdigest()
    calls = []
    real = export.save_onnx

    def interrupted_second(*args):
        calls.append(args)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(export, "save_onnx", interrupted_second)
    with pytest.raises(KeyboardInterrupt):
        export_pipeline(second, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["onnx"]  # no temp folder left
    monkeypatch.setattr(export, "save_onnx", real)
    export_pipeline(second, out)  # an earlier export is replaced
    assert (out / "pipeline.json").read_bytes() != before["pipeline.json"]
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    with pytest.raises(ExportError, match=r"mine: exists and holds other files than an "
                                          r"earlier ONNX export"):
        export_pipeline(second, tmp_path / "mine")
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["notes.txt"]
    # an export beside other files (a run's folder, a user's script) is not replaced whole:
    # that would delete them
    (out / "serve.py").write_text("mine")
    with pytest.raises(ExportError, match=r"onnx: exists and holds other files"):
        export_pipeline(first, out)
    assert (out / "serve.py").read_text() == "mine" and (out / "pipeline.json").exists()
    second.save(tmp_path / "run" / "model")
    assert main(["export", str(tmp_path / "run"), "--out", str(tmp_path / "x.onnx")]) == 2
    assert "a pipeline model exports to a folder" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()


def test_an_export_records_the_digest_of_the_model_it_came_from(data, tmp_path):
    """So that `mulde run` and `train` can tell whether an earlier export still matches the
    model they write (`mulde.cli._say_stale_export`)."""
    model = _pipeline(data, "gmm")
    unsaved = json.loads((export_pipeline(model, tmp_path / "a") / "pipeline.json").read_text())
    assert unsaved["onnx"][SOURCE_DIGEST] is None
    model.save(tmp_path / "run" / "model")
    saved = json.loads((tmp_path / "run" / "model" / "pipeline.json").read_text())
    assert main(["export", str(tmp_path / "run")]) == 0
    exported = json.loads((tmp_path / "run" / "onnx" / "pipeline.json").read_text())
    assert exported["onnx"][SOURCE_DIGEST] == model_digest(saved) == model.digest


def test_mulde_export_replaces_an_earlier_export_only_when_asked(data, tmp_path, capsys):
    """As `mulde fit` does its model file: an earlier export there (perhaps of another model)
    is replaced with --overwrite, and refused without it, the folder untouched."""
    _pipeline(data, "gmm").save(tmp_path / "run" / "model")
    assert main(["export", str(tmp_path / "run")]) == 0
    graphs = tmp_path / "run" / "onnx" / "pipeline.json"
    before = graphs.read_bytes()
    capsys.readouterr()
    assert main(["export", str(tmp_path / "run")]) == 2
    assert "an ONNX export is already there" in capsys.readouterr().err
    assert graphs.read_bytes() == before
    assert main(["export", str(tmp_path / "run"), "--overwrite"]) == 0


def test_ctrl_c_inside_the_exporter_is_an_interrupt_not_its_error(monkeypatch):
    """PyTorch's exporter wraps a KeyboardInterrupt raised inside it in its own error
    (TorchExportError): save_onnx raises the interrupt again, so that the CLI says
    "mulde: interrupted" (exit 130) instead of a 40-line traceback."""
    import torch

    from mulde.estimator.export import save_onnx

    def wrapped(*args, **kwargs):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as err:
            raise RuntimeError("Failed to export the model with torch.export") from err

    monkeypatch.setattr(torch.onnx, "export", wrapped)
    with pytest.raises(KeyboardInterrupt):
        save_onnx(torch.nn.Linear(2, 1), 2, ["y"], "unused.onnx")


@pytest.mark.parametrize("detector", ["mulde", "gmm"])
def test_a_reduced_streams_graph_projects_its_full_features(data, detector, tmp_path):
    """velocity on 2 principal components: its graph still takes the 3-d features and gives
    the pipeline's scores (the projection is inside the graph)."""
    extractor = ObjectCentricExtractor(streams=("velocity", "geometry"))
    ensemble = StreamEnsemble(detector, mulde_params=dict(FAST), pca={"velocity": 2})
    model = PipelineModel.fit(extractor, data[0], ensemble, fps=10.0, smoothing_sigma=1.0)
    out = export_pipeline(model, tmp_path / "onnx")
    entry = json.loads((out / "pipeline.json").read_text())["onnx"]["streams"]["velocity"]
    assert entry["input_dim"] == 3
    session = ort.InferenceSession(str(out / entry["file"]), providers=["CPUExecutionProvider"])
    x = data[1][Stream.VELOCITY].features
    raw, _ = session.run(None, {"x": x.astype(np.float32)})
    fit = model.ensemble.fits_[Stream.VELOCITY]
    np.testing.assert_allclose(raw, fit.model.score(x.astype(np.float64)), rtol=1e-5,
                               atol=1e-4)
