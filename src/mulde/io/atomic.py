"""Atomic file writes: a temp file in the target's folder, then os.replace.

A reader never sees a half-written file, a failed write leaves no temp file behind, and the
temp names are unique per process and call, so concurrent writers (e.g. extraction shards)
never clash. A write that fails for lack of space or permission raises an `OSError` naming
the target, and one whose folder cannot be made since a file is in its place names that file
(`check_folder`). `ensure_writable` checks an output folder (writable, enough free space) before
expensive work starts; `sweep_stale_temp` removes the temp files of writers killed long ago.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

MIN_FREE_BYTES = 100 * 10**6
"""Default free space an output folder must have (a rough minimum for caches, models and
reports); the environment variable MULDE_MIN_FREE_MB overrides it (0 disables the check)."""

_TEMP_NAME = re.compile(r"^\.(.+)\.\d+\.[0-9a-f]{8}\.tmp$")  # what atomic_path creates

_WRITE_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO}
)


def _temp_beside(path: Path) -> Path:
    """A temp name beside `path`, unique per process and call, of the form `_TEMP_NAME`
    matches (so `sweep_stale_temp` finds a killed writer's file)."""
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def worded_error(code: int | None, text: str) -> OSError:
    """An OSError of errno `code` whose message is `text` alone: OSError(code, text) would
    print "[Errno N] text" before the one line a user reads."""
    error = OSError(text)
    error.errno = code
    return error


def file_target(path: str | os.PathLike) -> Path:
    """The file an atomic write of `path` replaces: `path`, or for a symlink the file it
    points to (written through, as `open()` writes, the link kept; a rename over the link
    had replaced it with a file). A folder there, or a device, pipe or socket (a rename over
    /dev/null had replaced it for the whole machine), raises `OSError` naming `path` (errno
    EISDIR or EEXIST) before anything is written. A folder above that may not be searched
    raises as a write there does (`_write_errors`: "cannot write PATH (Permission denied)")."""
    given = Path(path)
    with _write_errors(given):  # lstat of a file in another user's 0700 folder: EACCES
        target = Path(os.path.realpath(given)) if given.is_symlink() else given
        folder, special = target.is_dir(), target.exists() and not target.is_file()
    if folder:
        raise worded_error(errno.EISDIR, f"{given}: a folder where a file is to be written; "
                                         "move it away or give another output folder")
    if special:
        raise worded_error(errno.EEXIST, f"{given}: a device, pipe or socket, not a file, "
                                         "which writing would replace; give the path of a "
                                         "file")
    return target


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside `path`; on success it replaces `path`, on error it is removed.

    A full disk, a read-only file system or a permission error while writing raises an
    `OSError` of the same errno naming `path`; `path` itself is left as it was. The file gets
    the mode a plain `open()` gives (0666 less the process umask, e.g. 0644), whatever mode
    the writer created the temp file with. A symlink is written through, and a folder,
    device, pipe or socket at `path` refused (`file_target`).
    """
    path = file_target(path)
    with _write_errors(path):  # a new folder in a read-only one: said of the file too
        check_folder(path.parent).mkdir(parents=True, exist_ok=True)
    tmp = _temp_beside(path)
    try:
        with _write_errors(path):
            yield tmp
            if tmp.exists():  # writers such as safetensors create 0600 files: as open() does
                os.chmod(tmp, 0o666 & ~_umask())
            os.replace(tmp, path)
    finally:
        _drop(tmp)


def _drop(tmp: Path) -> None:
    """Remove a temp file, if there; an error doing so is dropped, so that it never hides
    the write's own: on a read-only file system unlink fails (EROFS) even for a temp file
    that was never made, and had replaced "cannot write PATH" with that temp file's name.
    One left behind is `sweep_stale_temp`'s."""
    try:
        tmp.unlink(missing_ok=True)
    except OSError:
        pass


@contextmanager
def _write_errors(path: Path) -> Iterator[None]:
    """Raise a full disk, a read-only file system or a permission error met while writing
    `path` (`_WRITE_ERRNOS`, also wrapped in a writer's own exception class) as an OSError of
    that errno naming `path` and saying nothing was written; other errors as they are."""
    try:
        yield
    except OSError as err:
        # ENOENT on a temp file of ours: a folder that takes no new file (/proc), since the
        # folder itself was made before (a missing file the writer reads is its own error)
        ours = (err.errno == errno.ENOENT and isinstance(err.filename, (str, bytes))
                and _TEMP_NAME.match(Path(os.fsdecode(err.filename)).name) is not None)
        if err.errno not in _WRITE_ERRNOS and not ours:
            raise
        raise OSError(err.errno, f"cannot write {path} ({err.strerror or err}); "
                                 "nothing was written") from err
    except Exception as err:  # a writer that wraps the system's error in its own class
        code = _wrapped_errno(err)
        # ENOENT too: from a writer, a folder that takes no new file (safetensors in /proc
        # named its own temp file), since the folder itself was made before
        if code not in _WRITE_ERRNOS | {errno.ENOENT}:
            raise
        raise OSError(code, f"cannot write {path} ({os.strerror(code)}); "
                            "nothing was written") from err


@contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a new empty temp folder beside `path` to fill; on success it takes `path`'s
    place (a folder already there is moved aside, then removed), so a reader sees the old
    folder or the new one whole, never a mix; on any error or interrupt (Ctrl-C) the temp
    folder is removed and `path` is left as it was. The caller decides whether what is at
    `path` may be replaced. A symlink is followed (the folder it points to is replaced, the
    link kept); a mount point or the current folder (or one above it), which cannot be
    renamed, raise OSError (EBUSY) naming `path` before anything is written. A SIGKILL
    between the two renames leaves the old folder beside as `.NAME.XXXXXXXX.old`."""
    given = path
    path = Path(os.path.realpath(path))  # a link's target; "." and relative paths named
    here = Path.cwd().resolve()
    if path.exists() and (os.path.ismount(path) or path == here or path in here.parents):
        raise OSError(errno.EBUSY, f"{given}: a mount point or the current folder, which "
                                   "cannot be replaced whole; give a folder inside it")
    check_folder(path.parent).mkdir(parents=True, exist_ok=True)
    tmp = _temp_beside(path)
    tmp.mkdir()
    try:
        yield tmp
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.old")
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _wrapped_errno(err: Exception) -> int | None:
    """The errno a writer's own exception carries in its text as Rust's std::io reports it,
    "(os error 28)" (safetensors' `SafetensorError` on a full disk or a read-only folder);
    None when it carries none."""
    found = re.search(r"\(os error (\d+)\)", str(err))
    return int(found.group(1)) if found else None


def _umask() -> int:
    """The process umask (read from /proc on Linux; elsewhere set and restored at once)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write data to path atomically; return the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_files(files: Mapping[str | os.PathLike, bytes]) -> list[Path]:
    """Write several files as one: each to a temp file beside it, and only when all are
    written, each renamed over its path, in the order given (a path that is a folder is
    refused first, OSError EISDIR, as a device, pipe or socket is; a symlink is written
    through: `file_target`). An error or an interrupt (Ctrl-C) while writing replaces
    none of them (the temp files are removed), so a reader never finds some new and some
    old, but for the instants between the renames. Returns the paths. Errors as
    `atomic_path`'s, naming the file."""
    # a folder, device, pipe or socket in the way: said before anything is written
    targets = [file_target(p) for p in files]
    staged = [(path, _temp_beside(path), data)
              for path, data in zip(targets, files.values(), strict=True)]
    try:
        for path, tmp, data in staged:
            with _write_errors(path):
                check_folder(path.parent).mkdir(parents=True, exist_ok=True)
                tmp.write_bytes(data)
                os.chmod(tmp, 0o666 & ~_umask())
        for path, tmp, _ in staged:
            with _write_errors(path):
                os.replace(tmp, path)
    finally:
        for _, tmp, _ in staged:
            _drop(tmp)
    return [Path(p) for p in files]


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 text to path atomically; return the path."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write obj as indented JSON to path atomically; return the path."""
    return write_text(path, json.dumps(obj, indent=2, default=str))


def min_free_bytes() -> int:
    """Return the free space `ensure_writable` requires: MULDE_MIN_FREE_MB (in MB) when set,
    else `MIN_FREE_BYTES`."""
    value = os.environ.get("MULDE_MIN_FREE_MB")
    if value is None or not value.strip():
        return MIN_FREE_BYTES
    try:
        return max(0, int(float(value) * 10**6))
    except ValueError:
        raise ValueError(f"MULDE_MIN_FREE_MB must be a number of MB, got {value!r}") from None


def check_folder(folder: str | os.PathLike, what: str = "the outputs") -> Path:
    """`folder` as a Path, where it is a folder or can be made one; where it, or the nearest
    folder above it that exists, is a file, `OSError` (errno ENOTDIR) naming that file in one
    line: "notes.txt: a file, not a folder; give a folder for the outputs" (`what` the folder
    is for); where that is a symlink to nothing, `OSError` (errno ENOENT): "out: a symlink to
    /mnt/usb/out, which does not exist; give a folder for the outputs". Makes nothing.
    mkdir's own error there, "[Errno 17] File exists: 'notes.txt'", reads as a refusal to
    overwrite notes.txt (and through a dangling symlink, `ensure_writable` blamed the
    writable folder above it). A folder that cannot be looked into (EACCES) counts as
    not there: the refusal comes from making it, naming the folder above. Every writer here
    checks the folder it writes into (`atomic_path`, `write_files`, `atomic_folder`,
    `ensure_writable`)."""
    folder = Path(folder)
    place = _nearest(folder)
    try:
        is_folder = place is None or place.is_dir()
    except OSError:  # cannot be looked into (EACCES): making the folder says why
        return folder
    if place is not None and place.is_symlink() and not os.path.exists(place):
        raise worded_error(errno.ENOENT, f"{place}: a symlink to {os.readlink(place)}, which "
                                         f"does not exist; give a folder for {what}")
    if not is_folder:
        raise worded_error(errno.ENOTDIR,
                           f"{place}: a file, not a folder; give a folder for {what}")
    return folder


def _nearest(folder: Path) -> Path | None:
    """`folder` or the nearest folder above it that is there (a symlink too, even to
    nothing); None where none is. One that cannot be looked into (EACCES) is not there."""
    return next((p for p in (folder, *folder.parents) if os.path.lexists(p)), None)


def ensure_writable(folder: str | os.PathLike, min_free: int | None = None,
                    what: str = "output folder", why: str = "give a writable folder",
                    purpose: str = "the outputs") -> Path:
    """Create folder if needed, prove it takes a file and has `min_free` bytes free (default
    `min_free_bytes()`; 0 skips the space check); return it.

    Raises `OSError` naming the folder (errno ENOSPC when space is short, with the free bytes
    and the requirement; ENOTDIR naming the file where it or a folder above it is one, and
    ENOENT naming a symlink to nothing there: `check_folder`, which says `purpose`, what the
    folder is for; one that takes no file:
    "FOLDER: `what` is not writable (Read-only file system); `why`", the errno kept; one that
    cannot be made, the existing folder above it: "ABOVE: `what` FOLDER cannot be made in it
    (Permission denied); `why`"), so that
    callers can refuse before any expensive work starts. Folders it made for the check
    are removed again with a refusal.
    """
    folder = check_folder(folder, purpose)
    top = first_missing(folder)
    try:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:  # named where it failed: the folder above, not one never made
            place = _nearest(folder) or folder
            if place.name in ("", ".."):  # ".", "..": the folder they are, by its name
                place = Path(os.path.abspath(place))
            raise worded_error(err.errno, f"{place}: {what} {folder} cannot be made in it "
                                          f"({err.strerror or err}); {why}") from err
        try:
            probe = folder / f".mulde-write-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as err:
            raise worded_error(err.errno, f"{folder}: {what} is not writable "
                                          f"({err.strerror or err}); {why}") from err
        need = min_free_bytes() if min_free is None else int(min_free)
        if need > 0:
            try:
                free = shutil.disk_usage(folder).free
            except OSError:  # no statvfs here (some network file systems): cannot check
                return folder
            if free < need:
                raise worded_error(
                    errno.ENOSPC,
                    f"{folder}: only {free:,} bytes ({free / 1e6:.1f} MB) free, but at least "
                    f"{need:,} bytes ({need / 1e6:.0f} MB) are needed for the outputs; free "
                    "some space or set MULDE_MIN_FREE_MB (0 skips this check)")
    except OSError:  # refused: the folders made for the check go with it, each when empty
        remove_made(folder, top)
        raise
    return folder


def rmdir_if_empty(folder: str | os.PathLike) -> bool:
    """Remove the folder `folder` where it is empty (os.rmdir refuses one that is not, or
    is gone, or cannot be removed); return whether it went."""
    try:
        Path(folder).rmdir()
    except OSError:
        return False
    return True


def remove_empty(folder: str | os.PathLike) -> bool:
    """Remove the folder `folder` and the folders in it, deepest first, where they hold no
    file (a file stays, and so do the folders above it; symlinks are not followed); return
    whether `folder` itself went."""
    folder = Path(folder)
    if not os.path.isdir(folder):  # gone, or cannot be looked into (EACCES): nothing to do
        return False
    for sub in sorted((p for p in folder.rglob("*") if os.path.isdir(p) and not p.is_symlink()),
                      key=lambda p: -len(p.parts)):
        rmdir_if_empty(sub)
    return rmdir_if_empty(folder)


def remove_made(folder: str | os.PathLike, top: str | os.PathLike | None) -> None:
    """Remove what making `folder` made, where it holds no file: `folder` (`remove_empty`)
    and the folders above it up to `top` (`first_missing(folder)` before it was made; None:
    nothing was made), each only when empty (another program may have put files there
    meanwhile)."""
    folder = Path(folder)
    chain = [folder, *folder.parents]
    if top is None or Path(top) not in chain:
        return
    remove_empty(folder)
    for path in chain[1:chain.index(Path(top)) + 1]:
        rmdir_if_empty(path)


def first_missing(folder: str | os.PathLike | None) -> Path | None:
    """The highest of `folder` and the folders above it that does not exist yet (what
    creating `folder` creates first); None when `folder` is None or exists."""
    top = None
    for path in ([] if folder is None else [Path(folder), *Path(folder).parents]):
        if os.path.exists(path):  # one that cannot be looked into (EACCES): not there
            break
        top = path
    return top


def temp_target(name: str) -> str | None:
    """The name of the file an `atomic_path` temp file named `name` was to replace
    (".scores.csv.123.0a1b2c3d.tmp" -> "scores.csv"); None for any other name."""
    m = _TEMP_NAME.match(name)
    return None if m is None else m.group(1)


def sweep_stale_temp(folder: str | os.PathLike, max_age_s: float = 86400.0) -> int:
    """Remove the temp files `atomic_path` left under `folder` (recursively) when a writer
    was killed (SIGKILL, power loss) more than `max_age_s` ago; return how many went.

    Only names of atomic_path's pattern are touched; younger ones may belong to a live writer.
    """
    root = Path(folder)
    if not root.is_dir():
        return 0
    cutoff = time.time() - max_age_s
    removed = 0
    for path in root.rglob(".*.tmp"):
        try:
            if temp_target(path.name) and path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:  # another process swept it first
            continue
    return removed
