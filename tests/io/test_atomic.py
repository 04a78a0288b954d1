"""Atomic writes: readers never see partial files and failures leave nothing behind."""

import errno
import json
import os
import re
import time
from pathlib import Path

import numpy as np
import pytest
from fakes import MeanColour, _disk_with

from mulde.datasets import load_dataset
from mulde.io.atomic import (
    MIN_FREE_BYTES,
    atomic_path,
    check_folder,
    ensure_writable,
    sweep_stale_temp,
    write_bytes,
    write_files,
    write_json,
    write_text,
)
from mulde.pipeline import extract_features, run_pipeline
from mulde.video.cache import FeatureCache


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


def test_write_files_replaces_all_or_none(tmp_path, monkeypatch):
    """Several files written as one: all new, in a folder made for them; a full disk on the
    second leaves the first file as it was (not new beside an old second) and no temp file,
    and the error names the file being written."""
    from mulde.io.atomic import write_files

    a, b = tmp_path / "a.txt", tmp_path / "sub" / "b.txt"
    assert write_files({a: b"1", b: b"2"}) == [a, b]
    assert (a.read_text(), b.read_text()) == ("1", "2")
    real = Path.write_bytes

    def full_at_b(self, data):
        if self.name.startswith(".b.txt."):
            _enospc()
        real(self, data)

    monkeypatch.setattr(Path, "write_bytes", full_at_b)
    with pytest.raises(OSError, match=f"cannot write {re.escape(str(b))} ") as raised:
        write_files({a: b"new", b: b"new"})
    assert raised.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert (a.read_text(), b.read_text()) == ("1", "2")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.txt", "b.txt", "sub"]
    (tmp_path / "c.txt").mkdir()  # a folder at a file's name: refused before any write
    with pytest.raises(OSError, match=f"^{re.escape(str(tmp_path / 'c.txt'))}: a folder where "
                                      "a file is to be written") as raised:
        write_files({a: b"new", tmp_path / "c.txt": b"new"})
    assert raised.value.errno == errno.EISDIR and a.read_text() == "1"


def test_a_file_in_the_place_of_a_folder_is_named_by_every_writer(tmp_path):
    """A write into notes.txt/... (notes.txt a file) raised mkdir's "[Errno 17] File exists:
    'notes.txt'" (or "[Errno 20] Not a directory" a level further down), which reads as a
    refusal to overwrite notes.txt: every writer names the file in the way, as
    `ensure_writable` named a file given as the folder itself, and writes nothing."""
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    said = f"^{re.escape(str(notes))}: a file, not a folder; give a folder for the outputs$"
    for folder in (notes, notes / "sub", notes / "sub" / "deeper"):
        with pytest.raises(OSError, match=said) as caught:
            check_folder(folder)
        assert caught.value.errno == errno.ENOTDIR
        with pytest.raises(OSError, match=said):
            write_text(folder / "a.txt", "x")
        with pytest.raises(OSError, match=said):
            ensure_writable(folder)
    assert notes.read_text() == "mine" and sorted(tmp_path.iterdir()) == [notes]
    assert check_folder(tmp_path / "new" / "sub") == tmp_path / "new" / "sub"  # made later
    assert not (tmp_path / "new").exists()


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


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_disk_full_during_an_atomic_write_leaves_nothing_and_names_the_path(tmp_path,
                                                                           monkeypatch):
    old = write_json(tmp_path / "old.json", {"v": 1})
    real = Path.write_bytes

    def half_then_full(self, data):
        real(self, data[: len(data) // 2])
        _enospc()

    monkeypatch.setattr(Path, "write_bytes", half_then_full)
    for target in (tmp_path / "new.json", old):
        with pytest.raises(OSError, match=f"cannot write {re.escape(str(target))}") as raised:
            write_json(target, {"v": 2, "pad": "x" * 1000})
        assert raised.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.json"]
    assert json.loads(old.read_text()) == {"v": 1}


def test_a_writer_wrapping_the_system_error_still_gives_the_oserror(tmp_path):
    """safetensors reports a full disk or a read-only folder as its own SafetensorError with
    "(os error N)" in its text: the atomic write gives the OSError of that errno naming the
    target, as for any other writer (a user's read-only fit cache crashed the run); an error
    without one is left as it is."""
    from safetensors import SafetensorError

    target = tmp_path / "m.safetensors"
    for code in (errno.ENOSPC, errno.EACCES, errno.ENOENT):  # ENOENT: a folder like /proc
        with pytest.raises(OSError, match=f"cannot write {re.escape(str(target))} \\(") as raised:
            with atomic_path(target):
                raise SafetensorError(f"Error while serializing: I/O error: x (os error {code})")
        assert raised.value.errno == code
    with pytest.raises(SafetensorError, match="header too large"):
        with atomic_path(target):
            raise SafetensorError("header too large")
    assert list(tmp_path.iterdir()) == []


def test_a_folder_that_takes_no_new_file_names_the_target_not_the_temp(tmp_path):
    """In a folder such as /proc, creating the temp file fails with ENOENT naming the temp
    file: said of the target, as the other write errors are; a missing file the writer
    itself reads is its own error."""
    target = tmp_path / "scores.csv"
    with pytest.raises(OSError, match=f"^\\[Errno 2\\] cannot write {re.escape(str(target))} "
                                      "\\(No such file or directory\\); nothing was written$"):
        with atomic_path(target) as tmp:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", str(tmp))
    with pytest.raises(FileNotFoundError, match="input.csv"):
        with atomic_path(target):
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", "input.csv")
    assert list(tmp_path.iterdir()) == []


def test_a_link_is_written_through_and_a_device_or_pipe_is_refused(tmp_path):
    """A newcomer's trial: `MULDE.save("/dev/full")` renamed a file over the device (as
    root, /dev/null would have gone for the whole machine), and a save to a symlink replaced
    the link with a file. Every atomic writer writes through a link, as open() does, and
    refuses a device, pipe or folder before writing anything."""
    real = tmp_path / "real.txt"
    real.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    write_text(link, "new")
    assert link.is_symlink() and real.read_text() == "new"
    write_files({link: b"both", tmp_path / "other.txt": b"x"})
    assert link.is_symlink() and real.read_text() == "both"
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    folder = tmp_path / "folder"
    folder.mkdir()
    for path, said, code in ((pipe, "a device, pipe or socket, not a file", errno.EEXIST),
                             (folder, "a folder where a file is to be written", errno.EISDIR)):
        for write in (lambda p: write_bytes(p, b"x"), lambda p: write_files({p: b"x"})):
            with pytest.raises(OSError, match=f"^{re.escape(str(path))}: {said}") as raised:
                write(path)
            assert raised.value.errno == code
    assert pipe.is_fifo() and folder.is_dir() and not any(folder.iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "link.txt", "other.txt",
                                                         "pipe", "real.txt"]


def test_a_folder_that_may_not_be_searched_says_cannot_write(tmp_path, monkeypatch):
    """A file in another user's 0700 folder (/root/m.safetensors as a user): looking for a
    link or a folder there (lstat) is denied before the write is; said as the write's own
    refusal, "cannot write PATH (Permission denied); nothing was written", not as a bare
    "[Errno 13] Permission denied: PATH". Simulated: the tests may run as root."""
    locked = tmp_path / "locked"
    locked.mkdir()
    real_lstat, real_stat = Path.lstat, Path.stat

    def denied(real):
        def probe(self, *args, **kwargs):
            if self.parent == locked:
                raise PermissionError(errno.EACCES, "Permission denied", str(self))
            return real(self, *args, **kwargs)
        return probe

    monkeypatch.setattr(Path, "lstat", denied(real_lstat))
    monkeypatch.setattr(Path, "stat", denied(real_stat))
    target = locked / "m.txt"
    said = f"cannot write {re.escape(str(target))} \\(Permission denied\\); nothing was written"
    for write in (lambda: write_text(target, "x"), lambda: write_files({target: b"x"})):
        with pytest.raises(OSError, match=said) as raised:
            write()
        assert raised.value.errno == errno.EACCES
    monkeypatch.undo()
    assert list(locked.iterdir()) == []


def test_disk_full_while_caching_leaves_no_entry_and_the_next_run_completes(small_folder,
                                                                           tmp_path,
                                                                           monkeypatch):
    dataset = load_dataset("folder", small_folder)
    cache = FeatureCache(tmp_path / "cache")

    def partial(fh, **arrays):
        fh.write(b"PK\x03\x04 half a zip")
        _enospc()

    monkeypatch.setattr(np, "savez_compressed", partial)
    with pytest.raises(OSError, match=r"cannot write .*t0\.mean_colour-\w+\.npz") as raised:
        extract_features(dataset, MeanColour(), cache, progress=False)
    assert raised.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert [p for p in (tmp_path / "cache").rglob("*") if p.is_file()] == []
    ex = MeanColour()
    assert extract_features(dataset, ex, cache, progress=False).n_extracted == 3
    assert ex.calls == ["t0", "t1", "a"]


def test_low_free_space_is_refused_before_any_work(small_folder, tmp_path, monkeypatch):
    _disk_with(monkeypatch, 10_000_000)
    dataset = load_dataset("folder", small_folder)
    ex = MeanColour()
    message = (rf"{re.escape(str(tmp_path / 'cache'))}: only 10,000,000 bytes \(10.0 MB\) free, "
               rf"but at least {MIN_FREE_BYTES:,} bytes \(100 MB\) are needed")
    with pytest.raises(OSError, match=message) as raised:
        extract_features(dataset, ex, FeatureCache(tmp_path / "cache"), progress=False)
    assert raised.value.errno == errno.ENOSPC
    with pytest.raises(OSError, match="only 10,000,000 bytes"):
        run_pipeline(dataset, ex, tmp_path / "out", progress=False)
    assert ex.calls == []
    assert ensure_writable(tmp_path / "x", min_free=5_000_000) == tmp_path / "x"
    monkeypatch.setenv("MULDE_MIN_FREE_MB", "0")  # the override: no space check
    assert extract_features(dataset, ex, FeatureCache(tmp_path / "cache"),
                            progress=False).n_extracted == 3


def test_a_read_only_folder_is_said_of_the_target_not_of_the_temp_file(tmp_path, monkeypatch):
    """A newcomer's trial: a read-only cache folder gave "[Errno 30] Read-only file system:
    '.../.a.npz.123.abcd.tmp'": the temp file's removal (unlink fails with EROFS on a
    read-only file system, made or not) hid the write's own error naming the target."""
    real = Path.unlink

    def read_only(self, missing_ok=False):
        if self.name.endswith(".tmp"):
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return real(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", read_only)
    target = tmp_path / "a.npz"
    for write in (lambda: write_bytes(target, b"x"), lambda: write_files({target: b"x"})):
        with pytest.raises(OSError, match=f"cannot write {re.escape(str(target))} \\(Read-only "
                                          "file system\\); nothing was written"):
            with monkeypatch.context() as m:  # the temp file cannot be made either
                m.setattr(Path, "write_bytes", lambda self, data: (_ for _ in ()).throw(
                    OSError(errno.EROFS, "Read-only file system", str(self))))
                write()
    assert not target.exists()
    deeper = tmp_path / "new" / "m.safetensors"  # a folder to make in a read-only one
    monkeypatch.setattr(Path, "mkdir", lambda self, *a, **k: (_ for _ in ()).throw(
        OSError(errno.EROFS, "Read-only file system", str(self))))
    with pytest.raises(OSError, match=f"cannot write {re.escape(str(deeper))} \\(Read-only "
                                      "file system\\); nothing was written"):
        write_bytes(deeper, b"x")


def test_a_read_only_cache_says_what_a_run_writes_there(small_folder, tmp_path, monkeypatch):
    """A newcomer's trial: a lab's read-only feature store gave "output folder is not
    writable" and no way out. The cache is named as such, with what a run writes there and
    what to do; other output folders keep their wording."""
    real = Path.write_bytes

    def read_only(self, data):
        if self.name.startswith(".mulde-write-test"):
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", read_only)
    dataset = load_dataset("folder", small_folder)
    cache = tmp_path / "store"
    with pytest.raises(OSError, match=f"^{re.escape(str(cache))}: the feature cache is not "
                       r"writable \(Read-only file system\); a run writes each video's "
                       r"features and its model fits \(fits/\) there, .*give a writable "
                       r"--cache \(a copy of this one") as raised:
        extract_features(dataset, MeanColour(), FeatureCache(cache), progress=False)
    assert raised.value.errno == errno.EROFS
    with pytest.raises(OSError, match=r"out: output folder is not writable \(Read-only file "
                                      r"system\); give a writable folder$"):
        ensure_writable(tmp_path / "out")


def test_an_output_folder_that_cannot_be_made_names_the_folder_above(tmp_path, monkeypatch):
    """A newcomer's --out ro/sub/m.safetensors under an immutable ro/ was said as "ro/sub:
    output folder is not writable", a folder that does not exist: the folder that refused
    it is named (ro/), with the one that could not be made, and nothing is left made."""
    real = Path.mkdir
    locked = tmp_path / "ro"
    locked.mkdir()

    def immutable(self, *args, **kwargs):
        if self.parent == locked:
            raise PermissionError(errno.EPERM, "Operation not permitted", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", immutable)
    for wanted in (locked / "sub", locked / "sub" / "deeper"):
        with pytest.raises(OSError) as raised:
            ensure_writable(wanted)
        assert str(raised.value) == (f"{locked}: output folder {wanted} cannot be made in it "
                                     "(Operation not permitted); give a writable folder")
        assert raised.value.errno == errno.EPERM
        assert list(locked.iterdir()) == []


def test_a_relative_output_folder_that_cannot_be_made_names_the_current_folder(
        tmp_path, monkeypatch):
    """--out sub/x in a read-only working folder was said as ".: output folder sub/x cannot
    be made in it": the folder is named by its path."""
    real = Path.mkdir

    def refused(self, *args, **kwargs):
        if self.parent == Path("."):
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(Path, "mkdir", refused)
    for wanted in ("sub/x", "x"):
        with pytest.raises(OSError) as raised:
            ensure_writable(wanted)
        assert str(raised.value) == (f"{tmp_path}: output folder {wanted} cannot be made in "
                                     "it (Permission denied); give a writable folder")


def test_a_symlink_to_nothing_as_the_output_folder_is_named(tmp_path):
    """An --out (or a folder above it) that is a symlink to a folder that is gone (an
    unmounted disk) was said as "TMP: output folder TMP/gone/y cannot be made in it (File
    exists)", blaming the writable folder above it: the symlink is named, with its target."""
    (tmp_path / "gone").symlink_to(tmp_path / "unmounted")
    for wanted in (tmp_path / "gone", tmp_path / "gone" / "y"):
        with pytest.raises(OSError) as raised:
            ensure_writable(wanted)
        assert str(raised.value) == (f"{tmp_path / 'gone'}: a symlink to "
                                     f"{tmp_path / 'unmounted'}, which does not exist; give "
                                     "a folder for the outputs")
        assert raised.value.errno == errno.ENOENT
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gone"]


def test_an_output_folder_under_one_that_cannot_be_looked_into_names_it(tmp_path,
                                                                        monkeypatch):
    """--out /root/z/y as another user (no search permission in /root) ended in a bare
    "[Errno 13] Permission denied: '/root/z/y'" from looking for the folder: the folder that
    refused is named, as for one that cannot be made."""
    locked = tmp_path / "locked"
    locked.mkdir()
    real_stat, real_lstat, real_mkdir = os.stat, os.lstat, os.mkdir

    def inside(path) -> bool:
        return locked in Path(path).parents

    def denied(real):
        def call(path, *args, **kwargs):
            if inside(path):
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            return real(path, *args, **kwargs)
        return call

    monkeypatch.setattr(os, "stat", denied(real_stat))
    monkeypatch.setattr(os, "lstat", denied(real_lstat))
    monkeypatch.setattr(os, "mkdir", denied(real_mkdir))
    wanted = locked / "z" / "y"
    with pytest.raises(OSError) as raised:
        ensure_writable(wanted)
    assert str(raised.value) == (f"{locked}: output folder {wanted} cannot be made in it "
                                 "(Permission denied); give a writable folder")
    assert raised.value.errno == errno.EACCES


def test_a_cache_folder_that_fails_mid_extraction_says_what_to_do(small_folder, tmp_path,
                                                                   monkeypatch):
    """A newcomer's trial: one folder of the cache made read-only failed the extraction
    with the write's error alone; it now says the cache must be writable and that the
    entries written so far are kept (a full disk: free space or another cache)."""
    dataset = load_dataset("folder", small_folder)
    cache = FeatureCache(tmp_path / "cache")
    for code, said in ((errno.EROFS, "the feature cache .* must be writable: give a writable "
                                     "--cache"),
                       (errno.ENOSPC, "free some space or give another --cache")):
        def failing(*args, code=code, **kwargs):
            raise OSError(code, f"cannot write X ({os.strerror(code)}); nothing was written")

        monkeypatch.setattr(FeatureCache, "store", failing)
        with pytest.raises(OSError, match=r"^cannot write X \(.*\); nothing was written; "
                           f"{said} \\(the entries written so far are kept\\)$") as raised:
            extract_features(dataset, MeanColour(), cache, progress=False)
        assert raised.value.errno == code
    # another error (a video name too long for the file system) keeps its own words and
    # path: it had been said as "File name too long; the feature cache ... must be writable"
    long = OSError(errno.ENAMETOOLONG, "File name too long", str(tmp_path / "cache" / "x.npz"))
    monkeypatch.setattr(FeatureCache, "store", lambda *args, **kwargs: (_ for _ in ()).throw(
        long))
    with pytest.raises(OSError) as raised:
        extract_features(dataset, MeanColour(), cache, progress=False)
    assert raised.value is long


def test_atomic_folder_swaps_the_whole_folder_in_or_leaves_the_old_one(tmp_path):
    """A filled temp folder replaces the old folder whole; an error or Ctrl-C while filling
    leaves the old folder as it was and no temp folder behind."""
    from mulde.io.atomic import atomic_folder

    target = tmp_path / "out"
    with atomic_folder(target) as tmp:
        (tmp / "a.txt").write_text("first")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    for stop in (ValueError("a writer failed"), KeyboardInterrupt()):
        with pytest.raises(type(stop)), atomic_folder(target) as tmp:
            (tmp / "a.txt").write_text("second")
            (tmp / "b.txt").write_text("second")
            raise stop
        assert [p.name for p in target.iterdir()] == ["a.txt"]
        assert (target / "a.txt").read_text() == "first"
        assert [p.name for p in tmp_path.iterdir()] == ["out"]
    with atomic_folder(target) as tmp:
        (tmp / "b.txt").write_text("second")
    assert [p.name for p in target.iterdir()] == ["b.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_atomic_folder_follows_a_link_and_refuses_the_current_folder(tmp_path, monkeypatch):
    """A symlinked output folder: the folder it points to is replaced and the link kept (it
    was replaced by a real folder, the target left stale). The current folder, and one above
    it, cannot be renamed away: an OSError naming it, before anything is written."""
    import errno as errnos

    from mulde.io.atomic import atomic_folder

    real = tmp_path / "real"
    real.mkdir()
    (real / "old.txt").write_text("old")
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    with atomic_folder(tmp_path / "link") as tmp:
        (tmp / "new.txt").write_text("new")
    assert (tmp_path / "link").is_symlink() and (tmp_path / "link").resolve() == real
    assert [p.name for p in real.iterdir()] == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real"]
    monkeypatch.chdir(real)
    for here in (".", str(real), str(tmp_path)):
        with pytest.raises(OSError, match=r"a mount point or the current folder") as err:
            with atomic_folder(here):
                raise AssertionError("nothing is written")
        assert err.value.errno == errnos.EBUSY
    assert [p.name for p in real.iterdir()] == ["new.txt"]


def test_a_refused_folder_check_removes_the_folders_it_made(tmp_path):
    """ensure_writable makes the folder to prove it takes a file; refused (here for space),
    the folders it made go with the refusal, each only when empty, the ones before it stay."""
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "mine.txt").write_text("kept")
    with pytest.raises(OSError, match=r"MB\) free, but at least"):
        ensure_writable(tmp_path / "a" / "b" / "c", min_free=10 ** 30)
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["mine.txt"]
