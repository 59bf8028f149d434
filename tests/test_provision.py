"""ftbook.provision.side_by_side: interpreter chains side by side."""

import threading

import pytest

from ftbook import ProvisionError
from ftbook.provision.side_by_side import run_side_by_side


# The point of running chains side by side: they overlap. Each waits for the
# other at a barrier, which only returns if both are running at once.
def test_chains_run_at_the_same_time():
    both = threading.Barrier(2)
    lines = []
    results = run_side_by_side({"a": lambda log: both.wait(5) * 0 + 1, "b": lambda log: both.wait(5) * 0 + 2},
                               lines.append)
    assert results == {"a": 1, "b": 2}


def test_log_lines_are_prefixed_by_chain():
    lines = []
    run_side_by_side({"3.13t": lambda log: log("building\nstill building"), "3.14t": lambda log: None},
                     lines.append)
    assert "[3.13t] building" in lines and "[3.13t] still building" in lines


# A failed build must not throw away the others' work: every chain runs to its
# end, then one error names each failure.
def test_every_chain_finishes_and_every_failure_is_named():
    finished = []

    def fails(log):
        raise ProvisionError("no compiler")

    def works(log):
        finished.append("b")

    with pytest.raises(ProvisionError) as raised:
        run_side_by_side({"a": fails, "b": works}, lambda line: None)
    assert finished == ["b"] and "[a] no compiler" in str(raised.value)


# A bug in one chain (not a ProvisionError) must still end in one message, never a
# traceback on the reader's screen; the traceback goes to a file the message names.
def test_an_unexpected_error_is_one_message_with_its_traceback_in_a_file(tmp_path):
    def buggy(log):
        return {}["missing"]

    with pytest.raises(ProvisionError) as raised:
        run_side_by_side({"sources": lambda log: "ok", "3.13t": buggy}, lambda line: None,
                         failure_log=tmp_path / "logs" / "provision")
    message = str(raised.value)
    assert message.startswith("[3.13t] unexpected KeyError: 'missing'")
    assert "work is kept (sources)" in message and "Traceback" not in message
    (written,) = (tmp_path / "logs").glob("provision-*-3.13t.traceback")
    assert str(written) in message and "KeyError" in written.read_text()


def test_a_single_chain_fails_the_same_way(tmp_path):
    with pytest.raises(ProvisionError, match=r"^\[only\] no compiler\nRun the same command again"):
        run_side_by_side({"only": lambda log: (_ for _ in ()).throw(ProvisionError("no compiler"))},
                         lambda line: None)
