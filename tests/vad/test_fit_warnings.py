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
                                  "numpy.exceptions.RankWarning", "", "UserWarning"])
def test_any_other_name_comes_back_as_user_warning(name):
    """A foreign class (its module is never imported), a missing one, a class that is no
    warning, a module mulde has not: `UserWarning`."""
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
