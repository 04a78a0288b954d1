"""Atomic writes: readers never see partial files and failures leave nothing behind."""

import json
import os
import time

import pytest

from mulde.io.atomic import atomic_path, sweep_stale_temp, write_json, write_text


def test_write_replaces_the_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "sub" / "a.json"
    write_json(target, {"x": 1})
    write_json(target, {"x": 2})
    assert json.loads(target.read_text()) == {"x": 2}
    assert [p.name for p in target.parent.iterdir()] == ["a.json"]


def test_a_failed_write_keeps_the_old_file_and_removes_the_temp(tmp_path):
    target = write_text(tmp_path / "a.txt", "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_temp_names_are_unique_per_call(tmp_path):
    with atomic_path(tmp_path / "a") as t1, atomic_path(tmp_path / "a") as t2:
        assert t1 != t2 and t1.parent == t2.parent == tmp_path
        t1.write_text("1")
        t2.write_text("2")
    assert (tmp_path / "a").read_text() == "1"  # the outer context finishes last


def test_sweep_removes_only_old_temp_files_of_killed_writers(tmp_path):
    with atomic_path(tmp_path / "sub" / "a.npz") as fresh:  # a live writer's temp: kept
        fresh.write_text("writing")
        old = tmp_path / "sub" / ".b.npz.123.0123abcd.tmp"  # left by a writer killed long ago
        old.write_text("half")
        lookalike = tmp_path / ".notes.tmp"  # not atomic_path's pattern: never touched
        lookalike.write_text("mine")
        two_days_ago = time.time() - 2 * 86400
        for p in (old, lookalike):
            os.utime(p, (two_days_ago, two_days_ago))
        assert sweep_stale_temp(tmp_path) == 1
        assert fresh.exists() and lookalike.exists() and not old.exists()
    assert (tmp_path / "sub" / "a.npz").read_text() == "writing"
    assert sweep_stale_temp(tmp_path / "missing") == 0
