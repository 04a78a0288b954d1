"""The parameter probe (benchmarks/density_params.py): the suite's own draws and metrics for
any MULDE parameters, on a small case."""

import json

import numpy as np
import pytest
from density_fidelity import draw_case, metrics
from density_params import main, run_case

TINY = {"max_steps": 5, "hidden_sizes": [8], "n_members": 1}


def test_a_case_gives_the_suites_metrics_of_each_fit_and_of_knn():
    """Each row holds the metrics of `density_fidelity.metrics` on the case's draws: the MULDE
    fit's from its anomaly scores, kNN's from the 5th neighbour's distance on the rows
    standardised per column (computed here by hand)."""
    from mulde import MULDE

    out = run_case("gauss_iso:2:200", 5, [TINY], ["kNN"])
    assert [r["name"] for r in out["rows"]] == [json.dumps(TINY, sort_keys=True), "kNN"]
    data = draw_case("gauss_iso", 2, 200, 5)
    model = MULDE(random_state=5, device="cpu", **TINY).fit(data.x)
    mine = metrics(*(model.anomaly_score(a) for a in (data.x, data.fresh, data.broad)),
                   data.nll_fresh, data.nll_broad)
    assert {k: out["rows"][0][k] for k in mine} == mine and out["rows"][0]["steps"] == 5
    z = (data.x - data.x.mean(axis=0)) / data.x.std(axis=0)

    def fifth(points, exclude_self):
        dist = np.linalg.norm(points[:, None] - z[None], axis=-1)
        return np.sort(dist, axis=1)[:, 5 if exclude_self else 4]

    scale = lambda a: (a - data.x.mean(axis=0)) / data.x.std(axis=0)  # noqa: E731
    knn = metrics(fifth(z, True), fifth(scale(data.fresh), False),
                  fifth(scale(data.broad), False), data.nll_fresh, data.nll_broad)
    assert {k: out["rows"][1][k] for k in knn} == pytest.approx(knn)


def test_the_command_writes_each_case_as_it_ends(tmp_path, capsys):
    out = tmp_path / "p.json"
    main(["--cases", "gauss_iso:2:200", "circle:2:200", "--params", json.dumps(TINY),
          "--out", str(out)])
    written = json.loads(out.read_text())
    assert written["kind"] == "density_params" and written["seed"] == 5
    assert [c["case"] for c in written["cases"]] == ["gauss_iso:2:200", "circle:2:200"]
    assert "circle:2:200 " in capsys.readouterr().out
