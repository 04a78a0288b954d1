"""`mulde.event_command`: a user's command run for each live event, in the background."""

from __future__ import annotations

import json
import re
import shlex
import sys
import time
from pathlib import Path

import pytest

from mulde.event_command import EventCommand

RECORD = {"start": 12, "end": 12, "peak": 12, "score": 1.5, "ongoing": True,
          "snapshot": "event_0001.png", "clip": "event_0001.mp4"}


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


class _Clock:
    """`mulde.event_command`'s clock (monkeypatched over its `time`): `monotonic` moves only
    by the seconds its `sleep` was asked for (which it also sleeps, so that the calls run),
    so a loaded machine's stall between two of them (CI, two workers on two cores) changes
    no wait the tests check."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch) -> _Clock:
    import mulde.event_command

    fake = _Clock()
    monkeypatch.setattr(mulde.event_command, "time", fake)
    return fake


def test_a_call_gets_the_event_on_stdin_and_in_its_environment(tmp_path):
    said: list[str] = []
    got = tmp_path / "got.json"
    (tmp_path / "events").mkdir()
    (tmp_path / "events" / "event_0001.png").write_bytes(b"png")
    code = ("import json, os, sys; body = json.load(sys.stdin); env = {k: v for k, v in "
            "os.environ.items() if k.startswith(('MULDE_EVENT', 'MULDE_WATCH'))}; "
            f"open({str(got)!r}, 'w').write(json.dumps([body, env]))")
    command = EventCommand(_python(code), warn=said.append)
    command.fire("start", 1, RECORD, tmp_path)
    command.close()
    body, env = json.loads(got.read_text())
    assert body == {"kind": "start", "number": 1, **RECORD,
                    "snapshot_path": str(tmp_path.absolute() / "events" / "event_0001.png"),
                    "clip_path": str(tmp_path.absolute() / "events" / "event_0001.mp4")}
    assert env == {"MULDE_EVENT": "start", "MULDE_EVENT_NUMBER": "1", "MULDE_EVENT_SCORE": "1.5",
                   "MULDE_EVENT_SNAPSHOT": body["snapshot_path"],
                   "MULDE_WATCH_OUT": str(tmp_path.absolute())}
    assert said == [] and (command.fired, command.failed) == (1, 0)


def test_a_snapshot_not_written_yet_is_an_empty_variable_and_a_missing_one_null(tmp_path):
    body = EventCommand.payload("end", 2, {**RECORD, "snapshot": None}, tmp_path)
    assert body["snapshot_path"] is None and body["number"] == 2 and body["kind"] == "end"
    got = tmp_path / "env.txt"
    code = f"import os; open({str(got)!r}, 'w').write(os.environ['MULDE_EVENT_SNAPSHOT'])"
    command = EventCommand(_python(code), warn=print)
    command.fire("start", 1, RECORD, tmp_path)  # named in the record, not on disk yet
    command.close()
    assert got.read_text() == ""


def test_a_failed_call_is_said_with_its_status_and_last_error_line(tmp_path):
    said: list[str] = []
    command = EventCommand(_python("import sys; sys.stderr.write('one\\ncurl: (6) no host\\n'); "
                                   "sys.exit(6)"), warn=said.append)
    command.fire("end", 3, RECORD, tmp_path)
    command.close()
    assert said == ["--on-event: the command for event 3's end exited with status 6: "
                    "curl: (6) no host"]
    assert (command.fired, command.failed) == (1, 1)


def test_calls_beyond_the_running_limit_are_skipped_and_one_past_its_time_ended(tmp_path):
    said: list[str] = []
    command = EventCommand(_python("import time; time.sleep(30)"), warn=said.append,
                           max_running=1, timeout_s=0.5)
    command.fire("start", 1, RECORD, tmp_path)
    command.fire("end", 1, RECORD, tmp_path)
    assert said == ["--on-event: 1 calls still running, so event 1's end was not sent; make "
                    "the command return sooner (e.g. send in the background)"]
    command.close()  # waits 0.5 s at most, then ends it
    assert said[1:] == ["--on-event: the command for event 1's start was still running "
                        "after 0.5 s and was ended"]
    assert command.running == 0
    assert command.summary() == {"program": sys.executable, "calls": 1, "failed": 1,
                                 "skipped": 1}


def test_a_command_that_reads_no_input_is_no_error(tmp_path):
    said: list[str] = []
    command = EventCommand(_python("pass"), warn=said.append)
    for number in range(1, 4):
        command.fire("start", number, RECORD, tmp_path)
    command.close()
    assert said == [] and command.fired == 3


@pytest.mark.parametrize(("line", "message"), [
    ("", "--on-event: an empty command; give the program to run, e.g. --on-event "
         "'notify-send mulde'"),
    ("no-such-program-xyz --flag", "--on-event: 'no-such-program-xyz' is not a program on "
                                   "PATH nor an executable file; give its full path"),
    ("curl 'https://x?token=abc", "--on-event: no closing quotation in the command line; "
                                  "quote it as a shell would"),
    ("curl -s | tee x", "--on-event: '|' would be given to curl as an argument (the line is "
                        "not run by a shell); for a pipe or a redirection give --on-event "
                        "\"sh -c '...'\" (and quote a URL's & or ;)"),
])
def test_a_command_that_cannot_run_is_refused_before_the_watch(line, message):
    with pytest.raises(ValueError) as err:
        EventCommand(line, warn=print)
    assert str(err.value) == message


def test_a_command_line_is_split_as_a_shell_would_and_found_on_path(tmp_path, monkeypatch):
    command = EventCommand(f"{shlex.quote(sys.executable)} -c 'print(1)'", warn=print)
    assert command.argv == [sys.executable, "-c", "print(1)"]
    tool = tmp_path / "bin" / "alert-tool"
    tool.parent.mkdir()
    tool.write_text("#!/bin/sh\nexit 0\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", str(tool.parent))
    assert EventCommand("alert-tool --to ops", warn=print).argv == [str(tool), "--to", "ops"]
    with pytest.raises(ValueError, match="kind 'peak' is not one of"):
        command.fire("peak", 1, RECORD, tmp_path)


def test_a_call_past_its_time_is_ended_with_the_processes_it_started(tmp_path, clock):
    """A hung `sh -c 'curl ...'` left its curl running after the shell was killed (a
    newcomer found four orphaned sleeps): the call's whole process group is ended, and the
    wait at the end is said once it passes a second (on `clock`: with the real one, a stall
    of half a second past that second said "up to 0 s", or nothing)."""
    said: list[str] = []
    pid_file = tmp_path / "child.pid"
    command = EventCommand(["/bin/sh", "-c", f"sleep 30 & echo $! > {pid_file}; wait"],
                           warn=said.append, timeout_s=2.0)
    command.fire("end", 4, RECORD, tmp_path)
    command.close()
    stat = Path(f"/proc/{int(pid_file.read_text())}/stat")
    until = time.monotonic() + 10  # the kernel signals at once; allow a loaded machine 10 s
    while time.monotonic() < until:  # gone, or dead and waiting for init to collect it
        if not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z":  # zombie
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the call's child is still running")
    assert said == ["--on-event: waiting up to 1 s for 1 call still running (Ctrl-C ends "
                    "them)", "--on-event: the command for event 4's end was still running "
                    "after 2 s and was ended"]


def test_a_failed_call_is_said_when_it_ends_not_at_the_next_event(tmp_path):
    said: list[str] = []
    command = EventCommand(_python("import sys; sys.exit(3)"), warn=said.append)
    command.fire("start", 1, RECORD, tmp_path)
    until = time.monotonic() + 60  # a Python's start on a loaded machine: seconds at most
    while time.monotonic() < until:  # the watch checks at every frame
        command.check()
        if said:
            break
        time.sleep(0.05)
    assert said == ["--on-event: the command for event 1's start exited with status 3"]


def test_the_wait_at_the_end_says_its_time_left_rounded_up(tmp_path, clock, monkeypatch):
    """The wait's line comes at the first look past its second's grace: one half a second
    late (a loaded machine) said "waiting up to 0 s" with 0.4 s left."""
    said: list[str] = []
    command = EventCommand(_python("import time; time.sleep(30)"), warn=said.append,
                           timeout_s=2.0)
    command.fire("end", 5, RECORD, tmp_path)
    late, start = clock.sleep, clock.now

    def stalled(seconds):  # the wait's look before 1 s wakes at about 1.5 s
        late(seconds + (0.6 if 0.9 <= clock.now - start < 0.95 else 0.0))

    monkeypatch.setattr(clock, "sleep", stalled)
    command.close()
    assert said == ["--on-event: waiting up to 1 s for 1 call still running (Ctrl-C ends "
                    "them)", "--on-event: the command for event 5's end was still running "
                    "after 2 s and was ended"]


@pytest.mark.parametrize(("line", "operator"), [
    ("echo a; echo b", ";"), ("echo a&&echo b", "&&"), ("log.sh 2>/dev/null", ">"),
    ("cat >/tmp/y.log", ">"), ("curl -sS --fail --data-binary @- http://h/a|tee y", "|"),
    ("curl http://h/?a=1&b=2", "&")])
def test_shell_operators_stuck_to_words_are_refused_too(line, operator):
    """A newcomer's `echo a; echo b` and `curl ...|tee y` were taken, the operator given to
    the program as (part of) an argument, and every alert lost; quoted, they are data."""
    with pytest.raises(ValueError, match=f"--on-event: {re.escape(repr(operator))} would be "
                                         "given to "):
        EventCommand(line, warn=print)
    assert EventCommand(f"{shlex.quote(sys.executable)} -c 'a|b' \"http://h/?a=1&b=2\"",
                        warn=print).argv[1:] == ["-c", "a|b", "http://h/?a=1&b=2"]


def test_a_script_without_its_execute_bit_is_told_so(tmp_path):
    script = tmp_path / "alert.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    with pytest.raises(ValueError) as err:
        EventCommand(str(script), warn=print)
    assert str(err.value) == (f"--on-event: {script} is not executable: chmod +x it, or give "
                              f"its interpreter first (e.g. --on-event 'sh {script}')")


def test_the_wait_at_the_end_keeps_each_calls_own_limit_and_a_stop_ends_them(
        tmp_path, monkeypatch, clock):
    """A call started 25 s before the watch ended ran 39 s: the wait at the end ended every
    call at its own deadline, not each call's; a Ctrl-C during that wait is said as such,
    not as a call past its time. On `clock`: with the real one, a stall of 0.7 s in the
    wait (CI) made it look longer than its own limit."""
    said: list[str] = []
    command = EventCommand(_python("import time; time.sleep(30)"), warn=said.append,
                           timeout_s=1.5)
    command.fire("start", 1, RECORD, tmp_path)
    clock.sleep(1.0)
    started = clock.monotonic()
    command.close()
    assert clock.monotonic() - started < 1.2  # its own 1.5 s, not 1.5 s more
    assert said == ["--on-event: the command for event 1's start was still running after "
                    "1.5 s and was ended"]
    said.clear()
    command = EventCommand(_python("import time; time.sleep(30)"), warn=said.append)
    command.fire("end", 2, RECORD, tmp_path)

    def stopped(seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr(clock, "sleep", stopped)
    command.close()
    assert said == ["--on-event: the command for event 2's end was ended by the stop (Ctrl-C "
                    "or SIGTERM)"]
    assert command.running == 0 and command.failed == 1
