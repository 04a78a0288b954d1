"""Subnormal floats flushed to zero on every CPU thread of a block, then restored.

Values below float32's normal range (1.2e-38) arise as score matching trains (GELU's second
derivative, the density of N(0, 1) at pre-activations of 13 to 14.5), and a CPU computes with
them many times slower. The setting lives in each thread's floating-point control register
(x86's MXCSR: flush-to-zero and denormals-are-zero), so a block that runs on PyTorch's thread
pool must set it in each of the pool's threads, not only in the calling one: a thread takes
the setting of the thread that creates it and keeps it, and the OpenMP runtime keeps one pool
for each thread that starts parallel work, made by its first parallel operation and grown or
shrunk when the thread count changes.
"""

from __future__ import annotations

import ctypes
import functools
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

__all__ = ["flushed_denormals", "flushing_denormals", "in_every_thread"]

_TEAM_BODY = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


def flushing_denormals() -> bool:
    """Whether this thread's CPU arithmetic flushes subnormal float32 results to zero
    (`torch.set_flush_denormal`, which has no getter): 1e-30 x 1e-10 is subnormal."""
    tiny = torch.tensor([1e-30], dtype=torch.float32)
    return bool((tiny * torch.tensor([1e-10], dtype=torch.float32)).item() == 0.0)


@functools.cache
def _openmp_parallel() -> Callable[..., None] | None:
    """`GOMP_parallel(fn, data, n_threads, flags)` of the OpenMP runtime PyTorch's CPU kernels
    run on (ATen's OpenMP backend, the runtime shipped in torch/lib: libgomp on Linux, libomp
    on macOS, both of which export this GNU entry point), or None: another backend, a runtime
    not shipped with torch, or a platform where a library cannot be looked up only if already
    loaded (`os.RTLD_NOLOAD`), so that no second OpenMP runtime is ever loaded here."""
    if "parallel backend: OpenMP" not in torch.__config__.parallel_info():
        return None
    no_load = getattr(os, "RTLD_NOLOAD", None)
    if no_load is None:
        return None
    lib = Path(torch.__file__).parent / "lib"
    for path in sorted(lib.glob("lib*omp*")):
        if not (".so" in path.name or path.suffix == ".dylib"):
            continue
        try:  # already loaded by torch: the same handle; else OSError
            runtime = ctypes.CDLL(str(path), mode=no_load | os.RTLD_LAZY)
        except OSError:
            continue
        entry = getattr(runtime, "GOMP_parallel", None)
        if entry is not None:
            entry.argtypes = [_TEAM_BODY, ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint]
            entry.restype = None
            return entry
    return None


def in_every_thread(fn: Callable[[], None], n_threads: int | None = None) -> bool:
    """Call fn() once in each thread of the calling thread's PyTorch CPU team: the caller and
    its n_threads - 1 OpenMP workers (default `torch.get_num_threads()`; one OpenMP parallel
    region of that size, which reuses the pool PyTorch's kernels run on, or creates it).
    Returns whether it could: True with one thread (fn runs here) or where the OpenMP runtime
    is reachable (`_openmp_parallel`); False, having called fn only in the calling thread,
    elsewhere. The first exception fn raises in any thread (KeyboardInterrupt included) is
    raised here once the region has ended; the other threads have run fn by then."""
    n = torch.get_num_threads() if n_threads is None else n_threads
    parallel = _openmp_parallel() if n > 1 else None
    if parallel is None:
        fn()
        return n == 1
    raised: list[BaseException] = []

    def run(_data: int | None) -> None:
        try:
            fn()
        except BaseException as err:  # ctypes would print and drop it
            raised.append(err)

    body = _TEAM_BODY(run)  # referenced until the region has ended
    parallel(body, None, n, 0)
    if raised:
        raise raised[0]
    return True


@contextmanager
def flushed_denormals() -> Iterator[None]:
    """Flush subnormal floats to zero on the CPU within the block, in the calling thread and
    in PyTorch's worker threads (`in_every_thread`), then restore each thread's setting as
    found (`torch.set_flush_denormal`; nothing where the CPU cannot, where it returns False).

    Why: the default's fit of 20,000 rows of 34 Gaussian features (one thread, this
    project's Intel Xeon) took 29 ms a step for its first 600 steps and 55-70 ms from step
    700 on, 54 s in all; flushed, 30-35 ms throughout and 37 s, with bit-identical anomaly
    scores (benchmarks/speed.py's `fit` part measures it). Other fits can differ in last
    bits, which training amplifies: Ped2's default run gives 93.39 / 97.76 micro / macro AUC
    flushed, 93.28 / 97.92 not (docs/results.md). The subnormals come from GELU's second
    derivative, which score matching differentiates. Bounding GELU's input instead (so that
    no subnormal arises) cost more than it saved: 42-54 ms a step on one thread.

    Threads: the setting is per CPU thread. Where PyTorch runs on the OpenMP runtime it ships
    (its pip wheels), every thread of the calling thread's pool flushes within the block and
    gets its own setting back after it, whether the pool was made before the block or within
    it; a thread that the block's code added (a larger `torch.set_num_threads`) gets the
    calling thread's setting from before the block, the one it would have been made with.
    Elsewhere (another parallel backend, Windows) only the calling thread is set and restored,
    and workers keep the setting of the thread that created them: those created within the
    block go on flushing after it. What it saves depends on the CPU: on the Intel Xeon, the fit
    above on two threads with the pool made before it took 31 ms a step with only the calling
    thread flushing against 18 ms with every thread (34 unflushed); on an AMD EPYC, which
    computes with subnormals at no visible cost, 38-43 s either way (scratch timings,
    2026-12-04)."""
    found: dict[int, bool] = {}
    lock = threading.Lock()
    caller = threading.get_ident()
    n_threads = torch.get_num_threads()

    def flush() -> None:
        was = flushing_denormals()
        if torch.set_flush_denormal(True):
            with lock:
                found[threading.get_ident()] = was

    def restore() -> None:
        ident = threading.get_ident()
        if ident in found:
            torch.set_flush_denormal(found[ident])
        elif caller in found:  # a thread made since, from the flushing caller
            torch.set_flush_denormal(found[caller])

    try:  # a Ctrl-C during the flush still restores the threads that flushed
        in_every_thread(flush, n_threads)
        yield
    finally:  # the team as it is now, or as it was where the block shrank it
        in_every_thread(restore, max(n_threads, torch.get_num_threads()))
