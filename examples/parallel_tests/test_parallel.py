"""A small test suite of the examples, written to be run with pytest-run-parallel.

    pytest examples/parallel_tests                       # each test once
    pytest examples/parallel_tests --parallel-threads 4  # each test on 4 threads at once

pytest-run-parallel runs every test function on N threads that start
together. A test that is correct on its own can still fail that way, either
because the code it tests is not thread-safe or because the test itself
shares state between its copies. ``test_shared_result`` is the second kind.
"""

import threading

import numpy as np
import pytest

import repeat_stress

SHARED = np.arange(12).reshape(4, 3)  # read by every test, written by none
RESULT = np.zeros(3)  # one module-level buffer: every copy of a test that writes it shares it

_barriers = {}
_barriers_lock = threading.Lock()


def rendezvous(parties):
    """Block until *parties* threads have called this (at once for one thread).

    Used to force the interleaving that breaks a shared-state test: every
    thread has written before any thread checks. Without it the failure
    would depend on timing.
    """
    with _barriers_lock:
        barrier = _barriers.setdefault(parties, threading.Barrier(parties))
    barrier.wait(timeout=30)


def test_repeat_reads_a_shared_array():
    out = np.repeat(SHARED, 5, axis=0)
    assert out.shape == (20, 3) and SHARED.shape == (4, 3)


def test_repeat_stress_example_is_clean():
    # The book's stress example, called in-process: threads inside threads.
    totals, run = repeat_stress.stress(threads=2, iterations=200, timeout=20)
    assert run.errors == [] and totals["calls"] == 400
    assert totals["wrong_shapes"] == totals["wrong_values"] == 0


def test_shared_result(thread_index, num_parallel_threads):
    RESULT[:] = thread_index  # every thread writes the same module-level array...
    rendezvous(num_parallel_threads)
    assert (thread_index == RESULT).all()  # ...so all but the last writer read someone else's value


@pytest.mark.thread_unsafe(reason="writes the module-level RESULT array")
def test_shared_result_marked(thread_index, num_parallel_threads):
    RESULT[:] = thread_index
    rendezvous(num_parallel_threads)
    assert (thread_index == RESULT).all()


def test_local_result(thread_index, num_parallel_threads):
    result = np.zeros(3)  # the fix for the test: each copy has its own
    result[:] = thread_index
    rendezvous(num_parallel_threads)
    assert (result == thread_index).all()
