"""Re-run the hand-written mutations of issue 18: each weak test must fail for its own bug.

Each mutation is a textual change to one file of `src/` (and, where the bug lives in the
environment, changed environment variables or a fake installed module). For each one this
script copies `src/` into a temporary folder, applies the change there (the checkout is never
touched), runs the named tests against the copy with pytest, and reports whether the mutant
was killed (a test failed), survived (the tests passed) or could not be judged (skipped
tests, an error of the run itself). The unmutated tests are run first: a mutant only counts
as killed when the same tests pass without it.

    python tools/mutations.py                 # all rows (about 2 minutes on one core)
    python tools/mutations.py --list          # the rows, mutations and tests
    python tools/mutations.py --only ema      # the rows whose name contains "ema"
    python tools/mutations.py --before DIR    # run each row's tests as they were before
                                              # issue 18, from DIR (a copy of that tests/)

Exit status 0 when every mutant is killed, 1 otherwise. The file is not collected by pytest
(it lives outside `tests/`). Mutation testing of the numeric core with mutmut is configured
in pyproject.toml ([tool.mutmut]); see docs/testing.md.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutation:
    """One injected bug: replace `old` by `new` in `path` (under src/mulde); run `tests`."""

    name: str
    row: str
    path: str | None
    old: str
    new: str
    tests: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    fake_modules: tuple[str, ...] = ()
    count: int = 1  # how many occurrences of `old` are replaced (all of them must exist)
    before: tuple[str, ...] = ()  # the tests that stood for the row before issue 18, if others
    added: bool = False  # a row without a test before issue 18 (left out by --before)


CORE = "tests/core/test_core.py::"
DET = "tests/estimator/test_model.py::"
MAG = "tests/estimator/test_model_magnitudes.py::"
FUSION = "tests/vad/test_fusion.py::"
DECODE = "tests/video/test_decode.py::"
FEAT = "tests/video/features/test_features.py::"
AGG = DET + "test_every_aggregator_ranks_far_points_as_anomalous"
SCORING = CORE + "test_multiscale_energy_is_chunk_free_and_leaves_the_network_as_it_was"
# before the issue: nothing else
SUBSET = ("tests/estimator/test_sklearn_checks.py", "tests/estimator/test_model.py")
REAL_DATA = (
    "tests/evaluation/test_metrics.py::test_ped2_real_labels_perfect_random_and_inverted_scores",
    "tests/datasets/test_datasets.py::test_ped2_real_ground_truth_files_agree",
    "tests/datasets/test_datasets.py::test_ped2_real_loader",
    "tests/datasets/test_datasets.py::test_avenue_real_ground_truth_sources_agree",
    "tests/datasets/test_datasets.py::test_streaming_mask_reader_matches_scipy_on_real_file",
    "tests/datasets/test_datasets.py::test_avenue_real_partial_loader_warns_missing",
    "tests/datasets/test_datasets.py::test_shanghaitech_real_ground_truth",
    "tests/datasets/test_datasets.py::test_ubnormal_real_ground_truth",
    "tests/datasets/test_datasets.py::test_ucf_crime_real_annotation",
    "tests/video/features/test_aivad.py::test_released_ped2_pose_files",
    "tests/test_cli.py::test_evaluate_with_labels_from_the_official_ped2_ground_truth",
    FEAT + "test_end_to_end_on_three_ped2_frames",
)

MUTATIONS: tuple[Mutation, ...] = (
    Mutation("lr-zero", "training reduces the validation loss", "core/training.py",
             "net.parameters(), lr=config.lr,", "net.parameters(), lr=0.0,",
             (CORE + "test_training_is_deterministic_and_reduces_validation_loss",)),
    Mutation("ema-decay-0", "EMA keeps the average", "core/training.py",
             "decay = ema_decay_at(step, config.ema_decay)", "decay = 0.0",
             (CORE + "test_training_with_ema_keeps_the_average",)),
    Mutation("ema-decay-1", "EMA keeps the average", "core/training.py",
             "decay = ema_decay_at(step, config.ema_decay)", "decay = 1.0",
             (CORE + "test_training_with_ema_keeps_the_average",)),
    Mutation("one-row-1e-3", "scores do not depend on the batch", "core/scoring.py",
             "    return torch.cat(parts)",
             "    return torch.cat(parts) * (1 + 1e-3 * (x.shape[0] == 1))",
             (DET + "test_scores_do_not_depend_on_the_batch",), before=SUBSET),
    Mutation("later-chunks-1e-4", "scores do not depend on the batch", "core/scoring.py",
             "parts = [net.energy_multiscale(x[i:i + batch_size], sigmas)",
             "parts = [net.energy_multiscale(x[i:i + batch_size], sigmas) * (1 + 1e-4 * (i > 0))",
             (DET + "test_scores_do_not_depend_on_the_batch",), before=SUBSET),
    Mutation("pipeline-negated", "CLI run's micro AUC", "vad/ensemble.py",
             "return VideoScores(fuse(raw, calibrations),",
             "return VideoScores(-fuse(raw, calibrations),",
             ("tests/test_cli.py::test_extract_in_shards_then_run_on_a_small_generated_scene",)),
    Mutation("score-writes-zeros", "mulde score output", "cli.py",
             "path = write_scores(args.out, scores, columns)",
             "path = write_scores(args.out, scores * 0, columns)",
             ("tests/test_cli.py::test_fit_score_info",)),
    Mutation("multiscale-levels-reversed", "mulde score output", "cli.py",
             "model.score_samples_multiscale(X) if args.multiscale",
             "model.score_samples_multiscale(X)[:, ::-1] if args.multiscale",
             ("tests/test_cli.py::test_fit_score_info",)),
    Mutation("aggregator-always-first", "every aggregator", "estimator/model.py",
             "self.aggregator,", '"gmm",', (AGG,), count=2),
    Mutation("aggregator-always-last", "every aggregator", "estimator/model.py",
             "self.aggregator,", '"single",', (AGG,), count=2),
    Mutation("aggregator-raw-mean-energy", "every aggregator", "estimator/aggregation.py",
             "    kind = Aggregation(kind)\n    if kind is Aggregation.GMM:\n        return -",
             "    return energies.mean(axis=1)\n    if kind is Aggregation.GMM:\n        return -",
             (AGG,)),
    Mutation("aggregate-smallest-sigma", "toy vs KDE", "estimator/model.py",
             "        return aggregate(self.aggregator, self.aggregator_state_, energies,",
             "        return energies[:, 0]\n"
             "        return aggregate(self.aggregator, self.aggregator_state_, energies,",
             (DET + "test_toy_gmm_auc_is_within_001_of_cross_validated_kde",)),
    Mutation("pyod-clone-loses-params", "PyOD adapter clones", "estimator/pyod_adapter.py",
             "    @property\n    def mulde_params(self)",
             "    def get_params(self, deep: bool = True) -> dict[str, Any]:\n"
             "        return {\"contamination\": self.contamination}\n\n"
             "    @property\n    def mulde_params(self)",
             ("tests/estimator/test_pyod_adapter.py::"
              "test_clone_get_params_and_set_params_keep_every_setting",),
             before=("tests/estimator/test_pyod_adapter.py::test_pyod_conventions_match_a_pyod_detector",)),
    Mutation("float32-refusal-becomes-clipping", "finite or refused: float32 range",
             "estimator/model.py",
             '            _refuse_rows(np.abs(z) > limit, "lie beyond the float32 range once '
             'standardised "\n                         "with the training mean and scale")',
             "            z = np.clip(z, -1e4, 1e4)",
             (MAG + "test_scores_beyond_the_float32_range_are_finite_or_refused_naming_rows",)),
    Mutation("float64-fit-becomes-refusal", "finite or refused: float64 limit",
             "estimator/model.py",
             "    peak = np.abs(X).max(axis=0)",
             '    raise ValueError("column statistics overflow")',
             (MAG + "test_fit_on_magnitudes_near_the_float64_limit_ranks_or_refuses",)),
    Mutation("calibration-refusal-becomes-output", "finite or refused: calibration",
             "vad/fusion.py",
             "        if not _spread(low, high):\n            raise FusionError(",
             "        if not _spread(low, high):\n            high = low + 1.0\n"
             "        if False:\n            raise FusionError(",
             (FUSION + "test_calibration_of_a_subnormal_spread_is_refused_or_finite",)),
    Mutation("regions-always-whole-frame", "every frame has objects",
             "video/features/objects.py",
             "        return regions or [whole_frame_region(*mask.shape)]",
             "        return [whole_frame_region(*mask.shape)]",
             (FEAT + "test_object_extractor_on_a_moving_square",
              FEAT + "test_end_to_end_on_three_ped2_frames")),
    Mutation("few-grid-cells-become-whole-frame", "every frame has objects",
             "video/features/objects.py",
             "            regions = grid_regions(mask, self.cell, self.stride, self.min_fraction)",
             "            regions = grid_regions(mask, self.cell, self.stride, self.min_fraction)"
             "\n            regions = regions if len(regions) > 7 else []",
             (FEAT + "test_object_extractor_on_a_moving_square",
              FEAT + "test_end_to_end_on_three_ped2_frames")),
    Mutation("hiera-installed-message-lost", "Hiera backbone fails clearly",
             "video/backbones/hiera.py",
             "\"the Hiera backbone needs the package 'hiera-transformer' \"",
             '"hiera failed "',
             ("tests/video/backbones/test_backbones.py::test_hiera_backbone_fails_clearly",),
             fake_modules=("hiera",)),
    Mutation("permission-error-escapes", "permission-denied video", "video/decode.py",
             "    except av.FFmpegError as error:",
             "    except av.error.InvalidDataError as error:",
             (DECODE + "test_permission_denied_video_is_a_read_error_naming_it",), count=2),
    # multiscale_energy is decorated (@torch.no_grad), which mutmut 3 does not mutate: by hand
    Mutation("scoring-mode-not-restored", "multiscale_energy (mutmut skips it)",
             "core/scoring.py", "net.train(was_training)", "net.train(False)", (SCORING,),
             added=True),
    Mutation("scoring-in-train-mode", "multiscale_energy (mutmut skips it)", "core/scoring.py",
             "    net.eval()\n    try:", "    try:", (SCORING,), added=True),
    Mutation("scoring-with-autograd", "multiscale_energy (mutmut skips it)", "core/scoring.py",
             "@torch.no_grad()\n", "", (SCORING,), added=True),
    Mutation("scoring-drops-last-chunk", "multiscale_energy (mutmut skips it)",
             "core/scoring.py", "for i in range(0, x.shape[0], batch_size)]",
             "for i in range(0, x.shape[0] - batch_size + 1, batch_size)]", (SCORING,),
             added=True),
    Mutation("scoring-empty-shape", "multiscale_energy (mutmut skips it)", "core/scoring.py",
             "torch.empty(0, sigmas.numel(),", "torch.empty(0, 0,", (SCORING,), added=True),
    Mutation("data-folder-missing-in-ci", "real-data gate", None, "", "", REAL_DATA,
             env={"MULDE_DATA": "/nonexistent/mulde-data", "MULDE_REQUIRE_DATA": "1"}),
)


def run_tests(src: Path, tests_dir: Path, tests: tuple[str, ...], env: dict[str, str],
              extra_path: Path | None = None) -> tuple[str, str]:
    """Run `tests` (ids under tests/) against `src`; return (outcome, pytest's last line)."""
    ids = [str(tests_dir / t.removeprefix("tests/")) for t in tests]
    path = [str(src)] + ([str(extra_path)] if extra_path else [])
    run_env = os.environ | env | {
        "PYTHONPATH": os.pathsep.join(path + [os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-o",
           "addopts=", "--rootdir", str(REPO), "-c", str(REPO / "pyproject.toml"), *ids]
    proc = subprocess.run(cmd, cwd=REPO, env=run_env, capture_output=True, text=True)
    lines = [x for x in proc.stdout.splitlines() if x.strip()]
    last = lines[-1] if lines else proc.stderr.strip()[-200:]
    if proc.returncode == 1:
        return "killed", last
    if proc.returncode == 0:
        return ("survived" if re.search(r"\bpassed\b", last) else "skipped"), last
    return f"error (pytest exit {proc.returncode})", last


def apply(src: Path, m: Mutation) -> None:
    """Apply mutation `m` to the copy of src/ at `src`."""
    if m.path is None:
        return
    file = src / "mulde" / m.path
    text = file.read_text()
    found = text.count(m.old)
    if found != m.count:
        raise SystemExit(f"{m.name}: expected {m.count} occurrence(s) of the mutated text in "
                         f"src/mulde/{m.path}, found {found}: update tools/mutations.py")
    file.write_text(text.replace(m.old, m.new))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="run the rows whose name contains this text")
    parser.add_argument("--list", action="store_true", help="list the rows and exit")
    parser.add_argument("--before", type=Path, metavar="DIR",
                        help="run the tests that stood for each row before issue 18, from DIR")
    args = parser.parse_args(argv)
    rows = [m for m in MUTATIONS if (not args.only or args.only in m.name)
            and not (args.before and m.added)]
    tests_dir = (args.before or REPO / "tests").resolve()

    def tests_of(m: Mutation) -> tuple[str, ...]:
        return (m.before or m.tests) if args.before else m.tests

    if args.list:
        for m in rows:
            where = f"src/mulde/{m.path}" if m.path else f"environment {m.env}"
            print(f"{m.name:36} {m.row:38} {where}\n    " + "\n    ".join(m.tests))
        return 0
    with tempfile.TemporaryDirectory(prefix="mulde-mutations-") as tmp:
        fake = Path(tmp) / "fake_modules"
        fake.mkdir()
        for name in {f for m in rows for f in m.fake_modules}:
            (fake / f"{name}.py").write_text('"""A stand-in for an installed package."""\n')
        baseline = tuple(dict.fromkeys(t for m in rows for t in tests_of(m)))
        outcome, last = run_tests(REPO / "src", tests_dir, baseline, {})
        print(f"baseline (unmutated, {len(baseline)} tests): {last}")
        if outcome not in ("survived", "skipped"):
            print("the unmutated tests do not pass: fix them first")
            return 1
        results = []
        for m in rows:
            src = Path(tmp) / m.name
            shutil.copytree(REPO / "src", src, ignore=shutil.ignore_patterns("__pycache__"))
            apply(src, m)
            outcome, last = run_tests(src, tests_dir, tests_of(m), m.env,
                                      fake if m.fake_modules else None)
            results.append((m, outcome))
            print(f"{m.name:36} {outcome:10} {last}", flush=True)
            shutil.rmtree(src)
    killed = sum(outcome == "killed" for _, outcome in results)
    print(f"\n{killed} of {len(results)} mutants killed")
    return 0 if killed == len(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
