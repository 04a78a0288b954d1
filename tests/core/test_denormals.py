"""Subnormals flushed on every thread of PyTorch's team within a block, then restored."""

import sys
import threading
from pathlib import Path

import pytest
import torch

from mulde.core import denormals, training
from mulde.core.denormals import flushed_denormals, flushing_denormals, in_every_thread
from mulde.core.loss import DSMLoss
from mulde.core.network import EnergyMLP
from mulde.core.schedule import NoiseSchedule
from mulde.core.training import TrainConfig, train_energy


@pytest.fixture
def can_flush():
    if not torch.set_flush_denormal(False):
        pytest.skip("this CPU cannot flush subnormals")
    yield
    torch.set_flush_denormal(False)


@pytest.fixture
def two_threads():
    """PyTorch on two threads, its pool made before the test (as any parallel operation
    of the process makes it), unflushed; the thread count and setting restored after."""
    if denormals._openmp_parallel() is None:
        # where torch ships libgomp (its Linux wheels) the runtime must be found: a lookup
        # broken by a new torch must fail here, not skip the tests that matter
        shipped = list((Path(torch.__file__).parent / "lib").glob("libgomp*"))
        assert not (sys.platform.startswith("linux") and shipped), (
            f"torch ships {shipped[0].name} but its GOMP_parallel was not found")
        pytest.skip("PyTorch's OpenMP runtime is not reachable here")
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    in_every_thread(lambda: torch.set_flush_denormal(False))
    yield
    in_every_thread(lambda: torch.set_flush_denormal(False))
    torch.set_num_threads(threads)


def _states() -> list[bool]:
    """Each team thread's flushing setting, in no particular order."""
    seen: list[bool] = []
    lock = threading.Lock()

    def record() -> None:
        state = flushing_denormals()
        with lock:
            seen.append(state)

    in_every_thread(record)
    return seen


def test_flushing_denormals_reads_a_subnormal_product(can_flush):
    assert not flushing_denormals()
    torch.set_flush_denormal(True)
    assert flushing_denormals()


def test_flushed_denormals_sets_and_restores_the_calling_thread(can_flush):
    with flushed_denormals():
        assert flushing_denormals()
    assert not flushing_denormals()
    torch.set_flush_denormal(True)
    with flushed_denormals():
        assert flushing_denormals()
    assert flushing_denormals()  # a caller's own setting stays


def test_in_every_thread_runs_once_in_each_distinct_thread(two_threads):
    idents: list[int] = []
    lock = threading.Lock()

    def record() -> None:
        with lock:
            idents.append(threading.get_ident())

    assert in_every_thread(record)
    assert len(idents) == 2 and len(set(idents)) == 2
    assert threading.get_ident() in idents  # the caller is one of the team


def test_workers_made_before_the_block_flush_within_it_and_are_restored(can_flush,
                                                                        two_threads):
    """The pool exists (the fixture ran a parallel region unflushed): before this module,
    only the calling thread flushed. A worker's own setting (on) comes back as found."""
    assert _states() == [False, False]
    with flushed_denormals():
        assert _states() == [True, True]
        product = torch.full((1 << 22,), 1e-30) * torch.full((1 << 22,), 1e-10)
        assert bool((product == 0).all())  # both threads' halves flushed
    assert _states() == [False, False]
    in_every_thread(lambda: torch.set_flush_denormal(True))
    torch.set_flush_denormal(False)  # the caller off, its worker on
    with flushed_denormals():
        assert _states() == [True, True]
    assert sorted(_states()) == [False, True]


def test_train_energy_trains_with_subnormals_flushed(can_flush, monkeypatch):
    seen = []
    original = training._train_energy

    def spy(*args):
        seen.append(flushing_denormals())
        return original(*args)

    monkeypatch.setattr(training, "_train_energy", spy)
    train_energy(EnergyMLP(2, (8,)), torch.randn(20, 2), NoiseSchedule(), DSMLoss(0.0),
                 TrainConfig(max_steps=1))
    assert seen == [True] and not flushing_denormals()


def test_an_exception_in_any_thread_is_raised_after_every_thread_ran(two_threads):
    """ctypes would print and drop an exception of a callback (a Ctrl-C during the flush)."""
    ran: list[int] = []
    lock = threading.Lock()

    def fail_in_the_caller() -> None:
        with lock:
            ran.append(threading.get_ident())
        if threading.get_ident() == caller:
            raise KeyboardInterrupt

    caller = threading.get_ident()
    with pytest.raises(KeyboardInterrupt):
        in_every_thread(fail_in_the_caller)
    assert len(set(ran)) == 2


def test_threads_added_within_the_block_get_the_callers_setting_from_before_it(can_flush,
                                                                              two_threads):
    """A larger team made inside the block copies the flushing caller; after the block every
    thread of it is back to what the caller had, and so when the block shrinks it again."""
    with flushed_denormals():
        torch.set_num_threads(4)
        assert _states() == [True] * 4
    assert _states() == [False] * 4
    with flushed_denormals():
        torch.set_num_threads(2)
    torch.set_num_threads(4)
    assert _states() == [False] * 4
    torch.set_num_threads(2)


def test_an_interrupted_flush_restores_the_threads_that_flushed(can_flush, two_threads,
                                                                monkeypatch):
    """A Ctrl-C in the caller while its worker has already flushed: the worker is restored."""
    caller = threading.get_ident()
    real = denormals.flushing_denormals

    def interrupted() -> bool:
        if threading.get_ident() == caller:
            raise KeyboardInterrupt
        return real()

    monkeypatch.setattr(denormals, "flushing_denormals", interrupted)
    with pytest.raises(KeyboardInterrupt):
        with flushed_denormals():
            pass
    monkeypatch.undo()
    assert _states() == [False, False]
