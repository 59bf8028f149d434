"""The deterministic claims of the family chapter, run as a reader would.

Each example runs in its own process (the racy variants may crash) with a
time limit. Counts that depend on timing are the chapter's to report, not
ours to assert; what is here holds by construction or through a hook that
holds a window open.
"""

import pytest

from ftbook.provision.envs import book_env_python
from ftbook.run import run_example

GIL_OFF, GIL_ON = {"PYTHON_GIL": "0"}, {"PYTHON_GIL": "1"}


def summary_of(outcome):
    assert outcome.summary is not None, (outcome.describe(), outcome.stderr[-2000:])
    return outcome.summary


# Race: a.argsort(order=...) swaps the shared array's dtype pointer for a copy
# with reordered field names and back. An object field's __lt__ runs inside
# the swap, so another thread sees ("y", "x"), with the GIL off or on.
@pytest.mark.parametrize("gil", [GIL_OFF, GIL_ON], ids=["gil-off", "gil-on"])
def test_argsort_order_shows_the_swapped_dtype_to_another_thread(gil):
    outcome = run_example("sort_order_window.py", "--sorter", "order", "--mode", "forced", "--json",
                          env=gil, timeout=60)
    summary = summary_of(outcome)
    assert summary["gil_enabled"] is (gil is GIL_ON)
    assert summary["reader_saw"] == ["y", "x"] and outcome.returncode == 1
    assert summary["final_names"] == ["x", "y"]  # restored afterwards: one thread alone sees nothing


# The replacement: sorting a view with the fields in order leaves the shared
# array's dtype alone, and gives the same order.
def test_sorting_a_view_never_touches_the_shared_dtype():
    view = summary_of(run_example("sort_order_window.py", "--sorter", "view", "--mode", "forced", "--json",
                                  timeout=60))
    order = summary_of(run_example("sort_order_window.py", "--sorter", "order", "--mode", "forced", "--json",
                                   timeout=60))
    assert view["reader_saw"] == ["x", "y"] and view["race_observed"] is False
    assert view["result"] == order["result"]


# Race: a refused setflags writes back the flags it saw on entry; its
# argument's __bool__ lets another thread make the array read-only first,
# and that change is lost. An accepted call keeps it.
@pytest.mark.parametrize("gil", [GIL_OFF, GIL_ON], ids=["gil-off", "gil-on"])
def test_refused_setflags_undoes_another_threads_writeable_false(gil):
    refused = run_example("setflags_restore.py", "--flag", "true", "--json", env=gil, timeout=60)
    summary = summary_of(refused)
    assert summary["writeable_after_protect"] is False and summary["writeable_final"] is True
    assert "WRITEBACKIFCOPY" in summary["error"] and refused.returncode == 1
    accepted = summary_of(run_example("setflags_restore.py", "--flag", "false", "--json",
                                      env=gil, timeout=60))
    assert accepted["writeable_final"] is False and accepted["error"] is None


# Race: x.dtype = ... frees the dtype np.result_type borrowed. The view
# replacement never changes x, so the reader can never see a freed dtype.
def test_result_type_against_a_view_writer_is_clean():
    outcome = run_example("dtype_swap_reader.py", "--writer", "view", "--iterations", "20000", "--json",
                          timeout=120)
    summary = summary_of(outcome)
    assert outcome.returncode == 0 and summary["worker_errors"] == [] and summary["writes"] == 20000


# Race: NumPy <= 2.2.6 set a 0-d out's ndim to 1 during a reduction. 2.3.0
# removed the write, so a watcher can never see ndim == 1, GIL off or on.
@pytest.mark.needs_envs("numpy-2.3.0")
@pytest.mark.parametrize("gil", [GIL_OFF, GIL_ON], ids=["gil-off", "gil-on"])
def test_no_ndim_hack_on_numpy_2_3_0(gil):
    outcome = run_example("out_ndim_watcher.py", "--iterations", "20000", "--json",
                          python=book_env_python("numpy-2.3.0"), env=gil, timeout=120)
    summary = summary_of(outcome)
    assert summary["numpy"] == "2.3.0" and summary["gil_enabled"] is (gil is GIL_ON)
    assert summary["odd_reads"] == 0 and outcome.returncode == 0


# Race: up to NumPy 2.2.5 the first array made from the StringDType class is
# handed NumPy's default instance and keeps it (one thread, deterministic);
# 2.2.6 creates that instance already claimed, so both arrays get copies.
@pytest.mark.needs_envs("numpy-2.2.5", "numpy-2.2.6")
def test_first_stringdtype_array_claims_the_default_instance_before_2_2_6():
    old = run_example("stringdtype_claim.py", "--mode", "claim", "--json",
                      python=book_env_python("numpy-2.2.5"), env=GIL_OFF, timeout=60)
    new = run_example("stringdtype_claim.py", "--mode", "claim", "--json",
                      python=book_env_python("numpy-2.2.6"), env=GIL_OFF, timeout=60)
    assert summary_of(old)["extra_references"] > 0 and old.returncode == 1
    assert summary_of(new)["extra_references"] == 0 and new.returncode == 0


# Race: two threads claiming one StringDType descriptor. From 2.2.6 the
# check and the claim happen under the descriptor's lock: never twice.
@pytest.mark.needs_envs("numpy-2.2.6")
def test_stringdtype_descriptor_is_never_claimed_twice_on_2_2_6():
    outcome = run_example("stringdtype_claim.py", "--mode", "stress", "--iterations", "2000", "--json",
                          python=book_env_python("numpy-2.2.6"), env=GIL_OFF, timeout=120)
    summary = summary_of(outcome)
    assert summary["both_claimed"] == 0 and summary["rounds"] > 0 and summary["worker_errors"] == []
