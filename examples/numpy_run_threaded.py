"""A pytest plugin: run NumPy's tests with the ``run_threaded`` of another NumPy release.

NumPy's multithreading tests call ``numpy.testing``'s ``run_threaded``, and
its signature changed in NumPy 2.2.3, the release whose fix came with the
test ``test_multithreaded_repeat``: on 2.2.2 that test cannot even start.
To ask whether the test catches the bug on the release that has it, load
this plugin and name the ``numpy/testing/_private/utils.py`` of the newer
release; its ``run_threaded`` (read from that file, not copied here)
replaces the installed one before the tests are imported.

    NUMPY_RUN_THREADED_FROM=numpy-2.2.3/numpy/testing/_private/utils.py \\
        python -m pytest -p numpy_run_threaded \\
        numpy-2.2.3/numpy/_core/tests/test_multithreading.py -k test_multithreaded_repeat

(this folder must be on ``PYTHONPATH``, or the plugin in your conftest).
"""

import ast
import os
import sys

FROM = "NUMPY_RUN_THREADED_FROM"


def load_run_threaded(path):
    """The ``run_threaded`` function defined in *path*, compiled with the modules it uses."""
    with open(path, encoding="utf-8") as file:
        source = file.read()
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and node.name == "run_threaded":
            module = ast.Module(body=[node], type_ignores=[])
            namespace = {"concurrent": __import__("concurrent.futures"), "threading": __import__("threading")}
            exec(compile(module, path, "exec"), namespace)
            return namespace["run_threaded"]
    raise SystemExit(f"{FROM}: {path} defines no run_threaded")


def pytest_configure(config):
    path = os.environ.get(FROM)
    if not path:
        raise SystemExit(f"numpy_run_threaded: set {FROM} to a NumPy release's "
                         "numpy/testing/_private/utils.py")
    # pytest_runs.py starts pytest in a folder of its own, and says where it was itself started.
    path = os.path.join(os.environ.get("PYTEST_RUNS_STARTED_IN", os.getcwd()), path)
    if not os.path.isfile(path):
        raise SystemExit(f"{FROM}: no such file: {path}")
    import numpy.testing
    import numpy.testing._private.utils as utils

    replacement = load_run_threaded(path)
    utils.run_threaded = replacement
    numpy.testing.run_threaded = replacement
    print(f"numpy_run_threaded: run_threaded from {path}", file=sys.stderr)
