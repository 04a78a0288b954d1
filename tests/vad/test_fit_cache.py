"""The folder of finished fits that lets an interrupted `mulde run` resume its model fits."""

from __future__ import annotations

import numpy as np
import pytest

import mulde.vad.ensemble as ensemble_module
from mulde.vad import StreamEnsemble
from mulde.vad.fit_cache import FitCache, data_digest, job_key
from mulde.vad.fit_warnings import FitWarning
from mulde.vad.fusion import CalibrationSpikeWarning
from mulde.vad.stream_models import KNNStream, MULDEStream
from mulde.video.features import ObjectFeatures, Stream, VideoFeatures

SPEC = {"kind": "knn", "k": 1, "standardise": True, "squared": False}
PARAMS = {"max_steps": 20, "hidden_sizes": (16, 16), "batch_size": 32}


def features(rng: np.random.Generator, n_frames: int = 20) -> VideoFeatures:
    out = {}
    for stream, d in ((Stream.VELOCITY, 1), (Stream.POSE, 3)):
        index = np.repeat(np.arange(n_frames), 2)
        out[stream] = ObjectFeatures.build(rng.normal(size=(len(index), d)), index,
                                           [(0, 0, 1, 1)] * len(index), n_frames, d)
    return VideoFeatures.of(out)


def key_of(spec, X, groups, folds, fold):
    """The key of a fit on X with video ids groups (`job_key` of their `data_digest`)."""
    return job_key(spec, data_digest(X, groups), folds, fold)


def test_the_key_names_the_objects_the_settings_and_the_fold():
    X, groups = np.arange(6.0).reshape(3, 2), np.array([0, 0, 1])
    key = key_of(SPEC, X, groups, 2, None)
    assert key == key_of(SPEC, X.copy(), groups.copy(), 2, None)  # the values, not the object
    others = [key_of(SPEC, X + 1e-12 * (X == 5), groups, 2, None),  # one value
              key_of(SPEC, X.reshape(2, 3), groups, 2, None),  # same bytes, another shape
              key_of(SPEC, X.astype(np.float32), groups, 2, None),
              key_of(SPEC, X, np.array([0, 1, 1]), 2, None),  # another video of one object
              key_of({**SPEC, "k": 2}, X, groups, 2, None),
              key_of(SPEC, X, groups, 2, 0), key_of(SPEC, X, groups, 3, None)]
    assert len({key, *others}) == 1 + len(others)


def test_a_mulde_setting_written_at_its_default_names_the_same_fit():
    """--params '{"lr": "auto"}' is what leaving lr out gives: the same key; another value,
    or another seed, is another."""
    X, groups = np.arange(6.0).reshape(3, 2), np.array([0, 0, 1])

    def key(params, seed=0):
        return key_of({"kind": "mulde", "params": params, "seed": seed}, X, groups, 2, None)

    assert key({}) == key({"lr": "auto"}) == key({"random_state": 0}) == key({"lr": "auto"}, 0)
    assert len({key({}), key({"lr": 1e-3}), key({}, seed=1), key({"max_steps": 20})}) == 4


def test_has_tells_an_entry_without_loading_it(tmp_path):
    """`has` is what `load` would find: an entry of this format and key, with scores where
    they are needed; a missing, damaged or foreign entry is not one."""
    cache = FitCache(tmp_path / "fits")
    cache.store("a", None, np.arange(3.0), 1.0, ())
    cache.store("b", None, None, 1.0, ())
    assert cache.has("a", need_scores=True) and cache.has("b")
    assert not cache.has("b", need_scores=True) and not cache.has("c")
    (tmp_path / "fits" / "b.json").write_text("{trunc")
    assert not cache.has("b")
    (tmp_path / "fits" / "a.json").replace(tmp_path / "fits" / "c.json")  # names "a"
    assert not cache.has("c")


def test_scores_and_a_model_read_back_as_they_were_stored(tmp_path):
    cache = FitCache(tmp_path / "fits")
    assert cache.load("0" * 64) is None and cache.size_bytes() == 0  # nothing stored
    held = np.array([0.5, 1.5, -2.0])
    said_then = (FitWarning("a warning"), FitWarning.of("spiky", CalibrationSpikeWarning))
    cache.store("a" * 64, None, held, 1.25, said_then)
    model, scores, seconds, said = cache.load("a" * 64)
    assert model is None and seconds == 1.25 and said == said_then
    np.testing.assert_array_equal(scores, held)
    rng = np.random.default_rng(0)
    X, groups, new = rng.normal(size=(40, 3)), np.repeat(np.arange(4), 10), rng.normal(size=(5, 3))
    for fitted in (KNNStream(k=1).fit(X, groups), MULDEStream(PARAMS, seed=0).fit(X, groups)):
        name = fitted.__class__.__name__
        cache.store(name, fitted, fitted.train_scores(), 2.0, ())
        back, own, _, _ = cache.load(name)
        assert type(back) is type(fitted)
        np.testing.assert_array_equal(back.score(new), fitted.score(new))
        np.testing.assert_array_equal(own, fitted.train_scores())
    assert cache.size_bytes() == sum(p.stat().st_size for p in (tmp_path / "fits").iterdir())


def test_an_entry_that_cannot_be_read_back_is_fitted_again(tmp_path):
    cache = FitCache(tmp_path)
    cache.store("b" * 64, None, np.ones(3), 1.0, ())
    (tmp_path / f"{'b' * 64}.scores.safetensors").write_bytes(b"truncated")
    assert cache.load("b" * 64) is None
    (tmp_path / f"{'c' * 64}.json").write_text('{"format": "mulde-fit-0"}')
    assert cache.load("c" * 64) is None
    (tmp_path / f"{'d' * 64}.json").write_text("{not json")
    assert cache.load("d" * 64) is None
    (tmp_path / f"{'e' * 64}.json").write_text("[1, 2]")  # JSON, but not an entry
    assert cache.load("e" * 64) is None


def test_a_damaged_model_file_is_replaced_by_the_fit_done_again(tmp_path):
    """A newcomer's trial: a cut fits/<key>.safetensors was never replaced: the model's
    save refused it as a user's file ("not a MULDE model, so saving would overwrite it"),
    so every run fitted it again and said so. The fit stored again replaces it."""
    cache = FitCache(tmp_path / "fits")
    rng = np.random.default_rng(0)
    X, groups = rng.normal(size=(40, 3)), np.repeat(np.arange(4), 10)
    fitted = MULDEStream(PARAMS, seed=0).fit(X, groups)
    key = "f" * 64
    cache.store(key, fitted, fitted.train_scores(), 2.0, ())
    model_file = tmp_path / "fits" / f"{key}.safetensors"
    model_file.write_bytes(model_file.read_bytes()[:500])
    assert cache.load(key) is None
    cache.store(key, fitted, fitted.train_scores(), 2.0, ())
    back, own, _, _ = cache.load(key)
    np.testing.assert_array_equal(back.score(X[:5]), fitted.score(X[:5]))


def test_changed_fitting_code_is_another_key(monkeypatch):
    """A developer's checkout keeps the version number while the fitting code changes: the
    source digest in the key keeps an older fit from being read back."""
    import mulde.vad.fit_cache as fit_cache

    X, groups = np.ones((2, 1)), np.zeros(2, int)
    key = key_of(SPEC, X, groups, None, None)
    monkeypatch.setattr(fit_cache, "fitting_code_digest", lambda: "another")
    assert key_of(SPEC, X, groups, None, None) != key


def test_a_cache_that_cannot_be_written_still_reads_its_fits_back(tmp_path, monkeypatch):
    """A rerun on a full disk (after a crash, the likely state) reads back every finished
    fit, also those after the first fit it could not store (a reviewer found each of those
    fitted again, though counted as read back before the fits)."""
    rng = np.random.default_rng(0)
    train = {f"v{i}": features(rng) for i in range(2)}

    def ensemble():
        return StreamEnsemble("gmm", 0, calibration_folds=2, fit_cache=tmp_path / "fits")

    first = ensemble().fit(train)
    assert len(list((tmp_path / "fits").glob("*.json"))) == 6
    stream, make = next(iter(first._plan(train).items()))  # the first fit run, serially
    job = first._jobs(make, first._stream_data(train, stream, 0))[0]
    (tmp_path / "fits" / f"{job.cache_key}.json").unlink()

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(FitCache, "store", full)
    assert ensemble().stored_fits(train) == (5, 6)
    with pytest.warns(UserWarning, match="cannot be kept"):
        assert ensemble().fit(train).fits_reused_ == 5


def test_a_cache_that_cannot_be_written_is_said_once_and_the_fit_goes_on(tmp_path):
    rng = np.random.default_rng(0)
    train = {f"v{i}": features(rng) for i in range(2)}
    blocked = tmp_path / "fits"
    blocked.write_text("a file where the folder should be")
    with pytest.warns(UserWarning, match=r"^finished model fits cannot be kept in .*fits \(") \
            as shown:
        ens = StreamEnsemble("gmm", 0, calibration_folds=2, fit_cache=blocked).fit(train)
    assert len([w for w in shown if "cannot be kept" in str(w.message)]) == 1
    assert set(ens.fits_) == {Stream.POSE, Stream.VELOCITY}


def test_a_full_disk_under_a_safetensors_write_is_said_once_and_the_fit_goes_on(tmp_path,
                                                                               monkeypatch):
    """safetensors raises its own error class on a full disk or a read-only folder (a user's
    read-only fits/ crashed the run with a traceback): the atomic write turns it into the
    OSError the ensemble expects, so the fit goes on with one warning."""
    from safetensors import SafetensorError

    import mulde.io.tensors as tensors

    def full(*args, **kwargs):
        raise SafetensorError("Error while serializing: I/O error: No space left on device "
                              "(os error 28)")

    monkeypatch.setattr(tensors, "save_file", full)
    rng = np.random.default_rng(0)
    train = {f"v{i}": features(rng) for i in range(2)}
    with pytest.warns(UserWarning, match=r"cannot be kept in .*No space left on device") \
            as shown:
        ens = StreamEnsemble("gmm", 0, calibration_folds=2,
                             fit_cache=tmp_path / "fits").fit(train)
    assert len([w for w in shown if "cannot be kept" in str(w.message)]) == 1
    assert set(ens.fits_) == {Stream.POSE, Stream.VELOCITY}
    assert not list((tmp_path / "fits").glob("*.json"))


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_an_interrupted_fit_resumes_to_the_uninterrupted_ensemble(tmp_path, monkeypatch, n_jobs):
    """Two MULDE streams with 2 calibration folds: 6 fits. A fit that stops after its third
    (serially: a Ctrl-C) leaves three in the cache; the next fit runs the other three and
    scores exactly as a fit that was never stopped; a third reads all six back."""
    rng = np.random.default_rng(0)
    train = {f"v{i}": features(rng) for i in range(4)}
    test = features(rng)

    def fit(cache, **options):
        return StreamEnsemble("mulde", 0, PARAMS, calibration_folds=2, n_jobs=n_jobs,
                              fit_cache=cache, **options).fit(train)

    whole = fit(None)
    real, calls = ensemble_module.run_fit_job, []

    def stopping(job):
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append(job.fold)
        return real(job)

    monkeypatch.setattr(ensemble_module, "run_fit_job", stopping)
    with pytest.raises(KeyboardInterrupt):
        StreamEnsemble("mulde", 0, PARAMS, calibration_folds=2,
                       fit_cache=tmp_path / "fits").fit(train)  # serially: stops at the 4th
    assert len(list((tmp_path / "fits").glob("*.json"))) == 3

    def stored(cache):  # told before fitting: 2 streams x (the model + 2 refits)
        return StreamEnsemble("mulde", 0, PARAMS, calibration_folds=2,
                              fit_cache=cache).stored_fits(train)

    assert (stored(None), stored(tmp_path / "fits")) == ((0, 6), (3, 6))
    monkeypatch.setattr(ensemble_module, "run_fit_job", real)
    resumed = fit(tmp_path / "fits")
    assert resumed.fits_reused_ == 3
    assert stored(tmp_path / "fits") == (6, 6)
    again = fit(tmp_path / "fits")
    assert again.fits_reused_ == 6
    for ens in (resumed, again):
        for stream in (Stream.POSE, Stream.VELOCITY):
            a, b = whole.fits_[stream], ens.fits_[stream]
            assert a.calibration == b.calibration and a.fill == b.fill
        np.testing.assert_array_equal(whole.score_video(test).fused,
                                      ens.score_video(test).fused)


@pytest.mark.parametrize(("detector", "options"), [
    ("mulde", {}), ("gmm", {}), ("gmm", {"pca": {"pose": 2}}), ("knn", {}),
    ("mulde", {"max_train_objects": 50})])
def test_fits_calibrated_on_their_own_training_scores_read_back_alike(tmp_path, detector,
                                                                      options):
    """Without calibration folds (one training video, `--calibration-folds none`) a stream is
    calibrated on its model's own training scores: they are kept with the model, so a rerun
    reads both back and fuses exactly as the first fit (a reviewer found the rerun crashing
    on a model read back without them)."""
    rng = np.random.default_rng(1)
    train = {f"v{i}": features(rng) for i in range(3)}
    test = features(rng)
    params = PARAMS if detector == "mulde" else {}
    first, again = (StreamEnsemble(detector, 0, params, fit_cache=tmp_path / "fits",
                                   **options).fit(train) for _ in range(2))
    assert (first.fits_reused_, again.fits_reused_) == (0, 2)
    for stream in (Stream.POSE, Stream.VELOCITY):
        a, b = first.fits_[stream], again.fits_[stream]
        assert a.calibration == b.calibration and a.fill == b.fill
    np.testing.assert_array_equal(first.score_video(test).fused, again.score_video(test).fused)


def test_an_older_entrys_bare_warnings_read_back_as_user_warnings(tmp_path):
    """Entries written before the class was kept hold bare messages: read back as
    `UserWarning`s, not refused (nothing a resumed run needs is lost)."""
    import json

    cache = FitCache(tmp_path)
    cache.store("f" * 64, None, np.ones(2), 1.0, ())
    entry = tmp_path / f"{'f' * 64}.json"
    entry.write_text(json.dumps({**json.loads(entry.read_text()), "warnings": ["said once"]}))
    assert cache.load("f" * 64)[3] == (FitWarning("said once", "builtins.UserWarning"),)


def test_warnings_read_back_from_the_cache_keep_their_class(tmp_path, monkeypatch):
    """A fit's warnings come back from the cache as the class the fit raised: mulde's own
    (the estimator's, whose constructor takes counts, and the calibration's), a foreign
    class as `UserWarning`; a filter by category applies to them as to a fresh fit's."""
    from mulde.estimator.model import FewSamplesWarning
    from mulde.vad.fusion import CalibrationWarning

    class Foreign(UserWarning):
        pass

    fit = KNNStream.fit

    def warning_fit(self, X, groups):
        import warnings

        warnings.warn(FewSamplesWarning(len(X), 10), stacklevel=2)
        warnings.warn(CalibrationWarning("its own words"), stacklevel=2)
        warnings.warn(Foreign("a foreign class"), stacklevel=2)
        return fit(self, X, groups)

    rng = np.random.default_rng(0)
    train = {f"v{i}": features(rng, n_frames=2) for i in range(2)}
    detector = {"velocity": "knn"}

    def classes(ens):
        import warnings

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            warnings.filterwarnings("ignore", category=CalibrationWarning)
            ens.fit(train)
        return {str(w.message).split(":")[1].strip(): w.category for w in caught
                if str(w.message).startswith("velocity stream")}

    monkeypatch.setattr(KNNStream, "fit", warning_fit)
    fresh = classes(StreamEnsemble(detector, fit_cache=tmp_path / "fits"))
    monkeypatch.setattr(KNNStream, "fit", fit)  # the cache alone can give them now
    again = StreamEnsemble(detector, fit_cache=tmp_path / "fits")
    assert classes(again) == fresh == {"only 8 training objects, fewer than 10": FewSamplesWarning,
                                       "a foreign class": UserWarning}
    assert again.fits_reused_ == 1


def _age(paths, days):
    """Set the files' access and modification times `days` days back."""
    import os
    import time

    then = time.time() - days * 86400
    for path in paths:
        os.utime(path, (then, then))


def test_prune_removes_the_entries_unused_for_a_week_but_those_kept(tmp_path):
    """Entries no fit used for `UNUSED_DAYS` go, with their model and scores files (also
    a killed store's model without its JSON); the keys kept, fresher entries, another file
    and a write's temp file stay."""
    from mulde.vad.fit_cache import UNUSED_DAYS

    cache = FitCache(tmp_path)
    kept, old, fresh, orphan = ("a" * 64, "b" * 64, "c" * 64, "d" * 64)
    for key in (kept, old, fresh):
        cache.store(key, KNNStream(k=1).fit(np.ones((2, 1)), np.arange(2)), np.ones(2), 1.0, ())
    (tmp_path / f"{orphan}.safetensors").write_bytes(b"a store killed before its JSON")
    (tmp_path / "notes.txt").write_text("a user's file")
    (tmp_path / f".{old}.json.123.0a1b2c3d.tmp").write_text("a writer's temp file")
    _age(tmp_path.iterdir(), UNUSED_DAYS + 1)
    _age(tmp_path.glob(f"{fresh}.*"), UNUSED_DAYS - 1)
    others = {f".{old}.json.123.0a1b2c3d.tmp", "notes.txt"}

    def entry(key):
        return {f"{key}.json", f"{key}.safetensors", f"{key}.scores.safetensors"}

    assert cache.prune({kept}) == 2
    assert {p.name for p in tmp_path.iterdir()} == entry(kept) | entry(fresh) | others
    assert cache.load(kept) is not None and cache.load(fresh) is not None
    _age(tmp_path.iterdir(), 2)
    assert cache.prune(set(), unused_days=1) == 2  # unused for 2 days: over another window
    assert {p.name for p in tmp_path.iterdir()} == others
    assert FitCache(tmp_path / "nowhere").prune(set()) == 0


def test_an_entry_read_back_counts_as_used_then(tmp_path):
    from mulde.vad.fit_cache import UNUSED_DAYS

    cache = FitCache(tmp_path)
    cache.store("e" * 64, None, np.ones(2), 1.0, ())
    _age(tmp_path.iterdir(), UNUSED_DAYS + 1)
    assert cache.load("e" * 64) is not None
    assert cache.prune(set()) == 0 and cache.has("e" * 64)


def test_a_finished_fit_prunes_what_no_fit_used_for_a_week(tmp_path, monkeypatch):
    """A fit that finishes keeps the entries it read back or wrote however old, and those
    another fit used within the week (another run beside it, or one to resume), and removes
    the rest; a fit that is interrupted removes nothing."""
    from mulde.vad.fit_cache import UNUSED_DAYS

    rng = np.random.default_rng(0)
    train = {f"v{i}": features(rng) for i in range(2)}
    folder = tmp_path / "fits"

    def fit(detector, seed=0):
        return StreamEnsemble(detector, seed, calibration_folds=2, fit_cache=folder).fit(train)

    fit("knn")  # 2 streams x 3 fits
    knn = set(folder.iterdir())
    fit("gmm")
    gmm = set(folder.iterdir()) - knn
    _age(knn | gmm, UNUSED_DAYS + 1)
    real = ensemble_module.run_fit_job

    def stopping(job):
        raise KeyboardInterrupt

    monkeypatch.setattr(ensemble_module, "run_fit_job", stopping)
    with pytest.raises(KeyboardInterrupt):
        fit("gmm", 1)
    assert set(folder.iterdir()) == knn | gmm  # an interrupted fit prunes nothing
    monkeypatch.setattr(ensemble_module, "run_fit_job", real)
    assert fit("gmm").fits_reused_ == 6  # read back: its entries kept however old
    assert set(folder.iterdir()) == gmm
    assert len([p for p in gmm if p.suffix == ".json"]) == 6
    fit("knn")  # the gmm fits were used today: a run beside this one keeps them
    assert gmm < set(folder.iterdir())


def test_prune_removes_a_reduced_streams_side_file_with_its_entry(tmp_path):
    """A stream fitted on principal components keeps its projection in a side file beside
    its model (`<key>.pca.safetensors`, `mulde.vad.stream_files.side_path`); pruning its
    entry removes it too (a reviewer found it left behind, counted in the cache's size for
    good)."""
    from mulde.vad.fit_cache import UNUSED_DAYS
    from mulde.vad.stream_models import PCAStream

    cache = FitCache(tmp_path)
    X = np.random.default_rng(0).normal(size=(20, 4))
    cache.store("f" * 64, PCAStream(KNNStream(k=1), 2).fit(X, np.arange(20)), np.ones(20),
                1.0, ())
    assert (tmp_path / f"{'f' * 64}.pca.safetensors").is_file()
    _age(tmp_path.iterdir(), UNUSED_DAYS + 1)
    assert cache.prune(set()) == 1
    assert list(tmp_path.iterdir()) == []
