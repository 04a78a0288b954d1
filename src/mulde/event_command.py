"""`mulde watch --on-event CMD`: run a command of the user's when a live event starts and
when it ends, so that an alert reaches a person (a message, an e-mail, a webhook, a siren)
without a program polling events.json.

The command line is split as a POSIX shell would split it (`shlex`), not run by a shell: a
pipeline or a redirection needs `sh -c '...'`. Each call gets the event as one JSON object on
its standard input (`EventCommand.payload`: the event's record in events.json, its number,
`"kind"` "start" or "end", and the snapshot's and clip's paths) and the same essentials in
environment variables: `MULDE_EVENT` ("start" or "end"), `MULDE_EVENT_NUMBER` (1-based, as
`event_0001`), `MULDE_EVENT_SCORE` (the smoothed score, the peak's at the end),
`MULDE_EVENT_SNAPSHOT` (the PNG's absolute path, "" until written) and `MULDE_WATCH_OUT` (the
watch's output folder). A webhook is then e.g. `--on-event 'curl -s -X POST -H
"Content-Type: application/json" --data-binary @- https://hooks.example/alert'`.

The watch never waits for a command while frames flow: each one runs in its own process
group (a terminal's Ctrl-C stops the watch, not the message being sent), its standard output
is dropped and its standard error kept for a warning should it fail. At most `max_running`
run at once (an event flapping at the threshold starts many): a call beyond them is skipped
with a warning, as is a command still running after `timeout_s` (ended). When the watch
ends, the commands still running get up to `timeout_s` in all to finish (the last event's
"end" is sent then), and are ended after.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

KINDS = ("start", "end")
"""When a command runs: an event's first frame above the threshold, and its end."""


@dataclass
class _Call:
    process: subprocess.Popen
    errors: IO[bytes]
    what: str
    started: float


class EventCommand:
    """Run `command` (a command line, split by `shlex`, or an argument list) for each start
    and end of a live event (`fire`), in the background.

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
            raise ValueError(f"--on-event {command!r}: {str(err).lower()}; quote the command "
                             "line as a shell would") from None
        if not argv:
            raise ValueError("--on-event: an empty command; give the program to run, e.g. "
                             "--on-event 'notify-send mulde'")
        program = shutil.which(argv[0])
        if program is None:
            raise ValueError(f"--on-event: {argv[0]!r} is not a program on PATH nor an "
                             "executable file; give its full path")
        if max_running < 1 or not timeout_s > 0:
            raise ValueError("max_running must be >= 1 and timeout_s > 0")
        self.argv = [program, *argv[1:]]
        self.max_running, self.timeout_s, self.warn = max_running, float(timeout_s), warn
        self._calls: list[_Call] = []
        self.fired = 0
        self.failed = 0

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
        """Start the command for event `number`'s `kind` ("start" or "end") with `record`,
        the event's entry in events.json; never waits for it."""
        if kind not in KINDS:
            raise ValueError(f"kind {kind!r} is not one of {KINDS}")
        self._reap()
        what = f"event {number}'s {kind}"
        if len(self._calls) >= self.max_running:
            self.failed += 1
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
            self.failed += 1
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

    def _reap(self) -> None:
        """Say which finished calls failed; end those past `timeout_s`."""
        now = time.monotonic()
        for call in list(self._calls):
            code = call.process.poll()
            if code is None and now - call.started > self.timeout_s:
                call.process.kill()
                code = call.process.wait()
                self._said(call, f"ended after {self.timeout_s:g} s")
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
        self._reap()
        return len(self._calls)

    def close(self) -> None:
        """Wait up to `timeout_s` in all for the calls still running, end the rest, and say
        which failed."""
        deadline = time.monotonic() + self.timeout_s
        for call in self._calls:
            try:
                call.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                call.started = -float("inf")  # past any timeout: ended by _reap
        self._reap()
