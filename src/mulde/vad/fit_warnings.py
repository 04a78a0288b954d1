"""The warnings of a model fit, kept with their class wherever they travel.

`StreamEnsemble.fit` gives each warning its fits raised once the fits are done, in a run's
words (the stream named). Before that a warning may cross a process boundary (fits in
worker processes, n_jobs > 1), the fit cache (`mulde.vad.fit_cache`, JSON) and later the
trained pipeline's manifest (`mulde.vad.artifact`, JSON, shown by `mulde info`). Each is
kept as a `FitWarning`: its text and the qualified name of its class, so that the warning
raised at the end is of the class the fit raised (a `ConstantFeaturesWarning`, a
`CalibrationSpikeWarning`), whichever way it came, and a user's
`warnings.filterwarnings(..., category=...)` or the command line can tell them apart.

Only classes that need no import of foreign code are rebuilt from their name: mulde's own
and Python's built-in warning classes. Any other class (a third-party library's, a test's)
comes back as `UserWarning`, as does a name that no longer resolves (an entry of an older
mulde).
"""

from __future__ import annotations

import builtins
import importlib
from typing import Any, NamedTuple

from mulde.estimator.model import FieldedWarning

DEFAULT_CATEGORY = "builtins.UserWarning"
"""The category of a warning recorded without one (fit cache entries of an older mulde)."""


def category_name(category: type[Warning]) -> str:
    """The qualified name of a warning class: "mulde.vad.fusion.CalibrationWarning",
    "builtins.UserWarning"."""
    return f"{category.__module__}.{category.__qualname__}"


def warning_category(name: str) -> type[Warning]:
    """The warning class `category_name` named: one of mulde's own, defined in the mulde
    module the name gives (imported when it is not yet), or a built-in one; `UserWarning`
    for any other name, one that does not resolve, or one that is not a `Warning` subclass.

    The name is looked up without reaching past mulde: the module is the longest head of it
    that imports as a mulde module, the rest is read from that module's own namespace (no
    attribute hooks, no name starting with "_") and must be a class defined there, so
    "mulde.vad.ensemble.np.exceptions.ComplexWarning" (numpy's, through an import) comes
    back as `UserWarning` and nothing outside mulde is imported."""
    parts = name.split(".")
    if len(parts) == 2 and parts[0] == "builtins":
        found = vars(builtins).get(parts[1])
        return found if isinstance(found, type) and issubclass(found, Warning) else UserWarning
    if parts[0] != "mulde" or any(p.startswith("_") or not p for p in parts):
        return UserWarning
    for cut in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            found: Any = importlib.import_module(module_name)
        except ImportError:
            continue
        for attr in parts[cut:]:
            found = vars(found).get(attr) if hasattr(found, "__dict__") else None
        if (isinstance(found, type) and issubclass(found, Warning)
                and found.__module__ == module_name):
            return found
        return UserWarning
    return UserWarning


class FitWarning(NamedTuple):
    """One warning of a fit: its `message` and its class's qualified name (`category`)."""

    message: str
    category: str = DEFAULT_CATEGORY

    @classmethod
    def of(cls, message: str, category: type[Warning]) -> FitWarning:
        """The record of a warning of class `category` saying `message`."""
        return cls(str(message), category_name(category))

    def named(self, stream: str) -> FitWarning:
        """The warning as a run says it, after "<stream> stream: ", of the same class."""
        return FitWarning(f"{stream} stream: {self.message}", self.category)

    def warning(self) -> Warning:
        """The warning to raise (`warnings.warn(w.warning())`): an instance of its class
        (`warning_category`) whose text is `message`. Made without the class's own
        constructor, which may take other arguments (the estimator's warnings take their
        counts): only the message is kept, such fields are None
        (`mulde.estimator.model.FieldedWarning.from_message`)."""
        category = warning_category(self.category)
        if issubclass(category, FieldedWarning):
            return category.from_message(self.message)
        made = category.__new__(category, self.message)
        made.args = (self.message,)
        return made

    def to_dict(self) -> dict[str, str]:
        """The JSON-ready record: {"message": ..., "category": ...}."""
        return {"message": self.message, "category": self.category}

    @classmethod
    def from_json(cls, entry: Any) -> FitWarning:
        """Read back a `to_dict` record, or a bare message (the fit cache's entries before
        the category was kept: a `UserWarning`). ValueError for anything else."""
        if isinstance(entry, str):
            return cls(entry)
        if (isinstance(entry, dict) and isinstance(entry.get("message"), str)
                and isinstance(entry.get("category", DEFAULT_CATEGORY), str)):
            return cls(entry["message"], entry.get("category", DEFAULT_CATEGORY))
        raise ValueError(f"not a fit warning: {entry!r}")
