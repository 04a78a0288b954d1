"""docs/benchmarks.md is generated (benchmarks/render_docs.py) and must be what the generator
writes from the committed results and benchmarks/analysis.md: a hand edit of the generated
file is lost at the next render (stop 55's GPU paragraph was, until it moved into
analysis.md)."""

from pathlib import Path

from render_docs import DOC, main


def test_docs_benchmarks_md_is_what_render_docs_writes(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    main(["--out", str(out)])
    assert out.read_text() == DOC.read_text(), (
        "docs/benchmarks.md differs from `python benchmarks/render_docs.py`'s output: edit "
        "benchmarks/analysis.md or benchmarks/density_fidelity.md and render again")
