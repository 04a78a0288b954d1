"""benchmarks/adbench_ranks.py: mean ranks of the methods, computed by hand on small rows."""

import json

import pytest
from adbench_ranks import main, mean_ranks


def _row(dataset, seed, method, auc, n_train=100, **extra):
    return dict(dataset=dataset, seed=seed, method=method, auc=auc, n_train=n_train, **extra)


MULDE_ROWS = [_row("a", 0, "MULDE", 0.9), _row("a", 1, "MULDE", 0.7),  # mean 0.8
              _row("b", 0, "MULDE", 0.6, 5000),
              _row("c", 0, "MULDE", 0.5)]
PEER_ROWS = [_row("a", 0, "KNN", 0.8), _row("a", 1, "KNN", 0.8),  # 0.8: tied with MULDE
             _row("a", 0, "LOF", 0.1), _row("a", 1, "LOF", 0.3),
             _row("b", 0, "KNN", 0.7, 5000), _row("b", 0, "LOF", 0.65, 5000),
             _row("c", 0, "KNN", 0.9), _row("c", 0, "LOF", 0.2, error="boom"),
             _row("a", 0, "MULDE", 0.0)]  # a MULDE row among the peers' is not MULDE's


def test_mean_ranks_share_ties_and_split_the_large_sets():
    r = mean_ranks(MULDE_ROWS, PEER_ROWS, min_train=1000)
    assert r["methods"] == ["MULDE", "KNN", "LOF"]
    # a: MULDE 0.8 and KNN 0.8 share ranks 1-2 (1.5), LOF 3; b: KNN 1, LOF 2, MULDE 3;
    # c: LOF's only row is an error, so c is left out
    assert r["left_out"] == {"c": "no seed with a row of every method"}
    assert r["all"]["sets"] == ["a", "b"]
    assert r["all"]["mean_rank"] == {"MULDE": 2.25, "KNN": 1.25, "LOF": 2.5}
    assert r["all"]["mean_auc"] == {"MULDE": 0.7, "KNN": 0.75, "LOF": 0.425}
    assert r["large"]["sets"] == ["b"] and r["large"]["mean_rank"] == {
        "MULDE": 3.0, "KNN": 1.0, "LOF": 2.0}


def test_only_the_seeds_every_method_has_count():
    """MULDE's seed 1 on b has no peer row: b's mean is over seed 0 alone."""
    rows = [*MULDE_ROWS, _row("b", 1, "MULDE", 1.0, 5000)]
    assert mean_ranks(rows, PEER_ROWS, 1000)["large"]["mean_auc"]["MULDE"] == 0.6


def test_the_command_prints_and_writes_the_ranks(tmp_path, capsys):
    for name, rows in (("m.json", MULDE_ROWS), ("p.json", PEER_ROWS)):
        (tmp_path / name).write_text(json.dumps({"entries": rows}))
    main([str(tmp_path / "m.json"), "--peers", str(tmp_path / "p.json"),
          "--out", str(tmp_path / "r.json")])
    out = capsys.readouterr().out
    assert "all sets (2): KNN 1.250, MULDE 2.250, LOF 2.500" in out
    assert ">= 1000 training rows (1): KNN 1.000, LOF 2.000, MULDE 3.000" in out
    assert "left out c: no seed with a row of every method" in out
    written = json.loads((tmp_path / "r.json").read_text())
    assert written["kind"] == "adbench_ranks" and written["large"]["count"] == 1
    with pytest.raises(SystemExit, match="nowhere.json: no such results file"):
        main([str(tmp_path / "nowhere.json"), "--peers", str(tmp_path / "p.json")])


def test_the_seeds_left_out_of_a_set_are_named():
    """b's MULDE seed 1 (no peer row) and a's LOF seed 2 (no other method's) are named."""
    rows = [*MULDE_ROWS, _row("b", 1, "MULDE", 1.0, 5000)]
    peers = [*PEER_ROWS, _row("a", 2, "LOF", 0.9)]
    r = mean_ranks(rows, peers, 1000)
    assert r["seeds_left_out"] == {"a": [2], "b": [1]}
    assert r["all"]["mean_auc"]["LOF"] == 0.425  # a's LOF over seeds 0 and 1 only
    assert mean_ranks(MULDE_ROWS, PEER_ROWS, 1000)["seeds_left_out"] == {}


def test_sets_of_one_side_only_are_left_out_and_no_large_set_gives_an_empty_part():
    rows = [*MULDE_ROWS, _row("d", 0, "MULDE", 0.9)]
    peers = [*PEER_ROWS, _row("e", 0, "KNN", 0.9), _row("e", 0, "LOF", 0.9)]
    r = mean_ranks(rows, peers, min_train=10**6)
    assert r["all"]["sets"] == ["a", "b"]
    assert set(r["left_out"]) == {"c", "d", "e"}
    assert r["large"] == {"sets": [], "count": 0, "mean_rank": {}, "mean_auc": {}}


@pytest.mark.parametrize("mulde, peers, said", [
    ([_row("a", 0, "KNN", 0.5)], PEER_ROWS, "the MULDE results hold no MULDE row"),
    (MULDE_ROWS, [_row("a", 0, "MULDE", 0.5)], "the peers' results hold no row of another"),
    (MULDE_ROWS, [*PEER_ROWS, _row("a", 2, "KNN", 0.5, n_train=99)],
     "data set 'a': n_train 100 in one row, 99 in KNN's of seed 2"),
])
def test_rows_that_cannot_be_ranked_are_refused(mulde, peers, said):
    with pytest.raises(ValueError, match=said):
        mean_ranks(mulde, peers, 1000)


@pytest.mark.parametrize("mulde, said", [
    ("{", r"m\.json: not valid JSON"),
    ("[]", r"m\.json: not an ADBench results file \(no list of 'entries'\)"),
    (json.dumps({"entries": [{"dataset": "a", "seed": 0, "method": "MULDE", "auc": 0.5}]}),
     r"m\.json: entry 0 has no 'n_train' field"),
    (json.dumps({"entries": MULDE_ROWS, "protocol": {"max_train": 5}}),
     r"m\.json: run with protocol \{'max_train': 5\}, .*p\.json with \{'max_train': 10\}"),
    (json.dumps({"entries": [_row("a", 0, "KNN", 0.5)]}),
     r"m\.json, .*p\.json: the MULDE results hold no MULDE row"),
])
def test_the_command_refuses_a_wrong_file_in_one_line(tmp_path, mulde, said):
    (tmp_path / "m.json").write_text(mulde)
    (tmp_path / "p.json").write_text(json.dumps({"entries": PEER_ROWS,
                                                 "protocol": {"max_train": 10}}))
    with pytest.raises(SystemExit, match=said) as err:
        main([str(tmp_path / "m.json"), "--peers", str(tmp_path / "p.json")])
    assert "\n" not in str(err.value)
