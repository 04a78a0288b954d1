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
