"""The decision rule of the density-fidelity rounds (benchmarks/density_decide.py), by hand."""

import pytest
from density_decide import decide

KW = {"margin": 0.003, "cal_slack": 0.002, "cal_gain": 0.005}


def test_a_better_merit_wins_only_within_the_calibration_slack():
    table = {"inc": (0.900, 0.030, 13), "a": (0.905, 0.031, 13), "b": (0.910, 0.040, 13)}
    assert decide(table, "inc", ["a", "b"], **KW) == ("a", ["a"])  # b calibrates too badly


def test_a_slightly_lower_merit_wins_on_much_better_calibration():
    table = {"inc": (0.900, 0.030, 13), "a": (0.898, 0.020, 13), "b": (0.896, 0.010, 13)}
    assert decide(table, "inc", ["a", "b"], **KW) == ("a", ["a"])  # b is 0.004 below


def test_ties_within_the_margin_go_to_the_best_calibration_and_nothing_may_pass():
    table = {"inc": (0.900, 0.030, 13), "a": (0.910, 0.029, 13), "b": (0.908, 0.020, 13)}
    assert decide(table, "inc", ["a", "b"], **KW) == ("b", ["a", "b"])
    table = {"inc": (0.900, 0.030, 13), "a": (0.902, 0.029, 13)}
    assert decide(table, "inc", ["a"], **KW) == ("inc", [])


@pytest.mark.parametrize("merit", [0.9031, 0.90301])
def test_the_margin_is_strict(merit):
    table = {"inc": (0.900, 0.030, 13), "a": (merit, 0.030, 13)}
    assert decide(table, "inc", ["a"], **KW)[0] == "a"
    table["a"] = (0.9029, 0.030, 13)
    assert decide(table, "inc", ["a"], **KW)[0] == "inc"


def test_fewer_steps_pass_only_no_worse_results_and_the_fewest_win():
    table = {"inc": (0.900, 0.030, 13), "a": (0.898, 0.031, 13), "b": (0.8975, 0.030, 13),
             "c": (0.896, 0.030, 13), "d": (0.900, 0.0325, 13)}
    steps = {"inc": 1000, "a": 850, "b": 800, "c": 500, "d": 500}
    # c is more than the margin below, d calibrates beyond the slack: neither passes
    assert decide(table, "inc", ["a", "b", "c", "d"], **KW, steps=steps,
                  fewer_steps=0.1) == ("b", ["a", "b"])
    # 850 > (1 - 0.2) x 1000: only b's 800 is fewer by a fifth
    assert decide(table, "inc", ["a", "b"], **KW, steps=steps, fewer_steps=0.2) == ("b", ["b"])
    # without the clause the round's rule alone: nothing passes
    assert decide(table, "inc", ["a", "b"], **KW, steps=steps) == ("inc", [])


def test_a_better_result_wins_before_fewer_steps_count():
    table = {"inc": (0.900, 0.030, 13), "a": (0.905, 0.030, 13), "b": (0.899, 0.030, 13)}
    steps = {"inc": 1000, "a": 1000, "b": 500}
    assert decide(table, "inc", ["a", "b"], **KW, steps=steps, fewer_steps=0.1) == ("a", ["a"])


def test_results_without_training_steps_are_decided_and_the_clause_refuses_them(tmp_path,
                                                                               capsys):
    """Rounds before 10 recorded no training steps: their decisions rerun as before (no
    steps shown), and --fewer-steps, which needs them, says so in one line."""
    import json

    from density_decide import main

    def case(merit: float) -> dict:
        return {"aggregates": {"mean_energy": {"rho_fresh": merit, "rho_broad": merit,
                                               "far": 0.01}}}

    path = tmp_path / "old.json"
    path.write_text(json.dumps({"cases": [{"dist": "g", "d": 2, "n": 100, "seed": 0,
                                           "mulde": {"inc": case(0.9), "a": case(0.95)}}]}))
    main([str(path), "--incumbent", "inc", "--challengers", "a"])
    out = capsys.readouterr().out
    assert "steps" not in out and out.endswith("passed: ['a']; winner: a\n")
    with pytest.raises(SystemExit, match="^--fewer-steps needs the training steps, which the "
                                         "results of inc, a do not record$"):
        main([str(path), "--incumbent", "inc", "--challengers", "a", "--fewer-steps", "0.1"])


def test_an_aggregate_the_results_lack_is_named_with_those_they_have(tmp_path):
    """`--aggregate mean_z` (or VARIANT@mean_z) on results without it was a KeyError."""
    import json

    from density_decide import main

    case = {"aggregates": {"mean_energy": {"rho_fresh": 0.9, "rho_broad": 0.9, "far": 0.01},
                           "gmm": {"rho_fresh": 0.8, "rho_broad": 0.8, "far": 0.01}}}
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"cases": [{"dist": "g", "d": 2, "n": 100, "seed": 0,
                                           "mulde": {"inc": case, "a": case}}]}))
    with pytest.raises(SystemExit, match="^a: no 'mean_z' aggregate in the results; they "
                                         "have gmm, mean_energy$"):
        main([str(path), "--incumbent", "inc", "--challengers", "a@mean_z"])


def test_the_per_case_table_averages_each_case_over_its_seeds_by_hand():
    """--per-case: one row per (distribution, d, n), each variant's and peer's rho_fresh /
    rho_broad / far the mean over the seeds, a variant's steps summed; a variant a case
    lacks shows "-", and an @aggregate name reads that aggregate."""
    from density_decide import per_case_table

    def fit(fresh: float, broad: float, far: float, steps: int) -> dict:
        agg = {"rho_fresh": fresh, "rho_broad": broad, "far": far}
        return {"aggregates": {"mean_energy": agg, "mean_z": {**agg, "rho_fresh": 0.5}},
                "training": {"steps": steps}}

    res = {"cases": [
        {"dist": "g", "d": 2, "n": 1000, "seed": 0, "mulde": {"inc": fit(0.8, 0.6, 0.01, 100)},
         "peers": {"kNN": {"rho_fresh": 0.7, "rho_broad": 0.9, "far": 0.02}}},
        {"dist": "g", "d": 2, "n": 1000, "seed": 1, "mulde": {"inc": fit(0.9, 0.7, 0.03, 300)},
         "peers": {"kNN": {"rho_fresh": 0.8, "rho_broad": 0.9, "far": 0.00}}},
        {"dist": "t", "d": 4, "n": 50, "seed": 0, "mulde": {}, "peers": {}}]}
    lines = per_case_table(res, ["inc", "inc@mean_z"], "mean_energy")
    assert lines[0] == "| case | inc | inc@mean_z | kNN |"
    assert lines[2] == ("| `g` d 2 n 1,000 | 0.850 / 0.650 / 0.020; 400 | "
                        "0.500 / 0.650 / 0.020; 400 | 0.750 / 0.900 / 0.010 |")
    assert lines[3] == "| `t` d 4 n 50 | - | - | - |"
