"""Two `./nox` processes, in two clones, sharing one empty cache.

The real thing, not a fake: two copies of this working tree start
`./nox -s provision -- numpy-2.2.2` at the same moment with a new, empty
``FTBOOK_CACHE``. Between them they must install nox once (./nox's lock,
named after the folder it guards), make the NumPy 2.2.2 environment once
(the lock named after that environment's folder), and both succeed with the
same environment. The 3.13t interpreter is the one this test session
already has (building two more would take minutes and is covered, with a
stand-in source tarball, in test_interpreters and test_faults).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading

import pytest

from ftbook.provision.interpreters import find_or_build
from ftbook.run import ROOT

pytestmark = pytest.mark.needs_envs("numpy-2.2.2")


def working_tree_copy(target):
    """The files git would clone, as they are in this working tree (uncommitted edits included)."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True, timeout=60).stdout.split()
    for name in listed:
        if (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    return target


def test_two_clones_one_empty_cache(tmp_path):
    cache = tmp_path / "cache"
    base = find_or_build("3.13t", log=lambda _: None)  # already there: needs_envs prepared it
    env = {key: value for key, value in os.environ.items() if not key.startswith(("NOX", "FTBOOK_"))}
    env.update(FTBOOK_CACHE=str(cache), FTBOOK_PYTHON_313T=str(base))
    clones = [working_tree_copy(tmp_path / name) for name in ("clone-a", "clone-b")]
    start = threading.Barrier(2)
    results = {}

    def provision(clone):
        start.wait(30)
        results[clone.name] = subprocess.run(
            ["./nox", "-s", "provision", "--", "numpy-2.2.2"], cwd=clone, env=env,
            capture_output=True, text=True, timeout=600)

    threads = [threading.Thread(target=provision, args=(clone,)) for clone in clones]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(660)
    assert set(results) == {"clone-a", "clone-b"}, "a ./nox process did not finish within 10 minutes"
    for name, done in results.items():
        assert done.returncode == 0, f"{name}: exit {done.returncode}\n{done.stderr[-3000:]}"
    output = "".join(done.stdout + done.stderr for done in results.values())
    assert output.count("==> installing nox into") == 1, output
    assert output.count("==> preparing environment numpy-2.2.2") == 1, output
    (env_dir,) = (cache / "envs").iterdir()
    assert env_dir.name.startswith("numpy-2.2.2-") and (env_dir / ".ftbook-stamp.json").is_file()
    numpy = subprocess.run([env_dir / "bin" / "python", "-c", "import numpy; print(numpy.__version__)"],
                           capture_output=True, text=True, timeout=120)
    assert numpy.stdout.strip() == "2.2.2", numpy.stderr
