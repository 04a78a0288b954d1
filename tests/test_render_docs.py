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


def test_grouped_extractor_settings_are_read_as_the_flat_ones_were() -> None:
    """video_stages.py records an extractor's settings as the extractor gives them: flat in
    older runs, grouped since (regions, flow, ...); the rendered text reads both alike."""
    from render_docs import _flat_params

    grouped = {"streams": ["velocity"], "regions": {"mode": "grid", "cell": 32, "stride": 16},
               "flow": {"preset": "medium", "baseline": 2},
               "appearance": {"crop_size": 64, "backbone": "efficientnet-lite0"}}
    assert _flat_params(grouped) == {"streams": ["velocity"], "mode": "grid", "cell": 32,
                                     "stride": 16, "flow_preset": "medium",
                                     "flow_baseline": 2, "crop_size": 64,
                                     "backbone": "efficientnet-lite0"}
    flat = {"cell": 32, "stride": 16, "flow_preset": "medium", "flow_baseline": 2}
    assert _flat_params(flat) == flat


def test_parts_timed_on_other_machines_are_listed() -> None:
    """A speed.json whose parts were re-measured (`--update`) lists each part's machine."""
    from render_docs import part_machines

    said = part_machines({"part_machines": {
        "mulde": {"cpu": "AMD EPYC", "loadavg_at_start": [0.403, 1.59, 1.93]},
        "fit": {"cpu": "AMD EPYC", "loadavg_at_start": None}}})
    assert "- `mulde`: AMD EPYC, load average at start [0.4, 1.59, 1.93]" in said
    assert "- `fit`: AMD EPYC (load average not recorded)" in said
    assert part_machines({}) == ""
