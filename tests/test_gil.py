"""The GIL check must pass when the GIL is off and fail loudly when it is not."""

import sys

import pytest

from ftbook import ProvisionError
from ftbook.gil import check_python, gil_state, require_gil_disabled


def test_this_process_is_free_threaded():
    # The whole suite runs on 3.14t (nox -s tests): if this fails, so would
    # every claim the tests make about races.
    assert gil_state() == {"free_threaded_build": True, "gil_enabled": False}
    require_gil_disabled("the test process")


def test_check_passes_after_imports_that_keep_the_gil_off():
    check_python(sys.executable, ["numpy", "json"])


def test_check_fails_when_the_gil_is_forced_on(monkeypatch):
    monkeypatch.setenv("PYTHON_GIL", "1")
    with pytest.raises(ProvisionError, match="the GIL is enabled in .* after importing numpy"):
        check_python(sys.executable, ["numpy"])


def test_check_reports_an_import_that_fails():
    with pytest.raises(ProvisionError, match="could not import no_such_module_here"):
        check_python(sys.executable, ["no_such_module_here"])
