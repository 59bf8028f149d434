"""Regression tests for the demo extension's race, in the manner of NumPy's test_multithreading.py.

One helper starts the threads, numpy.testing's run_threaded; each test is
tiny, shares one array between them, and says in its name and docstring which
race it guards. Run them with pytest, and under ThreadSanitizer (on a
--with-thread-sanitizer CPython the conftest compiles the extension with
-fsanitize=thread):

    python -m pytest examples/regression_tests -v
    TSAN_OPTIONS=halt_on_error=1 python -m pytest -s examples/regression_tests

The demo keeps the racy version of its function beside the fixed one, to
compare them; that is the only reason for the xfail parameter below.
"""

import numpy as np
import pytest
from numpy.testing import run_threaded

SHAPE, REPEATS, CALLS = (4, 3), 5, 1000


@pytest.mark.parametrize("function", [
    "repeat_copy_modify",
    pytest.param("repeat_mutate_restore", marks=pytest.mark.xfail(
        reason="writes the shared input's dims and restores them: the race this test guards against")),
])
def test_repeat_of_a_shared_array(metadata_demo, function):
    """numpy/numpy#28197: np.repeat wrote the result's length into its input's dims, then wrote it back."""
    repeat = getattr(metadata_demo, function)
    shared = np.arange(12).reshape(SHAPE)  # C-contiguous: the case that raced
    expected = np.repeat(shared, REPEATS, axis=0)

    def closure(barrier):
        barrier.wait()  # every thread starts calling at once
        for _ in range(CALLS):
            assert repeat(shared, REPEATS, axis=0).shape == expected.shape
            assert shared.shape == SHAPE

    run_threaded(closure, max_workers=4, pass_barrier=True)
