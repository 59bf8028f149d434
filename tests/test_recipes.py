"""The recipes' reader forms (ftbook.recipes, ftbook.commands): what the build runs, its additions apart."""

import pytest

from ftbook.commands import EVIDENCE, console, evidence, pytest_lines
from ftbook.provision.cache import cache_dir
from ftbook.provision.instrumented import MESON_ARGS
from ftbook.provision.interpreters import INTERPRETERS
from ftbook.recipes import (
    READER_CONFIGURE,
    build_additions,
    configure_line,
    numpy_build_additions,
    numpy_install_line,
)
from ftbook.run import EXAMPLES, ExampleRun
from ftbook.tsan import tsan_request


def test_a_console_block_prompts_commands_and_shows_output_and_comments_as_they_are():
    block = console(("python -VV", "Python 3.14.7 free-threading build\n"), "# a note")
    assert block.splitlines() == ["```console", "$ python -VV", "Python 3.14.7 free-threading build",
                                  "# a note", "```"]


def test_evidence_is_a_collapsed_dropdown_whose_fence_outlasts_the_code_inside():
    text = evidence("what ran", console("make"), "prose").data
    first, *_, last = text.splitlines()
    assert first == f"````{{dropdown}} {EVIDENCE}what ran" and last == "````"
    assert ":open:" not in text


@pytest.mark.parametrize("key", ["3.14t", "3.14t-tsan"])
def test_a_configure_line_has_the_readers_options_and_the_build_adds_the_rest(key):
    spec = INTERPRETERS[key]
    line = configure_line(key)
    assert line.startswith("./configure --disable-gil") and ("--with-thread-sanitizer" in line) == spec.tsan
    assert "py_cv_module" not in line and "OPT=" not in line
    kept = [option for option in spec.configure_args if option in READER_CONFIGURE]
    assert sorted(kept + build_additions(key)) == sorted(spec.configure_args)  # nothing lost, nothing twice


def test_numpy_is_installed_with_the_sanitizer_and_the_build_only_adds_to_it():
    line = numpy_install_line("2.5.5")
    assert "-Csetup-args=-Db_sanitize=thread" in line and line.endswith("numpy==2.5.5")
    assert "--no-binary=numpy" in line
    assert sorted([*(o for o in MESON_ARGS if o in line), *numpy_build_additions()]) == sorted(MESON_ARGS)


def test_a_released_test_file_is_copied_out_and_run_by_plain_pytest_with_the_chosen_options():
    test_file = str(cache_dir("sources") / "numpy-2.5.5/numpy/_core/tests/test_multithreading.py")
    suppressions = str(cache_dir("sources") / "numpy-2.5.5/tools/ci/tsan_suppressions.txt")
    options = {"halt_on_error": "0", "suppressions": suppressions}
    request = tsan_request("pytest_runs.py", "--runs", "1", "--copy-test", test_file, "--json", "--",
                           "-s", "-v", options=options, env="tsan-numpy-2.5.5")
    copy, run = pytest_lines(request, options)
    assert copy == "mkdir -p tsan-run && cp numpy-2.5.5/numpy/_core/tests/test_multithreading.py tsan-run/"
    assert run == ("TSAN_OPTIONS='halt_on_error=0 suppressions=numpy-2.5.5/tools/ci/tsan_suppressions.txt' "
                   "python -m pytest tsan-run/test_multithreading.py -s -v")
    assert str(cache_dir("sources")) not in copy + run and "exitcode" not in run  # the book's own default


def test_several_released_test_files_are_copied_out_together_and_tests_named_by_node_id_keep_their_folder():
    tests = cache_dir("sources") / "numpy-2.5.5/numpy/_core/tests"
    request = tsan_request("pytest_runs.py", "--copy-test", str(tests / "test_multiarray.py"),
                           "--copy-test", str(tests / "test_ufunc.py"), "--json", "--", "-rA",
                           "test_multiarray.py::TestFlags", "test_ufunc.py::TestUfunc", "-k", "at",
                           env="tsan-numpy-2.5.5")
    copy, run = pytest_lines(request)
    assert copy == ("mkdir -p tsan-run && cp numpy-2.5.5/numpy/_core/tests/test_multiarray.py "
                    "numpy-2.5.5/numpy/_core/tests/test_ufunc.py tsan-run/")
    assert run == ("python -m pytest -rA tsan-run/test_multiarray.py::TestFlags "
                   "tsan-run/test_ufunc.py::TestUfunc -k at")


def test_a_folder_of_the_repository_is_named_as_in_the_readers_checkout():
    request = ExampleRun("pytest_runs.py", ("--runs", "3", "--", str(EXAMPLES / "parallel_tests"), "-v"))
    assert pytest_lines(request) == ["python -m pytest examples/parallel_tests -v"]
    with pytest.raises(ValueError, match="pytest_runs"):
        pytest_lines(ExampleRun("repeat_stress.py", ("--json",)))
