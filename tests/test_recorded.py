"""Warnings shown and kept (mulde.recorded)."""

import warnings

from mulde.recorded import recorded_warnings
from mulde.video.features.online import FrameSizeWarning


def _warn_from_mulde(message, category):
    """Raise a warning whose source file is mulde's own, as mulde's code raises them."""
    import mulde.recorded as module

    warnings.warn_explicit(message, category, module.__file__, 1, registry={})


def test_a_category_is_kept_once_into_the_list_given_and_every_warning_still_shown():
    notes = ["said before"]
    seen = []
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = lambda message, *args, **kwargs: seen.append(str(message))
        with recorded_warnings(FrameSizeWarning, into=notes) as kept:
            _warn_from_mulde("frames are 32x18", FrameSizeWarning)
            _warn_from_mulde("frames are 32x18", FrameSizeWarning)
            _warn_from_mulde("another note", UserWarning)
            warnings.warn("from elsewhere", FrameSizeWarning, stacklevel=1)  # this test file
    assert kept is notes and notes == ["said before", "frames are 32x18"]
    assert seen == ["frames are 32x18", "frames are 32x18", "another note", "from elsewhere"]
