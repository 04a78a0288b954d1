"""The MULDE estimator: the method's acceptance facts and scikit-learn's conventions."""

import numpy as np
import pytest
import torch

from mulde import MULDE
from mulde.demo.toy import kde_baseline, toy_data

FAST = {"hidden_sizes": (64, 64), "max_steps": 300, "batch_size": 256, "random_state": 0}


GAUSS = np.random.default_rng(0).standard_normal((4000, 8))


@pytest.fixture(scope="module")
def gaussian_model():
    """Pure multiscale DSM (beta = 0): its optimum is the score of q_sigma."""
    params = FAST | {"max_steps": 2000, "batch_size": 512, "lr": 2e-3, "patience": None,
                     "beta": 0.0, "ema_decay": 0.99}
    return MULDE(**params).fit(GAUSS)


def test_gaussian_score_matches_the_analytic_gradient(gaussian_model):
    """For x ~ N(0, I), grad_x f(x, sigma) = x / (1 + sigma^2) (docs/method.md)."""
    model = gaussian_model
    x = torch.as_tensor(np.random.default_rng(1).standard_normal((500, 8)), dtype=torch.float32)
    x = ((x.double().numpy() - model.mean_) / model.scale_)
    x = torch.as_tensor(x, dtype=torch.float32).requires_grad_(True)
    for sigma in (0.1, 0.3, 0.6, 1.0):
        f = model.network_(x, torch.full((500, 1), sigma))
        (grad,) = torch.autograd.grad(f.sum(), x)
        cos = torch.nn.functional.cosine_similarity(grad, x / (1 + sigma**2), dim=1)
        assert cos.mean().item() > 0.99, (sigma, cos.mean().item())


def test_toy_gmm_auc_is_within_001_of_cross_validated_kde():
    X_train, X_test, y_test = toy_data(seed=0, n_train=4000, n_test=1000)
    from sklearn.metrics import roc_auc_score

    model = MULDE(**FAST | {"max_steps": 1000}).fit(X_train)  # the default step budget
    auc = roc_auc_score(y_test, model.anomaly_score(X_test))
    kde_scores, _ = kde_baseline(X_train, X_test)
    kde_auc = roc_auc_score(y_test, kde_scores)
    assert auc >= kde_auc - 0.01, (auc, kde_auc)


@pytest.fixture(scope="module")
def small_model():
    X = np.random.default_rng(2).standard_normal((600, 4))
    return MULDE(**FAST | {"max_steps": 100}).fit(X), X


def test_conventions_of_scores_and_predictions(small_model):
    model, X = small_model
    far = np.full((3, 4), 6.0)
    s_in, s_far = model.score_samples(X[:50]), model.score_samples(far)
    assert s_far.max() < s_in.min()  # higher score_samples = more normal
    np.testing.assert_allclose(model.anomaly_score(far), -s_far)
    np.testing.assert_allclose(model.decision_function(far), s_far - model.offset_)
    assert set(model.predict(far)) == {-1}
    # contamination 'auto' flags 1 % of the training samples
    assert np.mean(model.predict(X) == -1) == pytest.approx(0.01, abs=0.005)
    multi = model.score_samples_multiscale(X[:5])
    assert multi.shape == (5, model.n_levels)


def test_contamination_fraction_sets_the_training_outlier_rate():
    X = np.random.default_rng(3).standard_normal((400, 3))
    model = MULDE(**FAST | {"max_steps": 50, "contamination": 0.1}).fit(X)
    assert np.mean(model.predict(X) == -1) == pytest.approx(0.1, abs=0.01)
    with pytest.raises(ValueError, match="contamination"):
        MULDE(contamination=0.9).fit(X)


@pytest.mark.parametrize("aggregator", ["gmm", "mean_z", "max_z", "single"])
def test_every_aggregator_ranks_far_points_as_anomalous(aggregator):
    X = np.random.default_rng(4).standard_normal((500, 2))
    model = MULDE(**FAST | {"aggregator": aggregator, "n_components": 2}).fit(X)
    assert model.anomaly_score(np.array([[5.0, 5.0]]))[0] > np.median(model.anomaly_score(X))


def test_same_seed_gives_the_same_model_and_geometric_grid():
    X = np.random.default_rng(5).standard_normal((300, 3))
    params = FAST | {"max_steps": 30, "spacing": "geometric"}
    a = MULDE(**params).fit(X).score_samples(X)
    b = MULDE(**params).fit(X).score_samples(X)
    np.testing.assert_array_equal(a, b)


def test_wrong_dimension_and_nan_are_refused(small_model):
    model, _ = small_model
    with pytest.raises(ValueError, match="4 features"):
        model.score_samples(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="NaN"):
        model.score_samples(np.array([[np.nan, 0, 0, 0]]))


def test_constant_column_warns_and_is_not_scaled():
    X = np.random.default_rng(6).standard_normal((200, 3))
    X[:, 1] = 7.0
    with pytest.warns(UserWarning, match="constant"):
        model = MULDE(**FAST | {"max_steps": 20}).fit(X)
    assert model.scale_[1] == 1.0
    assert np.isfinite(model.score_samples(X)).all()


def test_presets():
    from mulde.estimator.presets import ESTIMATOR_PRESETS

    assert set(ESTIMATOR_PRESETS) == {"default", "paper"}
    paper = MULDE.from_preset("paper")
    assert paper.hidden_sizes == (4096, 4096) and paper.n_epochs == 1000
    assert paper.lr == 4e-5 and paper.batch_size == 2048 and paper.beta == 0.1
    assert MULDE.from_preset("default", max_steps=10).max_steps == 10
    with pytest.raises(ValueError, match="unknown preset"):
        MULDE.from_preset("nope")


def test_training_defaults_are_the_documented_ones_and_shared_with_train_config():
    """README's default preset: lr 1e-3, batch 1024, at most 1,000 steps, EMA 0.99, early
    stopping on a 10 % validation split; TrainConfig must agree (issue 12: it said 2000 / None)."""
    from dataclasses import asdict

    from mulde.core import TrainConfig

    params = MULDE().get_params()
    documented = {"lr": 1e-3, "batch_size": 1024, "n_epochs": None, "max_steps": 1000,
                  "ema_decay": 0.99, "validation_fraction": 0.1, "patience": 5,
                  "eval_every": 100, "checkpoint_every": 500}
    assert {k: params[k] for k in documented} == documented
    config = asdict(TrainConfig())
    assert {k: config[k] for k in documented} == documented


def test_checkpoint_every_reaches_the_training_loop(tmp_path, monkeypatch):
    import mulde.core.training as training

    saved_at = []
    real = training.save_checkpoint

    def recording(path, net, ema, opt, state, best, config):
        saved_at.append(state["step"])
        real(path, net, ema, opt, state, best, config)

    monkeypatch.setattr(training, "save_checkpoint", recording)
    X = np.random.default_rng(7).standard_normal((200, 3))
    model = MULDE(**FAST | {"max_steps": 12, "patience": None}, checkpoint_every=5,
                  checkpoint_dir=str(tmp_path)).fit(X)
    assert saved_at == [5, 10, 12]
    assert model.get_params()["checkpoint_every"] == 5
    with pytest.raises(ValueError, match="checkpoint_every"):
        MULDE(checkpoint_every=0).fit(X)
