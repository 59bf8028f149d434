# /// script
# requires-python = ">=3.13"
# dependencies = ["numpy"]
# ///
"""Mutate-restore versus copy-modify of array metadata, shown with a small C extension.

metadata_demo.c (next to this script) rebuilds the shape of NumPy's
PyArray_Repeat before and after the fix for numpy/numpy#28197: the pre-fix
code wrote the result's length into the *input* array's dims, allocated the
result, and wrote the old length back ("mutate-restore"); the fix edits a
local copy of the dims ("copy-modify"). The script compiles the extension on
first use with the running interpreter's headers and NumPy's (it needs a C
compiler), then runs one of two experiments on a shared C-contiguous (4, 3)
array, repeated 5 times along axis 0:

  forced  A "caller" thread calls the demo function with a callback that runs
          inside the window (after the write, before the restore) and waits
          there until a "reader" thread has read shared.shape. Deterministic:
          mutate-restore shows the reader (20, 3), copy-modify (4, 3).
  stress  N threads call the demo function in a loop and check every result.
          With --sanitize thread, on a ThreadSanitizer build of CPython, TSAN
          reports the data race in repeat_mutate_restore.

critical_sections.py and metadata_bench.py use the extension's other
functions (in-place metadata changes under a critical section or a PyMutex)
through load_extension() below: keep this script, metadata_demo.c and them
in one folder. Exit status 2 also means the extension could not be built
or loaded.

    python demo_patterns.py --pattern mutate-restore --json
    python demo_patterns.py --pattern mutate-restore --mode stress --threads 4
"""

import hashlib
import importlib.util
import json
import os
import shlex
import subprocess
import sys
import sysconfig
import threading
import time
from pathlib import Path

import numpy as np

from thread_harness import finish, parser, run_threaded

# The keys of its --json summary besides the harness's: the book's chapters and tests
# read them by name, so renaming one changes a contract (the book's nox -s uses -- demo_patterns.py).
SUMMARY_KEYS = (
    "pattern", "mode", "sanitize", "expected_shape", "reader_saw", "result_shape", "result_ok",
    "final_shape", "events", "calls", "wrong_shapes", "wrong_values", "errors",
)

SOURCE = Path(__file__).resolve().with_name("metadata_demo.c")
MODULE = "metadata_demo"
FUNCTIONS = {"mutate-restore": "repeat_mutate_restore", "copy-modify": "repeat_copy_modify"}
ROWS, COLS, REPEATS, AXIS = 4, 3, 5, 0
COMPILE_TIMEOUT = 300  # seconds; a TSAN build of this one file takes a few


# ---------------------------------------------------------------- building


class BuildError(Exception):
    """The extension could not be compiled or loaded; the message is for the reader."""


def default_build_dir(sanitize):
    # The book's per-user cache ($FTBOOK_CACHE, as the rest of the project uses it).
    cache = os.environ.get("FTBOOK_CACHE") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ft-metadata-book"
    abi = sysconfig.get_config_var("SOABI") or sys.implementation.cache_tag
    suffix = f"-{'tsan' if sanitize == 'thread' else sanitize}" if sanitize else ""
    # Two interpreters can share an ABI tag and a NumPy version (a TSAN build
    # and a plain one): keep their builds apart by the headers they use.
    headers = hashlib.sha256(sysconfig.get_paths()["include"].encode()).hexdigest()[:8]
    return Path(cache) / "ext" / f"{abi}-numpy{np.__version__}{suffix}-{headers}"


def compile_command(output, sanitize):
    if os.name == "nt":
        raise BuildError("building metadata_demo.c on Windows is not supported by this script; "
                         "build it with setuptools and put it on sys.path.")
    compiler = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")
    link = ["-bundle", "-undefined", "dynamic_lookup"] if sys.platform == "darwin" else ["-shared"]
    optimise = ["-fsanitize=thread", "-g", "-O1"] if sanitize == "thread" else ["-O2"]
    return [*compiler, *link, "-fPIC", *optimise, "-Wall",
            f"-I{sysconfig.get_paths()['include']}", f"-I{np.get_include()}",
            str(SOURCE), "-o", str(output)]


def build(build_dir, sanitize):
    """Compile metadata_demo.c into build_dir unless an up-to-date build is there; return its path.

    "Up to date" means the stamp file records the same SHA-256 of the source and
    the same compiler command. Output goes to a temporary name first and is
    renamed into place, so a concurrent run never loads a half-written file.
    """
    if not SOURCE.is_file():
        raise BuildError(f"{SOURCE.name} was not found next to this script (looked for {SOURCE}); "
                         "copy both files into the same folder.")
    target = build_dir / (MODULE + sysconfig.get_config_var("EXT_SUFFIX"))
    stamp_path = build_dir / (MODULE + ".stamp.json")
    command = compile_command(target, sanitize)
    stamp = {"source_sha256": hashlib.sha256(SOURCE.read_bytes()).hexdigest(), "command": command}
    try:
        if target.is_file() and json.loads(stamp_path.read_text()) == stamp:
            return target
    except (OSError, ValueError):
        pass  # no stamp or an unreadable one: rebuild
    build_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    command = compile_command(partial, sanitize)
    print(f"{Path(sys.argv[0]).name}: compiling {SOURCE.name} -> {target}"
          f"{' with -fsanitize=thread' if sanitize else ''}", file=sys.stderr, flush=True)
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=COMPILE_TIMEOUT)
    except FileNotFoundError:
        raise BuildError(f"could not compile {SOURCE.name}: the C compiler {command[0]!r} was not found. "
                         "Install a C compiler (e.g. gcc) or point the CC environment variable at one, "
                         "then run this script again.") from None
    except subprocess.TimeoutExpired:
        partial.unlink(missing_ok=True)
        raise BuildError(f"could not compile {SOURCE.name}: the compiler did not finish within "
                         f"{COMPILE_TIMEOUT} s ({shlex.join(command)}).") from None
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        lines = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        first = next((line for line in lines if "error" in line.lower()), lines[0] if lines else "no output")
        raise BuildError(f"could not compile {SOURCE.name} (compiler exit status {done.returncode}); "
                         f"the first complaint was: {first}. The command was: {shlex.join(command)}. "
                         "The build needs the Python headers of this interpreter "
                         f"({sysconfig.get_paths()['include']}) and NumPy's ({np.get_include()}).")
    os.replace(partial, target)
    stamp_tmp = stamp_path.with_name(f"{stamp_path.name}.{os.getpid()}.tmp")
    stamp_tmp.write_text(json.dumps(stamp))
    os.replace(stamp_tmp, stamp_path)
    return target


def load_extension(sanitize=None, build_dir=None):
    """Build (if needed) and import metadata_demo; raises BuildError with a readable message.

    The other examples that use the extension (critical_sections.py,
    metadata_bench.py) call this, so this script and metadata_demo.c must
    travel with them: copy the three files into one folder.
    """
    return load(build(build_dir or default_build_dir(sanitize), sanitize), sanitize)


def load(path, sanitize):
    spec = importlib.util.spec_from_file_location(MODULE, path)
    try:
        module = importlib.util.module_from_spec(spec)  # an extension is dlopen()ed here
        spec.loader.exec_module(module)
    except ImportError as exc:
        hint = ""
        if sanitize and "--with-thread-sanitizer" not in (sysconfig.get_config_var("CONFIG_ARGS") or ""):
            hint = (" This interpreter was not configured --with-thread-sanitizer; a -fsanitize=thread "
                    "extension needs one.")
        raise BuildError(f"could not load {path}: {exc}.{hint}") from None
    return module


# ---------------------------------------------------------------- experiments


def what_is_wrong(result, expected):
    """None for a correct result, else the count it goes into: "wrong_shapes" or "wrong_values"."""
    if result.shape != expected.shape:
        return "wrong_shapes"
    return None if np.array_equal(result, expected) else "wrong_values"

def forced(function, pattern, timeout):
    """One caller, one reader, the reader looking while the caller is inside the window."""
    shared = np.arange(ROWS * COLS).reshape(ROWS, COLS)  # C-contiguous: the case that raced
    expected = np.repeat(shared, REPEATS, axis=AXIS)  # computed before any thread starts
    n, total = shared.shape[AXIS], shared.shape[AXIS] * REPEATS
    window_open, reader_done = threading.Event(), threading.Event()
    events, seen = [], {}

    def record(thread, text):
        events.append((time.perf_counter_ns(), thread, text))

    def caller(run):
        def callback():  # runs inside the C function, between "write" and "restore"
            record("caller", f"dims[{AXIS}] = {total} written" if pattern == "mutate-restore"
                   else f"local dims[{AXIS}] = {total}")
            window_open.set()
            if not run.wait_for(reader_done):
                record("caller", "gave up waiting for the reader")

        record("caller", "call enters")
        result = function(shared, REPEATS, axis=AXIS, callback=callback)
        seen["result_ok"] = what_is_wrong(result, expected) is None
        seen["result_shape"] = list(result.shape)
        record("caller", f"dims[{AXIS}] = {n} restored, returns shape {result.shape}"
               if pattern == "mutate-restore" else f"returns shape {result.shape}")

    def reader(run):
        record("reader", "waits for the window")
        if run.wait_for(window_open):
            seen["reader_saw"] = list(shared.shape)
            record("reader", f"reads shape -> {shared.shape}")
            reader_done.set()
        else:
            record("reader", "gave up waiting for the window")

    run = run_threaded([reader, caller], timeout=timeout)
    first = min((t for t, _, _ in events), default=0)
    return run, {
        "expected_shape": [ROWS, COLS],
        "reader_saw": seen.get("reader_saw"),
        "result_shape": seen.get("result_shape"),
        "result_ok": seen.get("result_ok", False),
        "final_shape": list(shared.shape),
        "events": [{"t_ns": t - first, "thread": name, "event": text} for t, name, text in sorted(events)],
    }


def stress(function, threads, iterations, timeout):
    """Many threads call the function on one shared array; count what comes back wrong."""
    shared = np.arange(ROWS * COLS).reshape(ROWS, COLS)
    expected = np.repeat(shared, REPEATS, axis=AXIS)
    # Fill NumPy's ufunc dispatch cache before the threads start: filling it
    # concurrently is NumPy's business and only adds ThreadSanitizer noise.
    np.array_equal(expected, expected)
    counts = [{"calls": 0, "wrong_shapes": 0, "wrong_values": 0, "errors": 0} for _ in range(threads)]

    def worker(mine):
        def loop(run):
            for _ in range(iterations):
                if not run.running():
                    return
                mine["calls"] += 1
                try:
                    wrong = what_is_wrong(function(shared, REPEATS, axis=AXIS), expected)
                except Exception:  # the race's damage (a MemoryError once a wrong length stuck): counted
                    wrong = "errors"
                if wrong:
                    mine[wrong] += 1
        return loop

    run = run_threaded([worker(mine) for mine in counts], timeout=timeout)
    totals = {key: sum(c[key] for c in counts) for key in counts[0]}
    totals["final_shape"] = list(shared.shape)  # a restore racing a write can leave it wrong for good
    return run, totals


# ---------------------------------------------------------------- main


def describe(pattern, mode, fields):
    if mode == "stress":
        return (f"{fields['calls']} calls of {FUNCTIONS[pattern]}: {fields['wrong_shapes']} wrong shapes, "
                f"{fields['wrong_values']} wrong values, {fields['errors']} errors, "
                f"shared array left with shape {tuple(fields['final_shape'])}")
    timeline = [f"{e['t_ns'] / 1e6:10.3f} ms  {e['thread']:<7} {e['event']}" for e in fields["events"]]
    saw = fields["reader_saw"]
    verdict = ("the reader never looked" if saw is None
               else f"the reader saw shape {tuple(saw)} of a {(ROWS, COLS)} array")
    return "\n".join([*timeline, f"{pattern}: {verdict}"])


def main(argv=None):
    made = parser(__doc__, threads=2, iterations=20000, timeout=60.0,
                  meaning={"threads": "stress: worker threads, at least 2",
                           "iterations": "stress: calls per thread"})
    made.add_argument("--pattern", choices=sorted(FUNCTIONS), default="copy-modify",
                      help="which demo function to call (default copy-modify, the safe one)")
    made.add_argument("--mode", choices=["forced", "stress"], default="forced",
                      help="forced: one deterministic interleaving; stress: many threads in a loop "
                      "(default forced)")
    made.add_argument("--build-dir", type=Path, default=None,
                      help="where to build and load the extension (default: a per-user cache folder)")
    made.add_argument("--sanitize", choices=["thread"], default=None,
                      help="build with -fsanitize=thread (needs a --with-thread-sanitizer CPython)")
    made.add_argument("--build-only", action="store_true", help="build the extension, print its path, exit")
    args = made.parse_args(argv)
    if args.mode == "stress" and args.threads < 2:
        made.error(f"argument --threads: stress mode needs at least 2 threads, not {args.threads}")
    try:
        path = build(args.build_dir or default_build_dir(args.sanitize), args.sanitize)
        if args.build_only:
            print(path)
            return 0
        function = getattr(load(path, args.sanitize), FUNCTIONS[args.pattern])
    except BuildError as error:
        made.error(str(error))

    if args.mode == "forced":
        run, fields = forced(function, args.pattern, args.timeout)
        race = fields["reader_saw"] not in (None, [ROWS, COLS])
    else:
        run, fields = stress(function, args.threads, args.iterations, args.timeout)
        wrong = fields["wrong_shapes"] + fields["wrong_values"] + fields["errors"]
        race = wrong > 0 or fields["final_shape"] != [ROWS, COLS]
    return finish(args, run, example="demo_patterns", race_observed=race,
                  text=describe(args.pattern, args.mode, fields),
                  pattern=args.pattern, mode=args.mode, sanitize=args.sanitize, **fields)


if __name__ == "__main__":
    sys.exit(main())
