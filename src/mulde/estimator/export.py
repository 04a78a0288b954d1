"""Export a fitted MULDE's scoring function as an ONNX graph, to run it outside Python.

The graph computes what `MULDE.anomaly_score` computes, from the raw feature vectors on:
standardisation with the training mean and scale (then the whitening, when fitted), the
energy network at the L noise levels (`EnergyMLP.energy_multiscale`), with reweight="modes"
or "separated_modes" the mixture's term on every level (`mulde.estimator.reweighting`; the
separated twin's weights as constants), and the fitted
aggregate (mean of the centred energies over every or the kept levels, GMM negative
log-likelihood, mean or max of per-scale z-scores, one scale, or the stacked mixture's
negative log-likelihood). Input: `x`,
float32 (n, d). Outputs: `anomaly_score`, float64 (n,) (higher = more anomalous, as the
library), and `energies`, float32 (n, L). As in the library, the standardisation runs in
float64, the network in float32 and the aggregate in float64 (a GMM over nearly collinear
energies has large precisions). The graph is traced
with PyTorch's ONNX exporter (`torch.onnx.export(dynamo=True)`, which needs the `onnxscript`
package: `pip install 'mulde[export]'`); onnxruntime's energies agree with the library's to
float32 round-off (its kernels round differently from PyTorch's) and its score is the
library's aggregate of them to float64 precision (tests/estimator/test_export.py), so the
scores differ by what the aggregate makes of that round-off: ~1e-5 (of ~30) for every
aggregate but a GMM, up to ~1e-2 on scores of ~80 for one over nearly collinear levels, whose
precisions of 1e6 magnify it (a unit in the last place of the library's own energies moves
its GMM score as much). The graph's metadata carry the outlier
threshold on the anomaly-score scale and what set it (`onnx_metadata`).
"""

from __future__ import annotations

import copy
import json
import logging
import math
import sys
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn

from mulde.estimator.aggregation import HELD_OUT_CHOOSING, Aggregation
from mulde.estimator.model import MULDE
from mulde.estimator.reweighting import mixture_log_ratio
from mulde.io.atomic import check_folder, write_bytes
from mulde.io.sniff import FileKind, sniff

if TYPE_CHECKING:  # the adapter needs PyOD, which export does not
    from mulde.estimator.pyod_adapter import PyODMULDE

OPSET = 18


class ExportError(RuntimeError):
    """The model cannot be exported (missing exporter package, unsupported aggregate)."""


def _gmm_full(state: dict[str, np.ndarray], covariance_type: str, n_levels: int
              ) -> tuple[np.ndarray, np.ndarray]:
    """The GMM's precision Cholesky factors as (K, L, L) matrices whatever the covariance
    type (scikit-learn's layouts: full (K, L, L), tied (L, L), diag (K, L), spherical (K,)),
    and log det of each factor (K,)."""
    p = np.asarray(state["precisions_cholesky"], dtype=np.float64)
    k = len(state["weights"])
    eye = np.eye(n_levels)
    if covariance_type == "full":
        full = p
    elif covariance_type == "tied":
        full = np.repeat(p[None], k, axis=0)
    elif covariance_type == "diag":
        full = p[:, :, None] * eye
    elif covariance_type == "spherical":
        full = p[:, None, None] * eye
    else:
        raise ExportError(f"unknown GMM covariance type {covariance_type!r}")
    log_det = np.log(np.diagonal(full, axis1=1, axis2=2)).sum(axis=1)
    return full, log_det


class GaussianMixtureNLL(nn.Module):
    """-log p(e) of a fitted Gaussian mixture (scikit-learn's arrays: `weights`, `means`,
    `precisions_cholesky` in the layout of `covariance_type`), in float64, for rows e (n, L):
    what `GaussianMixture.score_samples` returns, negated."""

    def __init__(self, state: dict[str, np.ndarray], covariance_type: str) -> None:
        super().__init__()
        n_levels = np.asarray(state["means"]).shape[1]
        full, log_det = _gmm_full(state, covariance_type, n_levels)
        means = np.asarray(state["means"], dtype=np.float64)
        const = (np.log(state["weights"]) + log_det - 0.5 * n_levels * math.log(2 * math.pi))
        self.register_buffer("precision", torch.tensor(full, dtype=torch.float64))
        self.register_buffer("shift", torch.tensor(np.einsum("kl,klm->km", means, full),
                                                   dtype=torch.float64))  # mu_k P_k
        self.register_buffer("const", torch.tensor(const, dtype=torch.float64))

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        y = torch.einsum("nl,klm->nkm", e, self.precision) - self.shift
        return -torch.logsumexp(self.const - 0.5 * (y * y).sum(dim=2), dim=1)


class _Scorer(nn.Module):
    """Raw features -> (anomaly score, energies): MULDE.anomaly_score as one torch module."""

    def __init__(self, model: MULDE) -> None:
        super().__init__()
        # a copy: Module.to moves in place, and the model (on a GPU, say) must stay usable
        self.network = copy.deepcopy(model.network_).to("cpu").eval()
        f32 = dict(dtype=torch.float32)
        f64 = dict(dtype=torch.float64)
        self.register_buffer("mean", torch.tensor(model.mean_, **f64))
        self.register_buffer("scale", torch.tensor(model.scale_, **f64))
        whitening = getattr(model, "whitening_", None)
        self.whiten = whitening is not None
        if self.whiten:
            self.register_buffer("whitening", torch.tensor(whitening, **f64))
        self.register_buffer("sigmas", torch.tensor(model.sigmas_, **f32))
        mixture = getattr(model, "mode_mixture_", None)  # reweight, K > 1
        self.reweighted = mixture is not None
        if self.reweighted:
            self.register_buffer("mode_means", torch.tensor(mixture.means, **f64))
            self.register_buffer("mode_variances", torch.tensor(mixture.variances, **f64))
            self.register_buffer("mode_weights", torch.tensor(mixture.weights, **f64))
            self.register_buffer("mode_basis", None if mixture.basis is None  # principal
                                 else torch.tensor(mixture.basis, **f64))  # coordinates
            if mixture.targets is not None:  # "separated_modes"
                self.register_buffer("mode_targets", torch.tensor(mixture.targets, **f64))
            else:  # reweight="modes": the equal twin
                self.mode_targets = None
        self.kind = Aggregation(model.aggregator)
        state = model.aggregator_state_
        if self.kind is Aggregation.GMM:
            self.gmm = GaussianMixtureNLL(state, model.covariance_type)
        elif self.kind is Aggregation.SINGLE:
            self.index = int(state["index"][0])
        elif self.kind is Aggregation.STACKED and "weights" in state:
            with np.errstate(divide="ignore"):  # a weight of 0: log 0 = -inf, as the library
                self.register_buffer("log_w", torch.tensor(np.log(state["weights"]), **f64))
        elif self.kind in (Aggregation.MEAN_ENERGY, *HELD_OUT_CHOOSING):
            self.register_buffer("e_mean", torch.tensor(state["mean"], **f64))
            kept = np.asarray(state.get("levels", np.arange(len(state["mean"]))))
            weights = np.zeros(len(state["mean"]))
            weights[kept] = 1.0 / len(kept)  # the mean over the kept levels
            self.register_buffer("e_weights", torch.tensor(weights, **f64))
        elif self.kind in (Aggregation.MEAN_Z, Aggregation.MAX_Z):
            self.register_buffer("e_mean", torch.tensor(state["mean"], **f64))
            self.register_buffer("e_std", torch.tensor(state["std"], **f64))
        else:  # an aggregate added to the library but not here: refuse, never guess
            raise ExportError(f"the {self.kind.value!r} aggregate has no ONNX export yet")
        # repeated training rows (round 60), compared with the float32 input as float32
        self.has_atoms = model.n_atoms_ > 0
        if self.has_atoms:
            self.register_buffer("atoms", torch.tensor(model.atoms_, **f32))
            self.register_buffer("atom_scores", torch.tensor(model.atom_scores_, **f64))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = (x.to(torch.float64) - self.mean) / self.scale
        if self.whiten:
            z = z @ self.whitening
        z = z.to(torch.float32)
        energies = self.network.energy_multiscale(z, self.sigmas)
        e = energies.to(torch.float64)
        if self.reweighted:  # -log r(z), as `ModeMixture.log_ratio`, on every level
            zm = z.to(torch.float64)
            if self.mode_basis is not None:
                zm = zm @ self.mode_basis
            e = e - mixture_log_ratio(zm, self.mode_means,
                                      self.mode_variances, self.mode_weights,
                                      self.mode_targets)[:, None]
            energies = e.to(torch.float32)
        if self.kind is Aggregation.GMM:
            score = self.gmm(e)
        elif self.kind is Aggregation.SINGLE:
            score = e[:, self.index]
        elif hasattr(self, "log_w"):  # STACKED: the mixture of the levels' densities
            score = -torch.logsumexp(self.log_w - e, dim=1)
        elif hasattr(self, "e_weights"):  # the mean over (the kept) levels
            score = (e - self.e_mean) @ self.e_weights
        else:
            z = (e - self.e_mean) / self.e_std
            score = z.mean(dim=1) if self.kind is Aggregation.MEAN_Z else z.max(dim=1).values
        if self.has_atoms:  # a row equal to an atom: the atom's score (n x k x d compared)
            equal = (x[:, None, :] == self.atoms[None, :, :]).all(dim=2)
            which = equal.to(torch.int64).argmax(dim=1)
            score = torch.where(equal.any(dim=1), self.atom_scores[which], score)
        return score, energies


def save_onnx(module: nn.Module, n_features: int, output_names: list[str],
              path: str | Path, metadata: dict[str, str] | None = None) -> Path:
    """Trace `module` (input `x` float32 (n, n_features), n free) with PyTorch's ONNX exporter
    and write the graph to `path` atomically, opset 18, with `metadata` as the model's
    metadata_props (key: value strings, which ONNX Runtime shows as
    `InferenceSession.get_modelmeta().custom_metadata_map`). Raises ExportError when the
    exporter's packages are missing, or when `path` is an existing file that is not an ONNX
    graph (`mulde.io.sniff`; an empty file aside), which the export would overwrite; an
    earlier graph there is replaced. OSError naming the file, before tracing, where a file is
    in the place of its folder (`mulde.io.atomic.check_folder`)."""
    path = Path(path)
    check_folder(path.parent)  # before tracing (seconds), not at the write
    kind = sniff(path) if path.is_file() else FileKind.EMPTY  # none there: nothing to lose
    if kind not in (FileKind.ONNX, FileKind.EMPTY):
        what = f"{kind.value}, " if kind is not None else ""
        raise ExportError(f"{path}: exists and is {what}not an ONNX graph, so exporting would "
                          "overwrite it; give another name (such as model.onnx) or delete "
                          "the file first")
    example = torch.zeros(2, n_features, dtype=torch.float32)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quiet = logging.getLogger("torch.onnx")
        level, quiet.level = quiet.level, logging.ERROR
        try:
            program = torch.onnx.export(
                module, (example,), input_names=["x"], output_names=output_names,
                opset_version=OPSET, dynamic_shapes=({0: torch.export.Dim("n")},),
                dynamo=True, external_data=False, verbose=False)
        except ImportError as err:
            raise ExportError(f"ONNX export needs PyTorch's exporter packages ({err}): "
                              "pip install 'mulde[export]'") from err
        except Exception as err:  # Ctrl-C within the exporter comes out wrapped in its error
            interrupt = _interrupt_in(err)
            if interrupt is not None:  # as it came (Ctrl-C, or the CLI's SIGTERM)
                raise type(interrupt)() from None
            raise
        finally:
            quiet.level = level
        program.save(str(Path(tmp) / "model.onnx"))
        if metadata:
            import onnx

            graph = onnx.load(str(Path(tmp) / "model.onnx"))
            onnx.helper.set_model_props(graph, dict(metadata))
            onnx.save(graph, str(Path(tmp) / "model.onnx"))
        data = (Path(tmp) / "model.onnx").read_bytes()
    write_bytes(path, data)
    return path


def _interrupt_in(err: BaseException) -> KeyboardInterrupt | None:
    """The KeyboardInterrupt among the causes or contexts of `err`, or None."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, KeyboardInterrupt):
            return err
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return None


def graph_path(path: str | Path) -> Path:
    """`path` as the file a model's ONNX graph is written to (`export_onnx`, `mulde export
    --out`): ValueError naming it, and the name to give, where it does not end in .onnx or
    is a folder (a graph named model.safetensors would pass for the model file it was
    exported from, which `MULDE.load` would then refuse)."""
    path = Path(path)
    if path.suffix.lower() != ".onnx" or path.is_dir():
        raise ValueError(f"{path}: a model's graph is written as one .onnx file; give a name "
                         "such as model.onnx")
    return path


def export_onnx(model: MULDE | PyODMULDE, path: str | Path,
                pyod: Mapping[str, float] | None = None) -> Path:
    """Write the fitted `model`'s scoring function to the ONNX file `path` (atomically);
    return the path.

    model: a fitted MULDE, or a fitted `PyODMULDE` (its wrapped MULDE is exported, with
    PyOD's fields). pyod: PyOD's "contamination" and "threshold" as `PyODMULDE.save` stores
    them in a model file (what `mulde export` passes for such a file, which it loads as a
    MULDE); not with a PyODMULDE, which gives its own.

    Graph: input `x` float32 (n, d) raw features (n free); outputs `anomaly_score` float64 (n,)
    = `model.anomaly_score(x)` and `energies` float32 (n, L) =
    `model.score_samples_multiscale(x)`; opset 18. A model's repeated training rows
    (`atoms_`, `atom_min_count`) are compared with the float32 input (an n x k x d
    comparison for k of them), and a row equal to one gets its score, as in the library.
    Its metadata (metadata_props, ONNX Runtime's `custom_metadata_map`), each value a string,
    say how to read the score (`onnx_metadata`): "threshold", the anomaly score above which
    `MULDE.predict` says -1 (an outlier; "inf" where it flags none), "contamination" and
    "threshold_on", which set it, and "threshold_scores", which scores it was set on
    (`MULDE.threshold_scores_`); for a model fitted on named columns (a DataFrame, a CSV with a
    header) their names in order, "feature_names" (a JSON list), so that a user of ONNX Runtime
    can check their columns; and with PyOD's fields "pyod_threshold" (PyOD's `threshold_`: a
    score above it is labelled 1) and "pyod_contamination". Raises sklearn's NotFittedError for
    an unfitted model, ValueError for `pyod` given with a PyODMULDE, and ExportError when
    PyTorch's exporter (`onnxscript`) is missing or the aggregate has no export. A `path` that
    does not end in .onnx, or is a folder, is refused
    (ValueError: `graph_path`), and so is one whose folder is a file (OSError naming it).
    A column whose raw values float32 rounds coarsely against their spread (a timestamp, an
    amount far from 0: `float32_input_loss`) is warned of (`Float32InputWarning`, a column
    each), the graph's input being float32.
    """
    path = graph_path(path)
    adapter = sys.modules.get("mulde.estimator.pyod_adapter")  # imported for a PyODMULDE
    if adapter is not None and isinstance(model, adapter.PyODMULDE):
        check_is_fitted(model, "detector_")
        if pyod is not None:
            raise ValueError("pyod= gives the PyOD fields of a model file; a PyODMULDE "
                             "exports its own: leave pyod out")
        pyod = {"contamination": float(model.contamination),
                "threshold": float(model.threshold_)}
        model = model.detector_
    check_is_fitted(model, "network_")
    for column, step, mean, scale in float32_input_loss(model.mean_, model.scale_):
        names = getattr(model, "feature_names_in_", None)
        where = (f"column {names[column]!r}" if names is not None
                 else f"column {column} (counting from 0)")
        share = (f"{step / scale:.2%} of the spread" if step < scale
                 else f"{step / scale:,.0f} times the spread")
        warnings.warn(Float32InputWarning(
            f"{where}: its values (around {mean:.6g}, a spread of {scale:.3g}) are rounded "
            f"to steps of {step:.3g} as the graph's float32 input, {share}, so the ONNX "
            "scores differ from the library's; subtract an offset from "
            "that column (e.g. its smallest value) before fitting and scoring, so that its "
            "values are small"), stacklevel=2)
    return save_onnx(_Scorer(model), model.n_features_in_, ["anomaly_score", "energies"], path,
                     onnx_metadata(model, pyod))


FLOAT32_INPUT_TOLERANCE = 1e-4
"""The share of a column's spread (its training standard deviation) above which the float32
rounding of its values as the graph's input is warned of (`float32_input_loss`)."""


class Float32InputWarning(UserWarning):
    """An exported column's raw values lose more than `FLOAT32_INPUT_TOLERANCE` of their
    spread as the graph's float32 input (a timestamp, an amount, an id far from 0)."""


def float32_input_loss(mean: np.ndarray, scale: np.ndarray
                       ) -> list[tuple[int, float, float, float]]:
    """The columns whose values, near their training `mean` give or take 4 `scale` (d,)
    each, float32 rounds to steps larger than `FLOAT32_INPUT_TOLERANCE` x `scale`: (column,
    step, mean, scale) each. The graph takes float32 input while the library standardises
    float64 values: a column of epoch seconds (about 1.7e9, steps of 128) with a spread of
    seconds loses it all (a newcomer's trial: ONNX scores off by up to 3.4 on scores of
    -1.5 to 6.2); a standardised column (steps about 1e-7) loses nothing."""
    mean, scale = np.asarray(mean, np.float64), np.asarray(scale, np.float64)
    reach = (np.abs(mean) + 4 * scale).astype(np.float32)
    step = np.spacing(reach).astype(np.float64)
    return [(j, float(step[j]), float(mean[j]), float(scale[j]))
            for j in np.flatnonzero(step > FLOAT32_INPUT_TOLERANCE * scale)]


def onnx_metadata(model: MULDE, pyod: Mapping[str, float] | None = None) -> dict[str, str]:
    """The metadata `export_onnx` writes into a fitted `model`'s graph (see there), as
    strings: numbers in Python's shortest round-trip form ("0.01", "2.718281828459045",
    "inf"), which float() in Python and strtod in C read back exactly."""
    metadata = {"threshold": repr(-float(model.offset_)),
                "contamination": repr(model._fraction()),
                "threshold_on": str(model.threshold_on),
                "threshold_scores": model._threshold_scores()}
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        metadata["feature_names"] = json.dumps([str(n) for n in names])
    if pyod is not None:
        metadata["pyod_threshold"] = repr(float(pyod["threshold"]))
        metadata["pyod_contamination"] = repr(float(pyod["contamination"]))
    return metadata
