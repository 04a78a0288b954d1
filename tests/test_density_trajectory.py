"""The training-trajectory probe (benchmarks/density_trajectory.py) scores the weights of
every validation and finds the step early stopping keeps."""

import numpy as np
import pytest
from density_trajectory import early_stop_index, trajectory, validated_weights

import mulde.core.training as training
from mulde import MULDE


def test_early_stop_index_keeps_the_lowest_loss_before_patience_runs_out():
    # 3.0 is lowest; two evaluations without improvement stop before the later 1.0
    assert early_stop_index([5.0, 3.0, 4.0, 3.5, 1.0], patience=2) == 1
    assert early_stop_index([5.0, 3.0, 4.0, 3.5, 1.0], patience=3) == 4
    assert early_stop_index([2.0, 2.0, 2.0], patience=5) == 0  # ties do not improve
    with pytest.raises(ValueError, match="no validation losses"):
        early_stop_index([])


def test_validated_weights_are_recorded_and_the_wrapper_removed():
    x = np.random.default_rng(0).normal(size=(200, 2))
    with validated_weights() as seen:
        model = MULDE(max_steps=30, eval_every=10, patience=None, hidden_sizes=(8, 8),
                      random_state=0, device="cpu").fit(x)
    assert training._validation_loss.__name__ == "_validation_loss"  # restored
    assert len(seen) == 3
    assert [loss for _, loss in seen] == [h["val_loss"] for h in model.train_result_.history]
    last = seen[-1][0]  # patience None keeps the lowest loss, not necessarily the last
    best = int(np.argmin([loss for _, loss in seen]))
    for key, value in seen[best][0].items():
        np.testing.assert_array_equal(model.network_.state_dict()[key].numpy(),
                                      value.numpy())
    assert set(last) == set(model.network_.state_dict())


def test_trajectory_scores_every_validation_of_a_small_case():
    case = trajectory("gauss_iso", 2, 300, 0, max_steps=40, eval_every=10,
                      hidden_sizes=(8, 8), device="cpu")
    steps = [r["step"] for r in case["trajectory"]]
    assert steps == [10, 20, 30, 40]
    assert 0 <= case["early_stop_index"] < 4
    for row in case["trajectory"]:
        assert -1 <= row["rho_fresh"] <= 1 and 0 <= row["far"] <= 1
