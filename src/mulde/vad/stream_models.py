"""Density models for one feature stream of the video pipeline: MULDE and AI-VAD's detectors.

Each is fitted on the training objects with their video ids and returns anomaly scores
(higher = more anomalous) for new objects and, for calibration, for the training objects.
kNN scores its training objects leave-one-video-out (as AI-VAD does), since an object is its
own nearest neighbour (with a single training video, each object leaves itself out); MULDE and
GMM score them in-sample.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np


class StreamModel(Protocol):
    """A density model of one stream: `fit(X (n, d) float64, groups (n,) int: each object's
    training video)`, then `train_scores()` (n,) for the training objects (what calibration
    uses) and `score(X (m, d))` (m,) for new objects; higher = more anomalous."""

    name: str

    def fit(self, X: np.ndarray, groups: np.ndarray) -> StreamModel: ...
    def train_scores(self) -> np.ndarray: ...
    def score(self, X: np.ndarray) -> np.ndarray: ...
    def score_training_video(self, X: np.ndarray, group: int) -> np.ndarray: ...


def _standardiser(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The columns' means and scales: the std, 1 for a column constant up to float rounding
    (`constant_columns`: its computed std, a rounding error, would scale it by ~1e15)."""
    from mulde.estimator.columns import constant_columns

    return X.mean(axis=0), np.where(constant_columns(X), 1.0, X.std(axis=0))


@dataclass
class MULDEStream:
    """MULDE (`mulde.MULDE`, which standardises itself) on one stream: `params` are its
    settings, `seed` its random_state (unless `params` sets one); training objects are scored
    in-sample."""

    params: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    name: str = "mulde"

    def fit(self, X: np.ndarray, groups: np.ndarray) -> MULDEStream:
        from mulde import MULDE

        self.model = MULDE(**{"random_state": self.seed, **self.params}).fit(X)
        self._train = self.model.anomaly_score(X)
        return self

    def train_scores(self) -> np.ndarray:
        return self._train

    def score(self, X: np.ndarray) -> np.ndarray:
        return self.model.anomaly_score(X)

    def score_training_video(self, X: np.ndarray, group: int) -> np.ndarray:
        """The objects of training video `group` (also those not fitted on), in-sample."""
        return self.score(X)


@dataclass
class KNNStream:
    """Mean Euclidean distance to the k nearest training objects (k = 1: AI-VAD's detector).

    Features are standardised with the training mean and standard deviation (a constant
    column is only centred) unless `standardise=False`; `squared=True` averages squared
    distances instead (AI-VAD's faiss `IndexFlatL2` returns squared L2 on the raw features:
    `KNNStream(standardise=False, squared=True)`). Scores are float64, (n,).
    """

    k: int = 1
    name: str = "knn"
    standardise: bool = True
    squared: bool = False

    def fit(self, X: np.ndarray, groups: np.ndarray) -> KNNStream:
        """Keep the (standardised) training objects X (n, d) and their video ids (n,)."""
        if self.standardise:
            self.mean_, self.scale_ = _standardiser(X)
        else:
            self.mean_, self.scale_ = np.zeros(X.shape[1]), np.ones(X.shape[1])
        self.X_ = (X - self.mean_) / self.scale_ if self.standardise else X
        self.groups_ = np.asarray(groups)
        return self

    def _knn(self, Q: np.ndarray, R: np.ndarray, leave_self: bool = False) -> np.ndarray:
        """The scores (m,) of the rows Q (m, d) against the reference rows R (n, d).
        `leave_self`: a row of Q that is a row of R (equal in every column) is scored
        without that one match, as if left out of R: k + 1 neighbours, one exact match
        dropped (an exact copy of it elsewhere in R still counts, at distance 0); a row of
        Q found nowhere in R keeps its k nearest. R of a single row is kept as it is."""
        from sklearn.neighbors import NearestNeighbors

        leave_self = leave_self and len(R) > 1
        k = min(self.k + leave_self, len(R))
        dist, ind = NearestNeighbors(n_neighbors=k).fit(R).kneighbors(Q)
        d = dist**2 if self.squared else dist
        if not leave_self:
            return d.mean(axis=1)
        keep = np.ones(d.shape, bool)
        found = np.zeros(len(Q), bool)
        for j in range(k):  # the first neighbour equal to the row is its own match
            same = ~found & np.all(R[ind[:, j]] == Q, axis=1)
            keep[same, j], found = False, found | same
        if k > self.k:  # a row without a match keeps its k nearest
            keep[~found, -1] = False
        return (d * keep).sum(axis=1) / keep.sum(axis=1)

    def train_scores(self) -> np.ndarray:
        """Leave-one-video-out: each training object against the other videos' objects (with
        a single training video, against the others of that video: each object leaves
        itself out, `_knn`'s `leave_self`)."""
        out = np.empty(len(self.X_))
        for g in np.unique(self.groups_):
            inside = self.groups_ == g
            ref = self.X_[~inside] if (~inside).any() else self.X_
            out[inside] = self._knn(self.X_[inside], ref, leave_self=not (~inside).any())
        return out

    def score(self, X: np.ndarray) -> np.ndarray:
        """Return the scores of new objects X (n, d) against all training objects."""
        Q = (X - self.mean_) / self.scale_ if self.standardise else X
        return self._knn(Q, self.X_)

    def score_training_video(self, X: np.ndarray, group: int) -> np.ndarray:
        """The objects X of training video `group` (all of them, also those not fitted on)
        against the fitted objects of the other videos (leave-one-video-out; with a single
        training video, against its fitted objects, each fitted object leaving itself out as
        in `train_scores`)."""
        inside = self.groups_ == group
        ref = self.X_[~inside] if (~inside).any() else self.X_
        return self._knn((X - self.mean_) / self.scale_, ref, leave_self=not (~inside).any())


@dataclass
class GMMStream:
    """Negative log-likelihood under a Gaussian mixture on standardised features."""

    n_components: int = 5
    covariance_type: str = "full"
    seed: int = 0
    name: str = "gmm"

    def fit(self, X: np.ndarray, groups: np.ndarray) -> GMMStream:
        from sklearn.mixture import GaussianMixture

        self.mean_, self.scale_ = _standardiser(X)
        Z = (X - self.mean_) / self.scale_
        k = min(self.n_components, len(Z))
        self.gmm_ = GaussianMixture(k, covariance_type=self.covariance_type, reg_covar=1e-3,
                                    random_state=self.seed).fit(Z)
        self._train = -self.gmm_.score_samples(Z)
        return self

    def train_scores(self) -> np.ndarray:
        return self._train

    def score(self, X: np.ndarray) -> np.ndarray:
        return -self.gmm_.score_samples((X - self.mean_) / self.scale_)

    def score_training_video(self, X: np.ndarray, group: int) -> np.ndarray:
        """The objects of training video `group` (also those not fitted on), in-sample."""
        return self.score(X)


def project(X: np.ndarray, mean: np.ndarray, components: np.ndarray) -> np.ndarray:
    """The rows X (m, d) centred on `mean` (d,) and projected on `components` (k, d):
    (m, k) float64."""
    return (np.asarray(X, dtype=np.float64) - mean) @ components.T


SPREAD_TOLERANCE = 1e-6
"""A principal component whose standard deviation is at most this share of the first's holds
no variation of the rows (float32 features carry about 7 significant digits; the exact
solver's eigenvalues of such directions are rounding): `principal_axes` leaves it out. Kept,
it would be scaled to unit spread by the stream's model (MULDE and kNN standardise each
column), and new rows' rounding-sized offsets along it would dominate their scores."""


def principal_axes(X: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, float]:
    """(mean (d,), components (k', d), explained share) of the rows X (n, d): the first k
    principal axes (`sklearn.decomposition.PCA`, exact solver: the eigenvectors of the
    covariance; signed by sklearn's deterministic rule) that hold variation, k' <= k of them
    (those whose spread exceeds `SPREAD_TOLERANCE` of the first's; at least one), and the
    fraction of the variance they hold. Centred, n rows span at most n - 1 directions, and
    fewer when they are dependent (overlapping windows of a short video). A single row has
    no variance to rank: its first k features, share 1."""
    from sklearn.decomposition import PCA

    X = np.asarray(X, dtype=np.float64)
    if len(X) < 2:
        return X.mean(axis=0), np.eye(X.shape[1])[:k], 1.0
    with np.errstate(invalid="ignore", divide="ignore"):  # constant rows: 0 / 0 shares
        pca = PCA(n_components=k, svd_solver="covariance_eigh").fit(X)
    variance = pca.explained_variance_
    spanned = max(1, int(np.count_nonzero(variance > variance[0] * SPREAD_TOLERANCE**2)))
    share = float(pca.explained_variance_ratio_[:spanned].sum())
    return (pca.mean_.astype(np.float64), pca.components_[:spanned].astype(np.float64),
            share if np.isfinite(share) else 1.0)  # constant rows: no share to give


@dataclass
class PCAStream:
    """Another stream model on the stream's first `n_components` principal components.

    `fit(X (n, d), groups)` fits a PCA (`sklearn.decomposition.PCA`, exact solver: the
    eigenvectors of the training covariance; centred, not whitened; components signed by
    sklearn's deterministic rule) on the rows it is given, and only on them, projects them
    to (n, k) with k <= min(n_components, n - 1, d) (`components_for`; `principal_axes`
    keeps those that hold variation), and fits `inner` on the projection; every
    later score projects the new rows with the same mean and components first:
    Z = (X - mean_) @ components_.T. So an out-of-fold calibration refit, which is fitted on
    its training folds alone, fits its own PCA on those folds (the held-out fold never shapes
    its projection), and the kNN, GMM and MULDE rows of a stream see the same reduction.
    A single row has no variance to rank: its projection is its first k features, centred.
    A cheaper appearance stream (issue 14, round 6: the 1,280-d EfficientNet-Lite0 embedding
    dominated the fit time); the standard PCA step before a density model (Pearson 1901;
    Hotelling 1933). `explained_variance_` is the fraction of the training variance the kept
    components hold. Raises ValueError when n_components < 1.
    """

    inner: StreamModel
    n_components: int = 128
    name: str = "pca"

    def __post_init__(self) -> None:
        if isinstance(self.n_components, bool) or int(self.n_components) < 1:
            raise ValueError(f"n_components must be an integer >= 1, got "
                             f"{self.n_components!r}")

    def fit(self, X: np.ndarray, groups: np.ndarray) -> PCAStream:
        """Fit the PCA on X (n, d) and `inner` on its (n, k) projection."""
        X = np.asarray(X, dtype=np.float64)
        self.mean_, self.components_, self.explained_variance_ = principal_axes(
            X, self.components_for(*X.shape))
        self.inner.fit(self.transform(X), groups)
        return self

    def components_for(self, n_rows: int, n_features: int) -> int:
        """The k components a fit on n_rows rows of n_features features asks for:
        min(n_components, n_rows - 1, n_features) (centred rows span at most n_rows - 1
        directions; one for a single row); `principal_axes` keeps fewer where the rows span
        fewer."""
        return min(int(self.n_components), max(1, n_rows - 1), n_features)

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Return the rows X (m, d) projected on the fitted components: (m, k) float64."""
        return project(X, self.mean_, self.components_)

    def train_scores(self) -> np.ndarray:
        return self.inner.train_scores()

    def score(self, X: np.ndarray) -> np.ndarray:
        return self.inner.score(self.transform(X))

    def score_training_video(self, X: np.ndarray, group: int) -> np.ndarray:
        """The objects of training video `group`, scored as `inner` scores them."""
        return self.inner.score_training_video(self.transform(X), group)


@dataclass
class WithPCA:
    """A picklable model factory (`StreamEnsemble` fits in worker processes): each call
    returns a fresh `PCAStream(make(), n_components)`."""

    make: Callable[[], StreamModel]
    n_components: int

    def __call__(self) -> PCAStream:
        return PCAStream(self.make(), int(self.n_components))


def _counts_directions(model: StreamModel) -> bool:
    """Whether fitting `model` counts its rows' principal directions: a MULDE stream whose
    n_members or hidden_sizes is "auto" (also when unset; rounds 33 and 59)."""
    return isinstance(model, MULDEStream) and any(
        _is_auto(model.params.get(key, "auto")) for key in ("n_members", "hidden_sizes"))


SETTLED = ("n_members", "lr", "hidden_sizes", "validation_fraction")
"""MULDE's settings whose "auto" counts the rows fitted on (`settle_auto` fixes them; it also
fixes max_samples "auto" to 1 where n_members "auto" settles to round 43's pair, whose share
follows from those)."""


def _is_auto(value: Any) -> bool:
    """Whether a MULDE setting is the string "auto" (any other value, an array of widths
    included, is not): `mulde.core.training.is_auto`, restated so that this module imports
    no torch."""
    return isinstance(value, str) and value == "auto"


def settle_auto(model: StreamModel, X: np.ndarray) -> StreamModel:
    """Fix `model`'s settings that MULDE resolves from the rows it is fitted on, as a fit on
    the rows X (n, d) would resolve them, and return it.

    An out-of-fold calibration refit (`mulde.vad.ensemble.run_fit_job`) sees about (k-1)/k of a
    stream's rows, and `MULDE`'s n_members="auto" (`mulde.core.training.resolve_members`, from
    the rows, the features and where it matters the principal directions), lr="auto"
    (`learning_rate_for_rows`), hidden_sizes="auto" (`widths_for_features`: three layers
    from 50 rows per feature (or 25 from 501 rows with 50 per principal direction), of 160
    up to 160 features, two networks of them with n_members "auto", each on every row:
    `deep_pair`, max_samples settled to 1 with them)
    and validation_fraction="auto"
    (`validation_fraction_for_network`: a fifth held out of three layers on the same rows,
    from the widths given or settled; the eight networks' later layers narrower:
    `widths_for_members`) count
    them: near a threshold a refit would train other networks than the model it calibrates for
    (e.g. 15,300 rows of 1,280 features over at most 306 principal directions train one network,
    11,500 of them eight; 500 rows of 8 features three layers, 375 of them two), and below
    3,000 rows at another rate. Settled from the whole stream, every refit trains the deployed
    model's settings on fewer rows. Only the values "auto" (also when unset) are replaced, in a
    new `params` dict (a factory may hand one dict to every model it makes); any other value is
    left for MULDE to validate. A `PCAStream` settles its inner MULDE on X's projection on the
    components the full fit keeps (`principal_axes` fitted on X, as the full fit's are: those X
    spans, which may be fewer than `PCAStream.components_for` asks; projected only where the
    inner MULDE would count the directions); kNN and GMM resolve nothing."""
    from mulde.core.network import are_widths, widths_for_features  # torch: MULDE streams
    from mulde.core.training import (
        deep_pair,
        directions_matter,
        learning_rate_for_rows,
        resolve_members,
        rule_directions,
        validation_fraction_for_network,
        widths_for_members,
    )

    if isinstance(model, PCAStream):
        if not (isinstance(model.inner, MULDEStream) and any(
                _is_auto(model.inner.params.get(key, "auto")) for key in SETTLED)):
            return model  # nothing to resolve: no PCA fitted for it
        n, d = np.shape(X)
        # the components the full fit keeps (those X spans, which may be fewer than asked)
        mean, components, _ = principal_axes(X, model.components_for(n, d))
        k = len(components)
        if _counts_directions(model.inner) and directions_matter(n, k):
            # the inner model counts the directions of X's projection
            settle_auto(model.inner, project(X, mean, components))
        else:  # the counts alone decide: rows of the projection's shape, none allocated
            settle_auto(model.inner, np.broadcast_to(0.0, (n, k)))
    elif isinstance(model, MULDEStream):
        n, d = np.shape(X)
        given = model.params.get("hidden_sizes", "auto")
        directions = rule_directions(X) if _counts_directions(model) else None
        members = resolve_members("auto", n, d, directions, given)
        widths = given
        if _is_auto(given):
            widths = list(widths_for_members(widths_for_features(d, n, directions), members,
                                             given, model.params.get("n_members", "auto")))
        settled = {"n_members": members, "lr": learning_rate_for_rows(n, d),
                   "hidden_sizes": widths}
        if deep_pair(n, d, given, directions) and _is_auto(model.params.get("n_members",
                                                                            "auto")):
            # round 43's pair trains each network on every row, which "auto" would halve
            # once the count is settled
            settled["max_samples"] = 1.0
        if are_widths(widths):  # the share follows the widths; bad ones are MULDE's to refuse
            settled["validation_fraction"] = validation_fraction_for_network(n, d, widths,
                                                                             directions)
        model.params = {**model.params, **{key: value for key, value in settled.items()
                                           if _is_auto(model.params.get(key, "auto"))}}
    return model


def make_stream_model(kind: str, seed: int = 0,
                      mulde_params: dict[str, Any] | None = None) -> StreamModel:
    """Return a fresh model of `kind`: 'mulde', 'knn' or 'gmm'."""
    if kind == "mulde":
        return MULDEStream(dict(mulde_params or {}), seed)
    if kind == "knn":
        return KNNStream()
    if kind == "gmm":
        return GMMStream(seed=seed)
    raise ValueError(f"unknown detector {kind!r}; choose mulde, knn or gmm")
