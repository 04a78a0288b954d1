"""The per-stream density models (`mulde.vad.stream_models`): kNN with its leave-one-video-out
training scores, the Gaussian mixture, the MULDE wrapper and the factory, by hand."""

import numpy as np
import pytest

from mulde import MULDE
from mulde.vad import GMMStream, KNNStream, MULDEStream, make_stream_model

# 1-D objects 0, 2 (video 0) and 4, 6 (video 1): mean 3, population std sqrt(5)
X = np.array([[0.0], [2.0], [4.0], [6.0]])
GROUPS = np.array([0, 0, 1, 1])
STD = np.sqrt(5.0)


def test_knn_train_scores_leave_each_video_out():
    """Video 0's objects against video 1's only (0 -> 4, 2 -> 4) and back (4 -> 2, 6 -> 2);
    in-sample every object would be its own neighbour, at distance 0."""
    knn = KNNStream().fit(X, GROUPS)
    np.testing.assert_allclose(knn.train_scores(), np.array([4, 2, 2, 4]) / STD, rtol=1e-12)
    # new objects against every training object: 1 -> 0 or 2, 7 -> 6
    np.testing.assert_allclose(knn.score(np.array([[1.0], [7.0]])), [1 / STD, 1 / STD],
                               rtol=1e-12)


def test_knn_averages_the_k_nearest_distances():
    knn = KNNStream(k=2).fit(X, GROUPS)
    # video 0: 0 -> {4, 6} mean 5, 2 -> {4, 6} mean 3; video 1 mirrored
    np.testing.assert_allclose(knn.train_scores(), np.array([5, 3, 3, 5]) / STD, rtol=1e-12)
    np.testing.assert_allclose(knn.score(np.array([[1.0]])), [1 / STD], rtol=1e-12)
    # k larger than the reference set: all of it
    np.testing.assert_allclose(KNNStream(k=10).fit(X, GROUPS).score(np.array([[3.0]])),
                               [2 / STD], rtol=1e-12)


def test_knn_with_one_training_video_leaves_each_object_out():
    """No other video to score against: each object against the others (0 -> 1, 1 -> 0,
    3 -> 1, 7 -> 3), not itself at distance 0; new objects, exact training rows included,
    still against every training object."""
    rows = np.array([[0.0], [1.0], [3.0], [7.0]])
    std = rows.std()
    knn = KNNStream().fit(rows, np.zeros(4, int))
    np.testing.assert_allclose(knn.train_scores(), np.array([1, 1, 2, 4]) / std, rtol=1e-12)
    np.testing.assert_allclose(knn.score(np.array([[3.0], [6.0]])), [0.0, 1 / std], atol=1e-12)
    # k = 2: 0 -> {1, 3}, 1 -> {0, 3}, 3 -> {1, 0}, 7 -> {3, 1}
    np.testing.assert_allclose(KNNStream(k=2).fit(rows, np.zeros(4, int)).train_scores(),
                               np.array([2, 1.5, 2.5, 5]) / std, rtol=1e-12)


def test_knn_with_one_training_video_drops_one_self_match_not_every_copy():
    """An object with an exact copy in the video has it as its neighbour (distance 0): only
    the object itself is left out."""
    rows = np.array([[0.0], [0.0], [5.0]])
    knn = KNNStream(standardise=False).fit(rows, np.zeros(3, int))
    np.testing.assert_array_equal(knn.train_scores(), [0.0, 0.0, 5.0])


def test_knn_scores_a_single_videos_objects_not_fitted_on_against_every_fitted_one():
    """A subsample of one video: its fitted objects leave themselves out (0 -> 3), an
    object not fitted on keeps its nearest fitted one (1 -> 0, 2 -> 3)."""
    knn = KNNStream(standardise=False).fit(np.array([[0.0], [3.0], [7.0]]), np.zeros(3, int))
    np.testing.assert_array_equal(
        knn.score_training_video(np.array([[0.0], [1.0], [2.0], [3.0]]), 0), [3, 1, 1, 3])


def test_knn_raw_squared_distances_as_ai_vad():
    """`standardise=False, squared=True`: AI-VAD's faiss IndexFlatL2 on the raw features."""
    train = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [3.0, 4.0]])
    knn = KNNStream(standardise=False, squared=True).fit(train, GROUPS)
    # video 0 vs {(3,0), (3,4)}: 9, 4; video 1 vs {(0,0), (1,0)}: 4, 4 + 16 = 20
    np.testing.assert_allclose(knn.train_scores(), [9.0, 4.0, 4.0, 20.0])
    np.testing.assert_allclose(knn.score(np.array([[1.0, 1.0], [6.0, 4.0]])), [1.0, 9.0])


def test_knn_leaves_a_constant_column_unscaled():
    train = np.c_[X, np.full(4, 7.0)]
    knn = KNNStream().fit(train, GROUPS)
    np.testing.assert_array_equal(knn.scale_, [STD, 1.0])
    np.testing.assert_allclose(knn.score(np.array([[0.0, 8.0]])), [1.0], rtol=1e-12)


def test_knn_leaves_a_column_constant_up_to_rounding_unscaled():
    """A column of one value whose computed std is a rounding error (0.1 on 100 rows: about
    1e-17) is constant too, not scaled by ~1e17 (a new row 1e-6 away would be far out)."""
    rng = np.random.default_rng(0)
    train = np.c_[rng.standard_normal(100), np.full(100, 0.1)]
    assert 0 < train[:, 1].std() < 1e-15
    knn = KNNStream().fit(train, np.arange(100) % 4)
    assert knn.scale_[1] == 1.0
    row = train[:1].copy()
    row[0, 1] += 1e-6
    np.testing.assert_allclose(knn.score(row), knn.score(train[:1]), atol=1e-5)


def test_gmm_one_component_is_a_gaussian_negative_log_likelihood():
    """Objects -1, 1 standardise to -1, 1: one Gaussian of mean 0 and variance 1 + reg_covar
    (1e-3), so -log p(z) = log(2 pi v) / 2 + z^2 / (2 v)."""
    v = 1.001
    nll = lambda z: 0.5 * np.log(2 * np.pi * v) + z**2 / (2 * v)  # noqa: E731
    gmm = GMMStream(n_components=1).fit(np.array([[-1.0], [1.0]]), np.array([0, 1]))
    np.testing.assert_allclose(gmm.train_scores(), [nll(1.0), nll(1.0)], rtol=1e-9)
    np.testing.assert_allclose(gmm.score(np.array([[0.0], [3.0]])), [nll(0.0), nll(3.0)],
                               rtol=1e-9)


def test_gmm_components_capped_by_the_training_objects():
    gmm = GMMStream(n_components=5).fit(X[:3], GROUPS[:3])
    assert gmm.gmm_.n_components == 3
    np.testing.assert_allclose(gmm.train_scores(), gmm.score(X[:3]))


def test_mulde_stream_wraps_the_estimator_with_its_seed():
    rng = np.random.default_rng(0)
    train, new = rng.normal(size=(64, 2)), rng.normal(size=(5, 2))
    params = {"hidden_sizes": (8,), "max_steps": 3, "n_levels": 4, "batch_size": 32}
    stream = MULDEStream(params, seed=3).fit(train, np.zeros(64, int))
    assert stream.model.random_state == 3 and stream.model.max_steps == 3
    np.testing.assert_array_equal(stream.train_scores(), stream.model.anomaly_score(train))
    np.testing.assert_array_equal(stream.score(new), stream.model.anomaly_score(new))
    again = MULDEStream(params, seed=3).fit(train, np.zeros(64, int))
    np.testing.assert_array_equal(again.score(new), stream.score(new))
    # a random_state in the parameters wins over the seed
    assert MULDEStream({**params, "random_state": 7}, seed=3).fit(
        train, np.zeros(64, int)).model.random_state == 7


def test_make_stream_model_by_name():
    mulde = make_stream_model("mulde", seed=4, mulde_params={"max_steps": 10})
    assert isinstance(mulde, MULDEStream) and (mulde.seed, mulde.params) == (4, {"max_steps": 10})
    assert isinstance(make_stream_model("knn"), KNNStream)
    gmm = make_stream_model("gmm", seed=2)
    assert isinstance(gmm, GMMStream) and (gmm.seed, gmm.n_components) == (2, 5)
    with pytest.raises(ValueError, match="unknown detector 'svm'; choose mulde, knn or gmm"):
        make_stream_model("svm")


# ------------------------------------------------------------------ PCAStream, by hand


class Recorder:
    """A stream model that keeps what it was fitted on and scores by the first feature."""

    name = "recorder"

    def fit(self, X, groups):
        self.X_, self.groups_ = X, groups
        return self

    def train_scores(self):
        return self.X_[:, 0].copy()

    def score(self, X):
        return X[:, 0].copy()

    def score_training_video(self, X, group):
        return self.score(X)


# rows (1, 1) +- (2, 0) and +- (0, 1): mean (1, 1); variances 8/3 along x, 2/3 along y, so the
# first principal component is the x axis and keeps 8 / (8 + 2) = 0.8 of the variance
P = np.array([[3.0, 1.0], [-1.0, 1.0], [1.0, 2.0], [1.0, 0.0]])


def test_pca_rows_are_the_centred_rows_on_the_first_component():
    from mulde.vad.stream_models import PCAStream

    model = PCAStream(Recorder(), 1).fit(P, np.array([0, 0, 1, 1]))
    np.testing.assert_allclose(model.mean_, [1.0, 1.0], atol=1e-12)
    assert model.components_.shape == (1, 2)
    sign = np.sign(model.components_[0, 0])  # a component's sign is a convention
    np.testing.assert_allclose(model.components_[0], [sign, 0.0], atol=1e-12)
    np.testing.assert_allclose(model.inner.X_, sign * np.array([[2.0], [-2.0], [0.0], [0.0]]),
                               atol=1e-12)
    np.testing.assert_array_equal(model.inner.groups_, [0, 0, 1, 1])
    assert model.explained_variance_ == pytest.approx(0.8)
    # new rows go through the same projection: (4, 5) -> 4 - 1 = 3 along x
    np.testing.assert_allclose(model.score(np.array([[4.0, 5.0]])), [sign * 3.0], atol=1e-12)
    np.testing.assert_allclose(model.train_scores(), sign * np.array([2.0, -2.0, 0, 0]),
                               atol=1e-12)
    np.testing.assert_allclose(model.score_training_video(np.array([[0.0, 0.0]]), 0),
                               [-sign], atol=1e-12)


def test_pca_keeps_at_most_the_rows_and_the_features():
    from mulde.vad.stream_models import PCAStream

    model = PCAStream(Recorder(), 5).fit(P, np.zeros(4, int))
    assert model.components_.shape == (2, 2) and model.inner.X_.shape == (4, 2)
    assert model.explained_variance_ == pytest.approx(1.0)
    assert PCAStream(Recorder(), 5).fit(P[:1], np.zeros(1, int)).components_.shape[0] == 1
    for bad in (0, -3, True):
        with pytest.raises(ValueError, match="n_components must be an integer >= 1"):
            PCAStream(Recorder(), bad)


def test_pca_keeps_only_the_directions_the_rows_span():
    """Centred, n rows span at most n - 1 directions (P[:2]: one), and dependent rows fewer:
    rows on a plane in 5-d keep 2 components, not 5 whose last 3 have rounding-sized spread
    that the stream's model would scale up to unit spread. Constant rows keep one."""
    from mulde.vad.stream_models import PCAStream, principal_axes, project

    assert PCAStream(Recorder(), 5).fit(P[:2], np.zeros(2, int)).components_.shape == (1, 2)
    rng = np.random.default_rng(0)
    plane = rng.normal(size=(40, 2)) @ rng.normal(size=(2, 5)) + 3.0  # 40 rows, rank 2
    mean, components, share = principal_axes(plane, 5)
    assert components.shape == (2, 5) and share == pytest.approx(1.0)
    np.testing.assert_allclose(project(plane, mean, components) @ components + mean, plane,
                               atol=1e-9)  # nothing of the rows is lost
    assert PCAStream(Recorder(), 5).components_for(40, 5) == 5  # asked; the fit keeps 2
    assert principal_axes(np.ones((6, 3)), 3)[1].shape == (1, 3)


def test_with_pca_makes_a_fresh_reduced_model_each_call():
    import pickle

    from mulde.vad.stream_models import PCAStream, WithPCA

    make = WithPCA(KNNStream, 3)
    a, b = make(), make()
    assert isinstance(a, PCAStream) and a is not b and a.inner is not b.inner
    assert a.n_components == 3 and isinstance(a.inner, KNNStream)
    assert pickle.loads(pickle.dumps(make)) == make  # worker processes receive it


def _isotropic(n: int, d: int) -> np.ndarray:
    """n rows of d independent standard normal features: about 0.9 d principal directions."""
    return np.random.default_rng(0).normal(size=(n, d))


def _near_a_plane(n: int, d: int) -> np.ndarray:
    """n rows of d features near a random plane: two principal directions."""
    rng = np.random.default_rng(1)
    return rng.normal(size=(n, 2)) @ rng.normal(size=(2, d)) + 1e-3 * rng.normal(size=(n, d))


def test_settle_auto_resolves_members_and_rate_from_the_given_rows():
    """4,000 rows of 512 features are fewer than ten per feature: eight networks; 6,000 are
    not, and near a plane (two principal directions) they train one, isotropic (about 460
    directions, fewer than 50 rows each) eight. lr "auto" becomes the number
    `learning_rate_for_rows` gives; set values stay."""
    from mulde.core.training import learning_rate_for_rows
    from mulde.vad.stream_models import settle_auto

    thin = settle_auto(MULDEStream(), _isotropic(4000, 512))
    assert thin.params["n_members"] == 8
    assert thin.params["lr"] == learning_rate_for_rows(4000, 512)
    assert settle_auto(MULDEStream(), _near_a_plane(6000, 512)).params["n_members"] == 1
    assert settle_auto(MULDEStream(), _isotropic(6000, 512)).params["n_members"] == 8
    fixed = settle_auto(MULDEStream({"n_members": 2, "lr": 5e-4}), _isotropic(4000, 512))
    assert (fixed.params["n_members"], fixed.params["lr"]) == (2, 5e-4)
    # round 51: the eight networks' later layers 128 wide, as a fit's "auto" builds them
    assert thin.params["hidden_sizes"] == [512, 128]
    assert fixed.params["hidden_sizes"] == [512, 256]  # two networks: as resolved
    eight = settle_auto(MULDEStream({"n_members": 8}), _isotropic(4000, 512))
    assert eight.params["hidden_sizes"] == [512, 256]  # networks given: as resolved


def test_settle_auto_gives_refits_the_deployed_models_depth_and_held_out_share():
    """Issue 15's rounds 41-45: 500 rows of 8 features (62 per feature) fit two networks
    of three layers of 160, each on every row, with a fifth held out; a refit on three
    quarters of them (375 rows, 47 per feature) would fit 2 of two layers of 256, each on
    half the rows, with a tenth, so the whole stream's settle them; set values stay."""
    from mulde.vad.stream_models import PCAStream, settle_auto

    X = np.random.default_rng(0).normal(size=(500, 8))
    unsettled = MULDEStream({"max_steps": 1}).fit(X[:375], np.zeros(375, int)).model
    assert unsettled.hidden_sizes_ == (256, 256)  # what settling prevents
    assert (unsettled.train_result_.n_members, unsettled.train_result_.max_samples,
            unsettled.train_result_.validation_fraction) == (2, 0.5, 0.1)
    settled = settle_auto(MULDEStream({"max_steps": 1}), X).params
    assert settled["hidden_sizes"] == [160, 160, 160]
    assert settled["validation_fraction"] == 0.2
    assert (settled["n_members"], settled["max_samples"]) == (2, 1.0)
    refit = MULDEStream(settled).fit(X[:375], np.zeros(375, int)).model
    assert refit.hidden_sizes_ == (160, 160, 160)
    assert refit.train_result_.validation_fraction == 0.2
    assert (refit.train_result_.n_members, refit.train_result_.max_samples) == (2, 1.0)
    # members set: the pair's share is not settled ("auto" halves another ensemble's rows)
    three = settle_auto(MULDEStream({"n_members": 3}), X).params
    assert three["n_members"] == 3 and "max_samples" not in three
    fixed = settle_auto(MULDEStream({"hidden_sizes": [64], "validation_fraction": 0.3}), X)
    assert (fixed.params["hidden_sizes"], fixed.params["validation_fraction"]) == ([64], 0.3)
    # widths set, share "auto": the share follows the widths given, as a fit's would
    two = settle_auto(MULDEStream({"hidden_sizes": [64, 64]}), X).params
    assert (two["hidden_sizes"], two["validation_fraction"]) == ([64, 64], 0.1)
    assert MULDEStream(two).fit(X[:750], np.zeros(750, int)).model \
        .train_result_.validation_fraction == 0.1
    # widths as an array settle too; widths MULDE will refuse are left for it to refuse
    arr = settle_auto(MULDEStream({"hidden_sizes": np.array([64, 64, 64])}), X).params
    assert arr["validation_fraction"] == 0.2
    for bad in (64, None, "big"):
        left = settle_auto(MULDEStream({"hidden_sizes": bad}), X).params
        assert left["hidden_sizes"] == bad and "validation_fraction" not in left
        with pytest.raises(ValueError, match="hidden_sizes"):
            MULDEStream(left).fit(X[:50], np.zeros(50, int))
    pca = settle_auto(PCAStream(MULDEStream(), 4), X).inner.params  # on the 4 components
    assert pca["hidden_sizes"] == [160, 160, 160] and pca["validation_fraction"] == 0.2


def test_settle_auto_counts_a_pca_streams_components():
    """600 rows of 1,280 features reduced to 128 components are fewer than ten per
    component (600 < 1,280): eight networks. 2,000 are enough per component but fewer than
    50 per principal direction of the projection (standardised, its 128 columns are
    uncorrelated: 116 directions, 5,800 rows): eight. 6,000 rows are at least 25 per
    component (of at most 160, from 501 rows): round 58's pair of three layers, where the
    unreduced 1,280 features would have asked for eight (and, before round 58, one). The
    rows lie near a plane, yet the projection counts 116: standardising principal
    component scores whitens them, so on a PCA stream the count is ceil(0.9 k) whenever
    the rows have k directions at all."""
    from mulde.vad.stream_models import PCAStream, settle_auto

    def members(n: int) -> int:
        model = settle_auto(PCAStream(MULDEStream(), 128), _near_a_plane(n, 1280))
        return model.inner.params["n_members"]

    assert members(600) == 8 and members(2000) == 8 and members(6000) == 2


def test_settle_auto_settles_on_the_components_a_pca_fit_keeps():
    """600 rows of 200 features spanning 10 directions: the PCA keeps 10 of the 128 asked,
    and the refits are settled on those 10 columns, as the full fit resolves them (on 128
    columns the rows would be fewer than 10 per feature: eight networks; on the 10, 60 rows
    per feature: the pair)."""
    from mulde.vad.stream_models import PCAStream, settle_auto

    rng = np.random.default_rng(1)
    X = rng.normal(size=(600, 10)) @ rng.normal(size=(10, 200))
    settled = settle_auto(PCAStream(MULDEStream(), 128), X).inner.params
    reduced = PCAStream(MULDEStream({"max_steps": 1, "eval_every": 1}), 128).fit(
        X, np.zeros(600, int))
    assert reduced.components_.shape == (10, 200)
    assert settled["n_members"] == reduced.inner.model.train_result_.n_members == 2


def test_settle_auto_leaves_knn_and_gmm_alone():
    from mulde.vad.stream_models import settle_auto

    knn, gmm = KNNStream(), GMMStream()
    assert settle_auto(knn, _isotropic(100, 3)) is knn and knn == KNNStream()
    assert settle_auto(gmm, _isotropic(100, 3)) is gmm and gmm == GMMStream()


def test_settle_auto_never_changes_a_factorys_shared_params():
    """A factory may hand one params dict to every model it makes (a partial, a lambda):
    settling a refit's model gives it its own dict, so a later fit still sees "auto"."""
    from mulde.vad.stream_models import settle_auto

    shared = {"n_members": "auto", "max_steps": 5}
    settled = settle_auto(MULDEStream(shared), _isotropic(600, 2))
    assert shared == {"n_members": "auto", "max_steps": 5}
    # 600 rows: 1e-3; 300 per feature: two networks of three layers, a fifth held out
    assert settled.params == {"n_members": 2, "max_samples": 1.0, "lr": 1e-3,
                              "hidden_sizes": [160, 160, 160], "validation_fraction": 0.2,
                              "max_steps": 5}
    assert settle_auto(MULDEStream(shared), _isotropic(4000, 512)).params["n_members"] == 8


def test_settle_auto_leaves_values_other_than_auto_to_mulde():
    """Only "auto" is settled: a wrong value reaches MULDE's own parameter check unchanged."""
    from mulde.vad.stream_models import settle_auto

    params = settle_auto(MULDEStream({"lr": "AUTO", "n_members": True, "hidden_sizes": "wide",
                                      "validation_fraction": "Auto"}),
                         _isotropic(600, 2)).params
    assert params == {"lr": "AUTO", "n_members": True, "hidden_sizes": "wide",
                      "validation_fraction": "Auto"}


def test_settle_auto_gives_the_networks_a_full_fit_trains():
    """What settle_auto fixes for a refit is what MULDE's own "auto" resolves on the same
    rows, on both sides of the principal-directions rule (600 rows of 32 features, 18.75 per
    feature: isotropic, 28 directions, eight networks; near a plane, 2, one), and on both
    sides of the deeper networks' rows (800 rows of 32 features, 25 per feature: rounds
    58-59's pair near a plane, a fifth held out, the eight on isotropic rows; 2,000 rows of
    16 features, 125 per feature: round 45's)."""
    from mulde.vad.stream_models import settle_auto

    members = []
    for X in (_isotropic(600, 32), _near_a_plane(600, 32), _isotropic(800, 32),
              _near_a_plane(800, 32), _isotropic(2000, 16)):
        fitted = MULDE(max_steps=1, eval_every=1, random_state=0).fit(X)
        settled = settle_auto(MULDEStream(), X).params
        assert settled["n_members"] == fitted.train_result_.n_members
        members.append(settled["n_members"])
        assert settled.get("max_samples", "auto") in ("auto", fitted.train_result_.max_samples)
        assert tuple(settled["hidden_sizes"]) == fitted.hidden_sizes_
        assert settled["validation_fraction"] == fitted.train_result_.validation_fraction
    assert members == [8, 1, 8, 2, 2]


def test_settle_auto_counts_no_directions_a_model_will_not_use(monkeypatch):
    """A set n_members with set widths, or an inner model other than MULDE, needs no
    principal directions, and a PCA stream whose MULDE resolves nothing needs no PCA:
    neither the count nor a PCA stream's projection is computed."""
    import mulde.core.training
    import mulde.vad.stream_models as stream_models
    from mulde.vad.stream_models import PCAStream, settle_auto

    def refuse(*args, **kwargs):
        raise AssertionError("computed")

    monkeypatch.setattr(mulde.core.training, "rule_directions", refuse)
    monkeypatch.setattr(stream_models, "principal_axes", refuse)
    X = _isotropic(2000, 200)  # 500 < n < 50 d: the directions would matter
    assert settle_auto(MULDEStream({"n_members": 2, "hidden_sizes": [64]}),
                       X).params["n_members"] == 2
    given = {"n_members": 2, "lr": 1e-3, "hidden_sizes": [64], "validation_fraction": 0.1}
    fixed = PCAStream(MULDEStream(given), 128)
    assert settle_auto(fixed, X).inner.params == given
    knn = PCAStream(KNNStream(), 128)
    assert settle_auto(knn, X) is knn
