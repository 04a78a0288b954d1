"""Every `docs/method.md, "Section"` citation in the package names a section that exists."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CITATION = re.compile(r'docs/method\.md,\s+"([^"]+)"')


def test_method_citations_name_existing_sections():
    method = (REPO / "docs" / "method.md").read_text(encoding="utf-8")
    headings = {m.group(1).strip() for m in re.finditer(r"^#+ (.+)$", method, re.MULTILINE)}
    cited = {}
    for path in sorted((REPO / "src").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert "METHOD.md" not in text, f"{path}: cites METHOD.md, which is not in the repo"
        for match in CITATION.finditer(text):
            cited.setdefault(match.group(1), []).append(path.relative_to(REPO).as_posix())
    assert cited, "no section citations found: the pattern no longer matches the docstrings"
    missing = {section: files for section, files in cited.items() if section not in headings}
    assert not missing, f"sections cited but absent from docs/method.md: {missing}"


def test_the_readme_run_usage_names_every_run_option():
    """The README's `mulde run` usage line lists each option of the parser (Ray's own
    options stand behind `--engine local|ray ...`)."""
    from mulde.cli import build_parser

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    usage = next(line for line in readme.splitlines() if line.startswith("mulde run DATASET"))
    run = build_parser().subcommands["run"]
    ray = {"--address", "--workers", "--gpus-per-worker", "--max-retries"}
    options = {o for a in run._actions for o in a.option_strings if o.startswith("--")}
    missing = sorted(o for o in options - ray - {"--help"} if f"[{o}" not in usage
                     and f" {o} " not in usage and f"| {o}" not in usage)
    assert not missing, f"README's mulde run usage lacks {missing}"


# `README, "X"`, `docs/x.md ("X")`, `README's "X"` and a link, `[docs/x.md](x.md), "X"`
SECTION_CITATION = re.compile(r"(?<![\w/])\[?(README|docs/[a-z_]+\.md)(?:\]\([^)\s]*\))?(?:'s)?"
                              r'\)?,?\s+\(?"([^"]+)"')
# the sections after the first of a list (`docs/videos.md, "Labels", "The same in Python" and
# "Reading the report"`); one in shorthand, lower case ("round 19"), ends the list unchecked
FURTHER_SECTION = re.compile(r'(?:,|,? and)\s+"([A-Z`][^"]*)"')


def _cited_places(text: str) -> set[str]:
    """The headings of a Markdown text and the first words of its paragraphs, each with its
    whitespace collapsed: what `README, "..."` or `docs/x.md, "..."` may cite."""
    places = {m.group(1).strip() for m in re.finditer(r"^#+ (.+)$", text, re.MULTILINE)}
    places |= {block.strip() for block in text.split("\n\n")}
    return {" ".join(place.split()) for place in places}


def test_section_citations_name_existing_sections():
    """Every `README, "Section"` and `docs/page.md, "Section"` in the README, the docs, the
    package, the tests, the benchmarks and the tools names a page that exists and a heading,
    or the start of a paragraph, that it holds (sections moved from the README to docs/ pages
    on 2026-12-05 must be cited there). A citation through a link, `[docs/x.md](x.md), "X"`,
    and each section of a list, `docs/x.md, "X", "Y" and "Z"`, count too: a review found
    both forms, which the moved text uses, and the tests' citations, left unchecked."""
    sources = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")),
               *sorted((REPO / "benchmarks").glob("*.md"))]
    for top in ("src", "tests", "benchmarks", "tools"):  # not this file's own examples
        sources += [p for p in sorted((REPO / top).rglob("*.py")) if p != Path(__file__).resolve()]
    pages: dict[str, set[str]] = {}
    broken = []
    for path in sources:
        text = path.read_text(encoding="utf-8")
        for match in SECTION_CITATION.finditer(text):
            page = "README.md" if match.group(1) == "README" else match.group(1)
            if not (REPO / page).exists():
                broken.append(f"{path.name}: {page} does not exist")
                continue
            if page not in pages:
                pages[page] = _cited_places((REPO / page).read_text(encoding="utf-8"))
            cited, end = [match.group(2)], match.end()
            while further := FURTHER_SECTION.match(text, end):
                cited.append(further.group(1))
                end = further.end()
            for name in cited:
                # a citation may wrap inside a comment ("# ") and end in an ellipsis
                section = " ".join(name.replace("\n#", "\n").split()).removesuffix(" ...")
                if not any(place.startswith(section) for place in pages[page]):
                    broken.append(f"{path.relative_to(REPO)}: {page}, {section!r}")
    assert not broken, broken


FILE_CITATION = re.compile(r"(?<![\w/.])((?:tests|benchmarks|src|docs|tools)/[\w./-]*\w"
                           r"\.(?:py|md|json|csv))")


def test_file_citations_name_existing_files():
    """Every repository file the README and the docs cite (a test, a benchmark, its JSON, a
    docs page) exists: a newcomer followed `tests/test_metrics.py` after the tests moved
    into subpackages. A path written by a command's `--out` is that command's output, and
    may have been merged into another file since."""
    sources = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    missing = []
    for path in sources:
        text = path.read_text(encoding="utf-8")
        for match in FILE_CITATION.finditer(text):
            if text[:match.start()].endswith("--out "):
                continue
            if not (REPO / match.group(1)).exists():
                missing.append(f"{path.name}: {match.group(1)}")
    assert not missing, missing


MARKDOWN_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_markdown_links_resolve_from_their_page():
    """Every relative link `[text](target)` of the README and the docs names a file that
    exists relative to the page it is on (a link moved from the README into docs/ kept its
    `docs/` prefix and pointed at docs/docs/...: a reviewer's find)."""
    broken = []
    for page in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for match in MARKDOWN_LINK.finditer(page.read_text(encoding="utf-8")):
            target = match.group(1)
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.name}: {target}")
    assert not broken, broken
