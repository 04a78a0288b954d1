"""A fit's warnings as records (`mulde.vad.fit_warnings`): their class by name, rebuilt
for mulde's own and Python's classes only."""

from __future__ import annotations

import warnings

import pytest

from mulde.estimator.model import ConstantFeaturesWarning
from mulde.vad.fit_warnings import FitWarning, category_name, warning_category
from mulde.vad.fusion import Calibration, CalibrationSpikeWarning, CalibrationWarning


class Foreign(UserWarning):
    pass


@pytest.mark.parametrize("category", [UserWarning, RuntimeWarning, DeprecationWarning,
                                      CalibrationWarning, CalibrationSpikeWarning,
                                      ConstantFeaturesWarning])
def test_mulde_and_builtin_classes_come_back_from_their_name(category):
    assert warning_category(category_name(category)) is category


@pytest.mark.parametrize("name", [category_name(Foreign), "mulde.vad.fusion.NoSuchWarning",
                                  "mulde.vad.fusion.Calibration", "builtins.ValueError",
                                  "mulde.no_such_module.Warning", "mulde.__main__.Warning",
                                  "numpy.exceptions.RankWarning", "", "UserWarning",
                                  "mulde.vad.ensemble.np.exceptions.ComplexWarning",
                                  "mulde.vad.fusion.UserWarning", "builtins.len",
                                  "mulde.estimator.model.torch._dynamo.SomeWarning"])
def test_any_other_name_comes_back_as_user_warning(name):
    """A foreign class (its module is never imported), a missing one, a class that is no
    warning, a module mulde has not, a foreign class reached through a mulde module's
    imports (numpy's, torch's: a reviewer's case) or merely imported there (UserWarning
    itself): `UserWarning`."""
    assert warning_category(name) is UserWarning
    assert category_name(Calibration) == "mulde.vad.fusion.Calibration"


def test_the_warning_is_of_its_class_with_the_runs_words():
    """A class whose constructor takes counts (the estimator's) is made with the message
    alone; a filter by its category applies."""
    said = FitWarning.of("velocity stream: 1 of its 3 feature values ...",
                         ConstantFeaturesWarning)
    made = said.warning()
    assert type(made) is ConstantFeaturesWarning and str(made) == said.message
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=ConstantFeaturesWarning)
        warnings.warn(made, stacklevel=1)
        warnings.warn(FitWarning.of("kept", Foreign).warning(), stacklevel=1)
    assert [(w.category, str(w.message)) for w in caught] == [(UserWarning, "kept")]
    assert said.named("pose") == FitWarning(f"pose stream: {said.message}", said.category)


def test_records_read_back_from_json_and_bare_messages():
    said = FitWarning.of("spiky", CalibrationSpikeWarning)
    assert FitWarning.from_json(said.to_dict()) == said
    assert FitWarning.from_json("older") == FitWarning("older", "builtins.UserWarning")
    assert FitWarning.from_json({"message": "no class"}).category == "builtins.UserWarning"
    for bad in (3, None, {"category": "builtins.UserWarning"}, {"message": 1}):
        with pytest.raises(ValueError, match="not a fit warning"):
            FitWarning.from_json(bad)


def test_a_warning_rebuilt_from_its_text_pickles_and_copies(tmp_path):
    """An estimator warning read back from a record has its fields None (they did not
    travel) and still pickles and copies (its class's pickling reads the fields); one made
    by its constructor keeps them through a pickle."""
    import copy
    import pickle
    import subprocess
    import sys

    said = FitWarning.of("2 of the 5 features ...", ConstantFeaturesWarning).warning()
    assert type(said) is ConstantFeaturesWarning and str(said) == "2 of the 5 features ..."
    assert (said.n_constant, said.n_features, said.first, said.name) == (None,) * 4
    for back in (pickle.loads(pickle.dumps(said)), copy.deepcopy(said)):
        assert type(back) is ConstantFeaturesWarning and str(back) == str(said)
        assert back.n_constant is None
    made = pickle.loads(pickle.dumps(ConstantFeaturesWarning(2, 5, 1, "b")))
    assert (made.n_constant, made.n_features, made.first, made.name) == (2, 5, 1, "b")
    # resolving a name through a mulde module imports nothing foreign (a fresh process)
    probe = ("import sys; from mulde.vad.fit_warnings import warning_category as w; "
             "w('mulde.estimator.model.torch._dynamo.X'); "
             "print('torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
