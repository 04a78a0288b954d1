"""SIGTERM in mulde's commands: `Terminated`, which the command line and `mulde watch` raise
for it (`mulde.cli.main`, `mulde.watch`)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill PID`, `docker stop`, `systemctl stop`, a batch scheduler's time limit)
    received by a command: raised in the main thread as Ctrl-C's KeyboardInterrupt is, so the
    same clean-up runs (staged outputs removed, fit workers ended, the cache kept; a watch's
    outputs written) and the command says so, exiting with 143 (128 + 15) as a process ended
    by SIGTERM."""
