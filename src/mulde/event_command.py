"""`mulde watch --on-event CMD`: run a command of the user's when a live event starts, when
it ends and when its clip is complete, so that an alert reaches a person (a message, an
e-mail, a webhook, a siren) without a program polling events.json.

The command line is split as a POSIX shell would split it (`shlex`), not run by a shell: a
line with a pipe, a list or a redirection (`SHELL_OPERATORS`, outside quotes) is refused with
the remedy, `sh -c '...'`.
Each call gets the event as one JSON object on its standard input (`EventCommand.payload`:
the event's record in events.json with what fired where (`stream`, `stream_scores`,
`top_stream`, `box`: the start frame's at the start, the peak's from the end), its
`number`, `"kind"` ("start", "end" or "clip"), the snapshot's and clip's absolute paths, and
the watch's `source` and `watch_started_at`, which tell cameras and restarts apart) and the
essentials in environment variables: `MULDE_EVENT` (the kind), `MULDE_EVENT_NUMBER` (1-based,
as `event_0001`), `MULDE_EVENT_SCORE` (the smoothed score, the peak's from the end),
`MULDE_EVENT_SNAPSHOT` (the PNG's absolute path, "" if not written) and `MULDE_WATCH_OUT`
(the watch's output folder). A webhook is e.g. `--on-event 'curl -sS --fail --data-binary
@- https://hooks.example/alert'` (`--fail`: curl's status is 0 for an HTTP error otherwise,
and the failure would go unsaid).

The watch never waits for a call while frames flow: each one runs in a process group of its
own (a terminal's Ctrl-C stops the watch, not the message being sent), its standard output
is dropped and its standard error kept for the warning should it fail, which is said within
a frame of it (`EventCommand.check`). At most `max_running` run at once (an event flapping
at the threshold starts many): a call beyond them is skipped and said, as is a call still
running after `timeout_s`, which is ended with every process it started. When the watch
ends, the calls still running get up to `timeout_s` in all (said), and are ended after.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

KINDS = ("start", "end", "clip")
"""When a command runs: an event's first frame above the threshold, its end, and its clip
complete (renamed into place once the post-roll after the end is written, or cut short)."""

SHELL_OPERATORS = frozenset("|&;<>")
"""The characters of a shell's pipes, lists, background jobs and redirections (`|`, `&&`,
`;`, `&`, `>`, `2>/dev/null`, ...): outside quotes, a shell would act on them, while here
(the line is not run by a shell) they would reach the program as arguments, stuck to a
word or not; a command line with one is refused with the remedy (`sh -c '...'`, or quotes
around a URL's `&`)."""


@dataclass
class _Call:
    process: subprocess.Popen
    errors: IO[bytes]
    what: str
    started: float


class EventCommand:
    """Run `command` (a command line, split by `shlex`, or an argument list) for each start,
    end and complete clip of a live event (`fire`), in the background.

    `max_running`: the most calls running at once; `timeout_s`: the seconds one call may run,
    and what `close` waits for those still running; `warn`: where a failed, skipped or ended
    call is said (one line each).

    Raises ValueError for an empty command line, one `shlex` cannot split (an unclosed
    quote), or a program that is neither a path to an executable file nor found on PATH: the
    message names it, as `mulde watch` reports it before watching."""

    def __init__(self, command: str | list[str], *, warn: Callable[[str], None],
                 max_running: int = 4, timeout_s: float = 30.0) -> None:
        try:
            argv = shlex.split(command, posix=os.name != "nt") if isinstance(
                command, str) else list(command)
        except ValueError as err:  # "No closing quotation"
            # not said back: the line may hold a webhook's token
            raise ValueError(f"--on-event: {str(err).lower()} in the command line; quote it "
                             "as a shell would") from None
        if not argv:
            raise ValueError("--on-event: an empty command; give the program to run, e.g. "
                             "--on-event 'notify-send mulde'")
        shell = _shell_operator(command) if isinstance(command, str) else None
        if shell is not None:
            raise ValueError(f"--on-event: {shell!r} would be given to {argv[0]} as an "
                             "argument (the line is not run by a shell); for a pipe or a "
                             f"redirection give --on-event \"sh -c '...'\" (and quote a URL's "
                             "& or ;)")
        program = shutil.which(argv[0])
        if program is None and os.path.isfile(argv[0]):
            raise ValueError(f"--on-event: {argv[0]} is not executable: chmod +x it, or give "
                             f"its interpreter first (e.g. --on-event 'sh {argv[0]}')")
        if program is None:
            raise ValueError(f"--on-event: {argv[0]!r} is not a program on PATH nor an "
                             "executable file; give its full path")
        if max_running < 1 or not timeout_s > 0:
            raise ValueError("max_running must be >= 1 and timeout_s > 0")
        self.argv = [program, *argv[1:]]
        self.max_running, self.timeout_s, self.warn = max_running, float(timeout_s), warn
        self._calls: list[_Call] = []
        self.fired = 0  # calls started
        self.failed = 0  # of those, ended with a non-zero status or past timeout_s
        self.skipped = 0  # calls not started (max_running running, or the program gone)

    def summary(self) -> dict[str, Any]:
        """The calls for watch.json: `program` (its path; the arguments, which may hold a
        webhook's token or password, are not kept), `calls` started, `failed` of them, and
        `skipped` (never started)."""
        return {"program": self.argv[0], "calls": self.fired, "failed": self.failed,
                "skipped": self.skipped}

    @staticmethod
    def payload(kind: str, number: int, record: Mapping[str, Any], out: Path) -> dict[str, Any]:
        """What a call reads on its standard input: the event's `record` (events.json's),
        `"kind"`, `"number"` (1-based) and `"snapshot_path"` / `"clip_path"`, the absolute
        paths of its files under `out`/events (null where the record names none; the clip is
        complete only once the post-roll after the event's end is written)."""
        events = Path(out).absolute() / "events"
        paths = {f"{k}_path": None if not record.get(k) else str(events / record[k])
                 for k in ("snapshot", "clip")}
        return {"kind": kind, "number": number, **record, **paths}

    def fire(self, kind: str, number: int, record: Mapping[str, Any], out: Path) -> None:
        """Start the command for event `number`'s `kind` (`KINDS`: "start", "end" or "clip")
        with `record`, the event's entry in events.json; never waits for it."""
        if kind not in KINDS:
            raise ValueError(f"kind {kind!r} is not one of {KINDS}")
        self.check()
        what = f"event {number}'s {kind}"
        if len(self._calls) >= self.max_running:
            self.skipped += 1
            self.warn(f"--on-event: {len(self._calls)} calls still running, so {what} was "
                      "not sent; make the command return sooner (e.g. send in the "
                      "background)")
            return
        body = self.payload(kind, number, record, out)
        snapshot = body["snapshot_path"]
        env = {**os.environ, "MULDE_EVENT": kind, "MULDE_EVENT_NUMBER": str(number),
               "MULDE_EVENT_SCORE": f"{float(record.get('score', float('nan'))):.6g}",
               "MULDE_EVENT_SNAPSHOT": snapshot if snapshot and Path(snapshot).is_file()
               else "", "MULDE_WATCH_OUT": str(Path(out).absolute())}
        errors = tempfile.TemporaryFile()
        try:
            process = subprocess.Popen(self.argv, stdin=subprocess.PIPE,
                                       stdout=subprocess.DEVNULL, stderr=errors, env=env,
                                       start_new_session=True)
        except OSError as err:  # removed or made unrunnable since the start
            errors.close()
            self.skipped += 1
            self.warn(f"--on-event: {what} was not sent: cannot run {self.argv[0]} ({err})")
            return
        self.fired += 1
        try:  # an event's JSON is a few kilobytes: within a pipe's buffer, never blocks
            assert process.stdin is not None
            process.stdin.write(json.dumps(body).encode() + b"\n")
            process.stdin.close()
        except (BrokenPipeError, OSError):  # a command that reads no input and has ended
            pass
        self._calls.append(_Call(process, errors, what, time.monotonic()))

    def check(self) -> None:
        """Say which finished calls failed, end those past `timeout_s` (with every process
        they started: their process group), and collect the finished ones. Cheap (a poll of
        at most `max_running` processes): `mulde watch` calls it at every frame, so a failed
        or hung call is said within a frame, not at the next event."""
        now = time.monotonic()
        for call in list(self._calls):
            code = call.process.poll()
            if code is None and now - call.started > self.timeout_s:
                _end_group(call.process)
                code = call.process.wait()
                self._said(call, f"was still running after {self.timeout_s:g} s and was "
                                 "ended")
            elif code is not None and code != 0:
                self._said(call, f"exited with status {code}")
            if code is not None:
                call.errors.close()
                self._calls.remove(call)

    def _said(self, call: _Call, how: str) -> None:
        self.failed += 1
        call.errors.seek(0)
        lines = call.errors.read().decode(errors="replace").strip().splitlines()
        last = f": {lines[-1][:200]}" if lines else ""
        self.warn(f"--on-event: the command for {call.what} {how}{last}")

    @property
    def running(self) -> int:
        """The calls not finished yet."""
        self.check()
        return len(self._calls)

    def close(self) -> None:
        """Wait up to `timeout_s` in all for the calls still running (said first, one line),
        end the rest, and say which failed. A Ctrl-C (or the watch's second SIGTERM) while
        waiting ends them at once and returns, so the watch still writes its outputs."""
        start = time.monotonic()
        said = False
        try:  # each call keeps its own limit (`check`), all of them `timeout_s` at most
            while True:
                self.check()
                now = time.monotonic()
                if not self._calls or now - start >= self.timeout_s:
                    break
                if not said and now - start >= 1.0:  # a second's grace unsaid: most end
                    n, said = len(self._calls), True
                    # rounded up: 0.4 s left (a loaded machine's late wake-up) said "0 s"
                    left = math.ceil(self.timeout_s - (now - start))
                    self.warn(f"--on-event: waiting up to {left} s for {n} call"
                              f"{'s' if n != 1 else ''} still running (Ctrl-C ends them)")
                time.sleep(0.05)
        except KeyboardInterrupt:
            for call in [c for c in self._calls if c.process.poll() is None]:
                _end_group(call.process)
                call.process.wait()
                call.errors.close()
                self._calls.remove(call)
                self.failed += 1
                self.warn(f"--on-event: the command for {call.what} was ended by the stop "
                          "(Ctrl-C or SIGTERM)")
        for call in self._calls:  # past the wait: ended by check
            if call.process.poll() is None:
                call.started = -math.inf
        self.check()


def _end_group(process: subprocess.Popen) -> None:
    """Kill `process` and every process it started (its process group: each call is started
    in a session of its own), so that a hung `sh -c 'curl ...'` leaves no curl behind."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (AttributeError, OSError):  # no process groups (Windows), or already gone
        process.kill()


def _shell_operator(line: str) -> str | None:
    """The first shell operator (`SHELL_OPERATORS`) outside quotes in the command `line`,
    None without one: `shlex` with `punctuation_chars` splits `a|b` and `2>/dev/null` at
    them, and keeps a quoted 'a|b' one word."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        return next((t for t in lexer if t and set(t) <= SHELL_OPERATORS), None)
    except ValueError:  # an unclosed quote: said by shlex.split first
        return None
