"""Inference leaves a core to the rest of the station, as far as the process may use cores at all."""

import os
import subprocess
import sys

import pytest

ASK = (
    "from inspector.inference.threads import inference_threads, limit_cpu_threads; import torch; "
    "print(inference_threads(), limit_cpu_threads(), torch.get_num_threads())"
)


def _threads(env: dict[str, str], prefix: tuple[str, ...] = ()) -> list[int]:
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"} | env
    out = subprocess.run(
        [*prefix, sys.executable, "-c", ASK], env=env, capture_output=True, text=True, check=True
    )
    return [int(n) for n in out.stdout.split()]


def test_every_usable_core_but_one_goes_to_inference():
    cores = len(os.sched_getaffinity(0))
    assert _threads({}) == [max(1, cores - 1)] * 3


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="no CPU affinity here")
def test_a_process_pinned_to_one_core_runs_one_thread():
    assert _threads({}, ("taskset", "-c", "0")) == [1, 1, 1]


def test_the_operators_omp_num_threads_wins():
    assert _threads({"OMP_NUM_THREADS": "3"}) == [3, 3, 3]
    assert _threads({"OMP_NUM_THREADS": "lots"})[0] == max(1, len(os.sched_getaffinity(0)) - 1)
