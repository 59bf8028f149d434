"""ftbook.build.inputs and ftbook.build.sphinxext: what a chapter runs, and its cache key."""

import pytest

from ftbook.build import inputs
from ftbook.build.inputs import DIGEST_COMMENT, chapter_inputs, with_digest
from ftbook.run import ROOT, run_command

CHAPTER = """\
```{code-cell} ipython3
from ftbook.run import run_example
run_example("repeat_stress.py", "--json")
```
"""


def example_names(text):
    return set(chapter_inputs(text).examples)


# A chapter that runs an example depends on it, and on nothing it does not run.
def test_an_example_named_in_a_cell_is_an_input():
    names = example_names(CHAPTER)
    assert "repeat_stress.py" in names and "thread_harness.py" in names  # and what it imports
    assert "shape_watcher.py" not in names and "metadata_demo.c" not in names


# demo_patterns.py compiles metadata_demo.c: a change to the C file must re-run its chapters.
def test_files_an_example_uses_are_inputs_too():
    assert {"demo_patterns.py", "metadata_demo.c"} <= example_names('run_example("demo_patterns.py")')


# A name in a docstring is not a use: demo_patterns' docstring mentions critical_sections.py.
def test_a_name_in_a_docstring_is_not_a_use():
    assert "critical_sections.py" not in example_names('run_example("demo_patterns.py")')


# tests/conftest.py is not examples/parallel_tests/conftest.py.
def test_another_folders_file_of_the_same_name_is_not_an_example():
    assert example_names("see tests/conftest.py") == set()
    assert "parallel_tests/conftest.py" in example_names("pytest examples/parallel_tests")


# A chapter that globs the folder runs whatever is in it.
def test_importing_the_folder_name_is_not_using_the_folder():
    names = example_names("from ftbook.run import EXAMPLES, run_example\nrun_example('repeat_stress.py')\n")
    assert "repeat_stress.py" in names and "critical_sections.py" not in names


def test_the_whole_folder_means_every_example():
    names = example_names("for script in EXAMPLES.glob('*.py'):\n    pass\n")
    assert names == {str(p.relative_to(inputs.EXAMPLES)) for p in inputs.example_files()}
    assert example_names('EXAMPLES / "metadata_demo.c"') == {"metadata_demo.c"}  # one file is one file


def test_ftbook_modules_are_followed():
    modules = {p.name for p in chapter_inputs("from ftbook.tsan import run_demo").files}
    assert {"tsan.py", "envs.py", "run.py"} <= modules
    via_tsan = {p.name for p in chapter_inputs("from ftbook.tsan import x").files}
    assert {"demo_patterns.py", "metadata_demo.c"} <= via_tsan  # ftbook.tsan runs the demo


def test_environments_named_in_the_chapter():
    assert chapter_inputs('run_example("x.py", env="numpy-2.2.2")').env_names == ("numpy-2.2.2",)
    table = 'RUNS = {"old": "numpy-2.2.5", "new": "numpy-2.2.6"}'  # a table of runs names them too
    assert chapter_inputs(table).env_names == ("numpy-2.2.5", "numpy-2.2.6")
    assert "tsan" in chapter_inputs("from ftbook.tsan import run_demo").env_names  # its module runs there
    every = chapter_inputs("from ftbook.about import describe_book_envs").env_names
    assert set(every) == set(inputs.BOOK_ENVS)  # USES_EVERY_BOOK_ENV = True
    assert chapter_inputs(CHAPTER).env_names == ()  # the kernel's own environment only
    assert chapter_inputs('"numpy-0.0.1"').env_names == ()  # a string that names no environment


def test_the_digest_follows_the_content_of_an_input(tmp_path, monkeypatch):
    examples = tmp_path / "examples"
    examples.mkdir()
    (examples / "one.py").write_text("print(1)\n")
    (examples / "two.py").write_text("print(2)\n")
    monkeypatch.setattr(inputs, "EXAMPLES", examples)
    first = chapter_inputs('run_example("one.py")')
    before = first.digest()
    (examples / "two.py").write_text("print(22)\n")
    assert chapter_inputs('run_example("one.py")').digest() == before  # not an input of this chapter
    (examples / "one.py").write_text("print(11)\n")
    assert chapter_inputs('run_example("one.py")').digest() != before


def test_the_digest_goes_into_the_first_code_cell_only():
    text = CHAPTER + "\nprose\n\n```{code-cell} ipython3\nsecond()\n```\n"
    stamped = with_digest(text, "abc")
    first_cell, rest = stamped.split("```\n", 1)[0], stamped.split("```\n", 1)[1]
    assert first_cell.endswith(DIGEST_COMMENT + "abc\n") and DIGEST_COMMENT not in rest
    with pytest.raises(ValueError):
        with_digest("no cells here\n", "abc")


# An editor's backup beside an example is no example: it once became a page and an input.
def test_only_an_examples_sources_are_examples(tmp_path, monkeypatch):
    examples = tmp_path / "examples"
    (examples / "parallel_tests" / "__pycache__").mkdir(parents=True)
    sources = ["one.py", "demo.c", "parallel_tests/pytest.ini", "parallel_tests/test_x.py"]
    leftovers = ["one.py.bak", "one.py~", ".one.py.swp", ".#one.py", "#one.py#", "demo.so",
                 "parallel_tests/__pycache__/test_x.cpython-314.pyc"]
    for name in [*sources, *leftovers]:
        (examples / name).write_text("")
    monkeypatch.setattr(inputs, "EXAMPLES", examples)
    assert [p.relative_to(examples).as_posix() for p in inputs.example_files()] == sorted(sources)


# Every example git tracks is taken: a new kind of example file must be added to EXAMPLE_SUFFIXES.
def test_every_tracked_example_is_an_example():
    listed = run_command(["git", "-C", ROOT, "ls-files", "examples"], timeout=60)
    assert listed.returncode == 0, listed.stderr
    tracked = {ROOT / name for name in listed.stdout.split()}
    assert tracked and tracked <= set(inputs.example_files()), tracked - set(inputs.example_files())


# The measurements page reads the benchmark's records: a new record must execute it again.
def test_a_data_folder_named_in_a_chapter_makes_its_files_inputs(tmp_path, monkeypatch):
    records = tmp_path / "measurements"
    records.mkdir()
    (records / "2026-12-05-abc1234.json").write_text("{}\n")
    monkeypatch.setitem(inputs.DATA_FOLDERS, "measurements", records)
    reading = 'RECORDS = ROOT / "docs" / "measurements"\n'
    before = chapter_inputs(reading)
    assert records / "2026-12-05-abc1234.json" in before.files
    assert records / "2026-12-05-abc1234.json" not in chapter_inputs("print(1)\n").files
    (records / "2026-12-06-def5678.json").write_text("{}\n")
    assert chapter_inputs(reading).digest() != before.digest()


def test_a_data_folder_is_a_dependency_so_that_a_new_file_in_it_is_read():
    # Sphinx re-reads a page whose noted dependency changed; it takes a folder as changed on every build.
    reading = 'RECORDS = ROOT / "docs" / "measurements"\n'
    assert chapter_inputs(reading).data_folders == (inputs.DATA_FOLDERS["measurements"],)
    assert chapter_inputs("print(1)\n").data_folders == ()
