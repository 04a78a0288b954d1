"""`mulde.video.features.registry`: the names `build_extractor` takes, and its answer to one
it does not."""

from __future__ import annotations

import pytest

from mulde.video.features.registry import build_extractor, extractor_names


@pytest.mark.parametrize("name, close", [("object", "objects"), ("objects:ped", "objects:ped2"),
                                         ("Frames", "frames")])
def test_a_misspelt_extractor_is_refused_with_the_closest_name(name, close):
    """A newcomer's `--extractor object` names the extractor meant, as a misspelt dataset or
    setting does, then every name it takes."""
    with pytest.raises(ValueError) as err:
        build_extractor(name)
    assert str(err.value) == (f"unknown extractor {name!r} (did you mean {close}?); choose "
                              f"from {', '.join(extractor_names())}")


def test_a_name_close_to_none_is_refused_with_every_name():
    with pytest.raises(ValueError, match=r"^unknown extractor 'zzz'; choose from objects, "):
        build_extractor("zzz")
