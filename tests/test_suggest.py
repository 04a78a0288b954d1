from hypothesis import given
from hypothesis import strategies as st

from mulde.suggest import closest, suggestion, with_suggestions


def test_a_misspelt_name_gets_the_closest_known_one():
    assert with_suggestions(["max_step", "zzz"], ["max_steps", "lr", "beta"]) == [
        "max_step (did you mean max_steps?)", "zzz"]


def test_closest_gives_the_known_name_itself_or_none():
    """`closest` is the one rule behind the suggestions: the known name as given (its case
    kept), the dashes in `strip` aside, or None."""
    assert closest("GMM", ["gmm", "mean_z"]) == "gmm"
    assert closest("mean_energie", ["mean_energy", "mean_z", "max_z"]) == "mean_energy"
    assert closest("--outt", ["--out", "--root"], strip="-") == "--out"
    assert closest("zzz", ["gmm", "mean_z"]) is None


def test_a_suggestion_is_the_words_after_the_name_or_nothing():
    """`suggestion` is what `with_suggestions` puts after a name, for messages that write the
    name their own way (quoted, say)."""
    assert suggestion("object", ["objects", "frames"]) == " (did you mean objects?)"
    assert suggestion("--outt", ["--out"], strip="-") == " (did you mean --out?)"
    assert suggestion("zzz", ["objects", "frames"]) == ""


def test_letter_case_does_not_hide_the_known_name():
    assert with_suggestions(["ShanghaiTech", "UCF-Crime"], ["shanghaitech", "ucf_crime"]) == [
        "ShanghaiTech (did you mean shanghaitech?)", "UCF-Crime (did you mean ucf_crime?)"]


def test_the_known_names_order_does_not_change_the_suggestion():
    # two equally close names (ratio 0.75 each): difflib ranks (ratio, name) pairs, so the tie
    # goes to the name that sorts last, in whatever order the names come
    for known in (["abce", "abcf"], ["abcf", "abce"], {"abce", "abcf"}):
        assert with_suggestions(["abcd"], known) == ["abcd (did you mean abcf?)"]


@given(st.lists(st.text(min_size=1, max_size=8)), st.lists(st.text(min_size=1, max_size=8)))
def test_every_unknown_name_comes_back_first_in_its_own_entry(unknown, known):
    out = with_suggestions(unknown, known)
    assert len(out) == len(unknown)
    assert all(entry.startswith(name) for entry, name in zip(out, unknown, strict=True))


def test_leading_characters_to_strip_are_left_out_of_the_comparison():
    """Options compared without their dashes: a misspelt option finds its own, and one that
    shares only the "--" finds none (with them, "--nope" was close to "--pre")."""
    known = ["--out", "--pre", "--seed", "-h"]
    assert with_suggestions(["--outt", "--nope", "--sed"], known, strip="-") == [
        "--outt (did you mean --out?)", "--nope", "--sed (did you mean --seed?)"]
    assert with_suggestions(["--nope"], known) == ["--nope (did you mean --pre?)"]
