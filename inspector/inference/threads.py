"""How many threads one inference may use on the CPU, so a busy neighbour costs only its share.

torch's intra-op pool (OpenMP) and OpenVINO's both split a layer across their threads and wait
at a barrier for the slowest one. With a thread on every core, any other process that wants a
core (the station's own capture thread, the window, another program) stalls a thread of the pool
and so every layer: on 2 cores with one busy neighbour the eager line fell from 35 to 13 frames/s
and its inference p95 rose eightfold, where one thread fewer cost nothing quiet and held 32 frames/s
(docs/PERFORMANCE.md). So inference gets every core it may run on but one.
"""

from __future__ import annotations

import os

import torch


def usable_cores() -> int:
    """The cores this process may run on (its affinity, which a container or ``taskset`` narrows)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def inference_threads() -> int:
    """``OMP_NUM_THREADS`` where the operator set it, else every usable core but one (at least one)."""
    asked = os.environ.get("OMP_NUM_THREADS", "").strip()
    if asked.isdigit() and int(asked) > 0:
        return int(asked)
    return max(1, usable_cores() - 1)


def limit_cpu_threads() -> int:
    """Set torch's intra-op pool to ``inference_threads()`` for this process; returns the count."""
    threads = inference_threads()
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads
