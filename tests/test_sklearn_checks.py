"""scikit-learn's estimator checks on a small, fast MULDE."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from mulde import MULDE

# Checks a neural density estimator cannot pass, with the reason. The xfail is strict
# (pyproject: xfail_strict), so a check that starts passing is reported. Batch independence
# itself is tested at float32 tolerance in test_detector.py
# (test_scores_do_not_depend_on_the_batch), across the 512-row scoring chunk.
EXPECTED_FAILED = {
    "check_methods_subset_invariance": (
        "float32 matrix products round differently for batches of different shapes, so a "
        "subset's scores differ from the full batch's by ~1e-6 (the check wants 1e-7)"
    ),
}


@parametrize_with_checks(
    [MULDE(hidden_sizes=(16, 16), max_steps=20, batch_size=64, n_levels=4, random_state=0)],
    expected_failed_checks=lambda est: EXPECTED_FAILED,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
