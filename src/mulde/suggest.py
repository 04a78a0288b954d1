"""Unknown names in a user's input, each with the closest known name suggested: the one way
the command line and the extractor settings answer a misspelt parameter or setting."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def with_suggestions(unknown: Iterable[str], known: Iterable[str],
                     strip: str = "") -> list[str]:
    """Return each unknown name as "name (did you mean close?)" where `difflib` finds a close
    known name (its default similarity cutoff, 0.6), letter case aside ("ShanghaiTech" finds
    "shanghaitech"), and the leading characters in `strip` too (the dashes of command-line
    options: "--outt" finds "--out", and "--nope" no "--pre" for their common "--"), else
    the name alone; same order, same length as `unknown`."""
    folded = {name.lstrip(strip).lower(): name for name in sorted(known)}
    choices = sorted(folded)
    out = []
    for name in unknown:
        match = difflib.get_close_matches(name.lstrip(strip).lower(), choices, n=1)
        out.append(f"{name} (did you mean {folded[match[0]]}?)" if match else name)
    return out
