"""The authors' 2-D toy example (docs/method.md): data, an AUC table and pictures of the energy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mulde.io.atomic import write_json, write_text

NORMAL_CENTRES = np.array([(1, 0), (-1, 0), (0, 1), (0, -1)], dtype=float)
ANOMALY_CENTRES = np.array([(0.5, 0.5), (0.5, -0.5), (-0.5, 0.5), (-0.5, -0.5), (0, 0),
                            (1.7, 0), (-1.7, 0), (0, 1.7), (0, -1.7)], dtype=float)


def sample_toy(n: int, centres: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Return n points (0.3 z + 4 c) / sqrt(2), z ~ N(0, I_2), c uniform over the centres."""
    c = centres[rng.integers(len(centres), size=n)]
    return (0.3 * rng.standard_normal((n, 2)) + 4 * c) / np.sqrt(2)


def toy_data(seed: int = 0, n_train: int = 10_000,
             n_test: int = 5_000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (X_train, X_test, y_test with 1 = anomaly); the test set is n_test normal and
    n_test anomalous points."""
    rng = np.random.default_rng(seed)
    X_train = sample_toy(n_train, NORMAL_CENTRES, rng)
    X_test = np.vstack([sample_toy(n_test, NORMAL_CENTRES, rng),
                        sample_toy(n_test, ANOMALY_CENTRES, rng)])
    y_test = np.r_[np.zeros(n_test), np.ones(n_test)].astype(int)
    return X_train, X_test, y_test


def kde_baseline(X_train: np.ndarray, X_test: np.ndarray,
                 seed: int = 0) -> tuple[np.ndarray, float]:
    """Return (anomaly scores, bandwidth) of a KernelDensity whose bandwidth is chosen by 5-fold
    cross-validated log-likelihood on the training data only."""
    from sklearn.model_selection import GridSearchCV, KFold
    from sklearn.neighbors import KernelDensity

    grid = GridSearchCV(KernelDensity(), {"bandwidth": np.logspace(-2, 0.5, 12)},
                        cv=KFold(5, shuffle=True, random_state=seed))
    grid.fit(X_train)
    return -grid.best_estimator_.score_samples(X_test), float(grid.best_params_["bandwidth"])


def toy_table(model: Any, X_train: np.ndarray, X_test: np.ndarray,
              y_test: np.ndarray, seed: int = 0) -> dict[str, Any]:
    """Return the AUC of each aggregation of a fitted MULDE, every single scale and the KDE."""
    from sklearn.metrics import roc_auc_score

    from mulde.estimator.aggregation import aggregate, fit_aggregator

    e_train = model.score_samples_multiscale(X_train)
    e_test = model.score_samples_multiscale(X_test)
    rows: dict[str, float] = {}
    for k in (1, 3, 5):
        state = fit_aggregator("gmm", e_train, n_components=k, seed=seed)
        rows[f"gmm_k{k}"] = roc_auc_score(y_test, aggregate("gmm", state, e_test))
    for kind in ("mean_energy", "mean_z", "max_z"):
        rows[kind] = roc_auc_score(y_test, aggregate(kind, fit_aggregator(kind, e_train), e_test))
    single = [roc_auc_score(y_test, e_test[:, i]) for i in range(e_test.shape[1])]
    kde_scores, bandwidth = kde_baseline(X_train, X_test, seed)
    return {
        "auc": rows,
        "single_scale_auc": {f"{s:.4g}": a for s, a in zip(model.sigmas_, single, strict=True)},
        "best_single_scale": {"sigma": float(model.sigmas_[int(np.argmax(single))]),
                              "auc": max(single)},
        "worst_single_scale": {"sigma": float(model.sigmas_[int(np.argmin(single))]),
                               "auc": min(single)},
        "kde": {"auc": roc_auc_score(y_test, kde_scores), "bandwidth": bandwidth},
    }


def plot_energy(model: Any, X_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray,
                path: Path, levels: tuple[int, ...] = (0, 5, 10, 15)) -> Path:
    """Save contour plots of the learned energy f(x, sigma_l) at a few grid levels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lim = 5.5
    g = np.linspace(-lim, lim, 160)
    xx, yy = np.meshgrid(g, g)
    energies = model.score_samples_multiscale(np.c_[xx.ravel(), yy.ravel()])
    levels = tuple(i for i in levels if i < energies.shape[1])
    fig, axes = plt.subplots(1, len(levels), figsize=(4.2 * len(levels), 4.2), squeeze=False)
    for ax, i in zip(axes[0], levels, strict=True):
        ax.contourf(xx, yy, energies[:, i].reshape(xx.shape), levels=30, cmap="viridis")
        ax.scatter(*X_train[:400].T, s=2, c="white", alpha=0.6, label="train (normal)")
        anomalies = X_test[y_test == 1][:400]
        ax.scatter(*anomalies.T, s=2, c="red", alpha=0.6, label="test anomalies")
        ax.set_title(f"f(x, σ={model.sigmas_[i]:.3g})")
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0][0].legend(loc="lower left", fontsize=7, markerscale=4)
    fig.suptitle("MULDE energy (negative log-density) on the 2-D toy data")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def run_toy(out: Path, seed: int = 0, **params: Any) -> dict[str, Any]:
    """Fit MULDE on the toy data, write toy_results.json, toy_table.md and toy_energy.png."""
    from mulde import MULDE

    X_train, X_test, y_test = toy_data(seed)
    model = MULDE(random_state=seed, **params).fit(X_train)
    result = toy_table(model, X_train, X_test, y_test, seed)
    result |= {"fit_seconds": model.fit_seconds_, "params": model.get_params(), "seed": seed}
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "toy_results.json", result)
    write_text(out / "toy_table.md", _markdown(result))
    plot_energy(model, X_train, X_test, y_test, out / "toy_energy.png")
    return result


def _markdown(result: dict[str, Any]) -> str:
    lines = ["| method | AUC |", "| --- | --- |"]
    lines += [f"| MULDE {k} | {v:.4f} |" for k, v in result["auc"].items()]
    for which in ("best", "worst"):
        r = result[f"{which}_single_scale"]
        lines.append(f"| MULDE {which} single scale (σ={r['sigma']:.3g}) | {r['auc']:.4f} |")
    lines.append(f"| KDE (CV bandwidth {result['kde']['bandwidth']:.3g}) | "
                 f"{result['kde']['auc']:.4f} |")
    return "\n".join(lines) + "\n"

