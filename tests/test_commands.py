"""ftbook.commands: the command a reader types is made from what the chapter ran."""

import pytest

from ftbook.commands import SOURCES_NOTE, commands_box, reader_command
from ftbook.provision.cache import cache_dir
from ftbook.provision.sources import CURRENT_NUMPY
from ftbook.run import ExampleRun


def test_todays_numpy_is_pinned_and_the_gil_default_left_out():
    command = reader_command(ExampleRun("repeat_stress.py", ("--threads", "4")))
    assert command == (f"uv run --python 3.14t --with numpy=={CURRENT_NUMPY} "
                       "python examples/repeat_stress.py --threads 4")


def test_a_book_environment_pins_what_it_is_made_of_and_the_gil_is_said_when_on():
    run = ExampleRun("pytest_runs.py", ("-k", "a and b"), env="scipy-numpy-2.2.2", gil=True)
    command = reader_command(run)
    assert command.startswith("PYTHON_GIL=1 uv run --python 3.13t --with scipy==1.15.1 ")
    assert "--with numpy==2.2.2 python examples/pytest_runs.py -k 'a and b'" in command


# The build's cache is nobody else's: a released source it reads is named as the reader's own copy.
def test_a_path_into_the_builds_sources_becomes_the_readers_unpacked_sdist():
    test_file = str(cache_dir("sources") / "numpy-2.2.3" / "numpy/_core/tests/test_multithreading.py")
    helper = str(cache_dir("sources") / "numpy-2.2.3" / "numpy/testing/_private/utils.py")
    run = ExampleRun("pytest_runs.py", ("--copy-test", test_file), env="scipy-numpy-2.2.2",
                     variables=(("NUMPY_RUN_THREADED_FROM", helper),))
    box = commands_box(run).data
    assert str(cache_dir("sources")) not in box
    assert "--copy-test numpy-2.2.3/numpy/_core/tests/test_multithreading.py" in box
    assert box.splitlines()[1] == SOURCES_NOTE
    assert "$ NUMPY_RUN_THREADED_FROM=numpy-2.2.3/numpy/testing/_private/utils.py uv run" in box


def test_repeated_attempts_are_shown_once_and_a_bare_command_is_refused():
    run = ExampleRun("repeat_stress.py", ("--json",))
    assert commands_box(run, run).data.count("$ ") == 1

    class BareCommand:
        request = None

    with pytest.raises(ValueError, match="outcomes of run_example"):
        commands_box(BareCommand())


def test_a_numpy_built_with_threadsanitizer_is_named_with_how_to_build_it():
    from ftbook.tsan import tsan_request

    request = tsan_request("repeat_stress.py", "--json", env="tsan-numpy-2.2.2")
    assert request.reader_command() == ("TSAN_OPTIONS='halt_on_error=1 exitcode=66 history_size=7' "
                                        "python examples/repeat_stress.py --json")
    box = commands_box(request).data
    assert "with NumPy 2.2.2 built from its sdist" in box and "-Csetup-args=-Db_sanitize=thread" in box
    assert box.index("--with-thread-sanitizer") < box.index("NumPy 2.2.2 built")  # the interpreter first


def test_a_patched_numpy_is_named_with_the_patches_to_apply_before_the_same_build():
    from ftbook.tsan import tsan_request

    request = tsan_request("numpy_races.py", "--case", "sort-order", env="tsan-numpy-2.5.5-patched")
    box = commands_box(request).data
    assert 'for p in patches/numpy-2.5.5/*.patch; do patch -p1 --fuzz=0 -d numpy-2.5.5 < "$p"' in box
    assert "-Csetup-args=-Db_sanitize=thread" in box and "numpy-2.5.5-patched" not in box
