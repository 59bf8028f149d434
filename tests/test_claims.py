"""Every claim the chapters assert (ftbook.claims), on the runs each claim module lists.

One parametrised test: a claim's expected values live only in its function,
which the chapter's hidden cell calls on the chapter's runs and this calls on
the module's ``TEST_RUNS``. Each run is a subprocess with a time limit.

A claim whose evidence is timing (a ``ftbook.tsan.UntilRace`` among its
runs: a race TSAN reports only when two accesses overlap) is tested with
every core already busy with other work, as a shared CI runner or a
contributor's machine may be: its budget must hold there, not only on an
idle machine.
"""

import pytest

import ftbook.claims
from ftbook.provision.sources import SOURCES
from ftbook.tools.under_load import busy_cores
from ftbook.tsan import UntilRace


def claim_params():
    params = []
    for module in ftbook.claims.modules():
        for claim, runs in module.TEST_RUNS:
            envs = sorted({run.env for run in runs if run.env is not None})
            if any(run.reads_released_sources for run in runs):
                envs.append(SOURCES)  # the run reads a released source (a NumPy sdist's test file)
            where = "+".join(f"{run.env or 'kernel'}{'-gil' if run.gil else ''}" for run in runs)
            params.append(pytest.param(claim, runs, marks=pytest.mark.needs_envs(*envs),
                                       id=f"{module.__name__.rsplit('.', 1)[1]}.{claim.__name__}[{where}]"))
    return params


@pytest.mark.parametrize(("claim", "runs"), claim_params())
def test_claim(claim, runs):
    if any(isinstance(run, UntilRace) for run in runs):
        with busy_cores():
            claim(*[outcome for run in runs for outcome in outcomes(run)])
    else:
        claim(*[run.run() for run in runs])


def outcomes(run):
    return run.outcomes() if isinstance(run, UntilRace) else [run.run()]


def test_every_claim_has_a_run_and_a_reason():
    """A claim that no test runs, or whose race is not named, is a claim nobody checks or understands.

    A public function that returns an ExampleRun is not a claim: it is how the chapter and TEST_RUNS
    both build the same runs.
    """
    for module in ftbook.claims.modules():
        tested = {claim for claim, _ in module.TEST_RUNS}
        for name, function in vars(module).items():
            builds_a_request = getattr(function, "__annotations__", {}).get("return") == "ExampleRun"
            if callable(function) and getattr(function, "__module__", None) == module.__name__ \
                    and not name.startswith("_") and not builds_a_request:  # the runs' recipe, shared
                assert function in tested, f"{module.__name__}.{name} is in no TEST_RUNS entry"
                assert function.__doc__, f"{module.__name__}.{name} has no docstring saying what it guards"


def test_a_hung_pytest_run_is_reported_as_timed_out_not_as_a_missing_summary():
    """Race aftermath: a dying interpreter can hang. pytest_runs.py kills the run and says so, in its summary.

    That works only if its own limits (``--run-timeout`` per run, ``--timeout`` for all, 60 s at most for
    ``--import-check``) end before the build kills the whole request; when they did not, CI saw
    "no summary line (timed out after 120 s)" for a SciPy run on NumPy 2.2.2 that had hung.
    """
    checked = 0
    for module in ftbook.claims.modules():
        for _, runs in module.TEST_RUNS:
            for run in runs:
                request = run.request if isinstance(run, UntilRace) else run
                if request.example != "pytest_runs.py":
                    continue
                ours = list(request.args[:request.args.index("--")] if "--" in request.args else request.args)

                def option(name, default, ours=ours):
                    return float(ours[ours.index(name) + 1]) if name in ours else default

                importing = 60 if "--import-check" in ours else 0
                runs_end = importing + option("--runs", 3) * option("--run-timeout", 120)
                worst = min(option("--timeout", 600), runs_end)
                assert worst + 10 <= request.timeout, (
                    f"{request.reader_command()}: its runs may last {worst:.0f} s, "
                    f"but the build kills it after {request.timeout:.0f} s")
                checked += 1
    assert checked >= 5, checked
