"""Unknown names in a user's input, each with the closest known name suggested: the one way
the command line and the extractor settings answer a misspelt parameter or setting."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(name: str, known: Iterable[str], strip: str = "") -> str | None:
    """The known name closest to `name` where `difflib` finds one (its default similarity
    cutoff, 0.6), letter case aside ("ShanghaiTech" finds "shanghaitech"), and the leading
    characters in `strip` too (the dashes of command-line options: "--outt" finds "--out",
    and "--nope" no "--pre" for their common "--"); None where none is close."""
    folded = {k.lstrip(strip).lower(): k for k in sorted(known)}
    match = difflib.get_close_matches(name.lstrip(strip).lower(), sorted(folded), n=1)
    return folded[match[0]] if match else None


def suggestion(name: str, known: Iterable[str], strip: str = "") -> str:
    """" (did you mean close?)" where `closest` finds a known name close to `name`, else "":
    the words a message puts after the unknown name, however it writes that name."""
    match = closest(name, known, strip)
    return f" (did you mean {match}?)" if match is not None else ""


def with_suggestions(unknown: Iterable[str], known: Iterable[str],
                     strip: str = "") -> list[str]:
    """Return each unknown name as "name (did you mean close?)" where `closest` finds a
    close known name, else the name alone (`suggestion`); same order, same length as
    `unknown`."""
    known = list(known)
    return [name + suggestion(name, known, strip) for name in unknown]
