"""Which folders `mulde export` of a pipeline takes for an earlier export, which it replaces
whole (`mulde.vad.export.is_pipeline_export`): only pipeline.json and the graphs it lists,
each `<stream>.onnx` with its SHA-256. A folder that holds anything else is refused, and a
pipe in the place of pipeline.json is never read (reading it would wait forever). No graph
is written here: every refusal comes before the exporter runs."""

import hashlib
import json
import os

import numpy as np
import pytest
from fakes import in_time, needs_fifo

from mulde.cli import _earlier_export
from mulde.estimator.export import ExportError
from mulde.vad import StreamEnsemble
from mulde.vad.artifact import PipelineModel, export_source, saved_model_digest
from mulde.vad.export import export_pipeline, is_pipeline_export
from mulde.video.features import ObjectFeatures, Stream, VideoFeatures
from mulde.video.features.objects import ObjectCentricExtractor


@pytest.fixture(scope="module")
def model():
    """A GMM pipeline of one 3-d stream (GMM streams export; no network to train)."""
    rng = np.random.default_rng(0)

    def video(n):
        idx = np.repeat(np.arange(n), 2)
        return VideoFeatures.of({Stream("velocity"): ObjectFeatures.build(
            rng.normal(size=(len(idx), 3)), idx, np.tile([1.0, 1, 5, 5], (len(idx), 1)), n, 3)})

    train = {f"t{i}": video(20) for i in range(3)}
    return PipelineModel.fit(ObjectCentricExtractor(streams=("velocity",)), train,
                             StreamEnsemble("gmm", calibration_folds=None), fps=10.0)


def _export_folder(folder, streams, files):
    """A folder as an export looks: `files` (name -> bytes) and pipeline.json listing
    `streams` (name -> its graph entry)."""
    folder.mkdir()
    for name, content in files.items():
        (folder / name).write_bytes(content)
    (folder / "pipeline.json").write_text(json.dumps({"onnx": {"streams": streams}}))
    return folder


def _sha(content):
    return hashlib.sha256(content).hexdigest()


def test_an_export_as_the_writer_writes_it_is_one(tmp_path):
    graph = b"graph"
    folder = _export_folder(tmp_path / "e", {"velocity": {"file": "velocity.onnx",
                                                           "sha256": _sha(graph)}},
                            {"velocity.onnx": graph})
    assert is_pipeline_export(folder)


@pytest.mark.parametrize("streams, files", [
    ({"static": {"file": "thesis.tex"}}, {"thesis.tex": b"my thesis"}),
    ({"static": {"file": "velocity.onnx"}}, {"velocity.onnx": b"graph"}),
    ({"velocity": {"file": "velocity.onnx", "sha256": _sha(b"graph")}},
     {"velocity.onnx": b"another graph"}),
    ({"sub/velocity": {"file": "sub/velocity.onnx"}}, {}),
], ids=["another_file", "another_streams_name", "other_bytes", "a_path"])
def test_a_listed_file_that_is_no_graph_of_the_export_makes_no_export(model, tmp_path, streams,
                                                                     files):
    """A crafted pipeline.json listing "thesis.tex" as a stream's graph passed as an earlier
    export, and `mulde export --out` replaced the folder whole, deleting thesis.tex."""
    folder = _export_folder(tmp_path / "e", streams, files)
    assert not is_pipeline_export(folder)
    with pytest.raises(ExportError, match=r"e: exists and holds other files than an earlier "
                                          r"ONNX export .* which replacing it would delete"):
        export_pipeline(model, folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.name != "pipeline.json"} \
        == files


@needs_fifo
def test_a_pipe_as_pipeline_json_is_said_never_read(model, tmp_path):
    """`mulde export --out e2` with a FIFO e2/pipeline.json hung in is_pipeline_export's
    read; the run's stale-export check (`_earlier_export`) and the model digests
    (`_saved_manifest`) hung on one in DIR/onnx."""
    folder = tmp_path / "e2"
    folder.mkdir()
    os.mkfifo(folder / "pipeline.json")
    assert in_time(lambda: is_pipeline_export(folder)) is False
    with pytest.raises(ExportError) as err:
        in_time(lambda: export_pipeline(model, folder))
    assert str(err.value) == (f"{folder / 'pipeline.json'}: a pipe, device, folder or broken "
                              "link, not the pipeline.json of an earlier ONNX export; move it "
                              "away, or give a new or empty folder")
    run = tmp_path / "run"
    (run / "onnx").mkdir(parents=True)
    os.mkfifo(run / "onnx" / "pipeline.json")
    assert in_time(lambda: _earlier_export(run, run / "model")) is None
    assert in_time(lambda: saved_model_digest(run / "onnx")) is None
    assert in_time(lambda: export_source(run / "onnx")) is None


@needs_fifo
def test_a_pipe_named_as_a_graph_is_never_hashed(tmp_path):
    folder = _export_folder(tmp_path / "e", {"velocity": {"file": "velocity.onnx",
                                                           "sha256": _sha(b"graph")}}, {})
    os.mkfifo(folder / "velocity.onnx")
    assert in_time(lambda: is_pipeline_export(folder)) is False


def test_a_file_as_the_export_folder_is_said_to_be_a_file(model, tmp_path):
    """`mulde export --out afile` had said the file "holds other files" (newcomer, stop 85)."""
    afile = tmp_path / "afile"
    afile.write_text("mine\n")
    with pytest.raises(ExportError, match=r"afile: exists and is a file, not a folder"):
        export_pipeline(model, afile)
    assert afile.read_text() == "mine\n"
