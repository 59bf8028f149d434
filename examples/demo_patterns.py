"""Mutate-restore versus copy-modify of array metadata, shown with a small C extension.

metadata_demo.c (next to this script) rebuilds the shape of NumPy's
PyArray_Repeat before and after the fix for numpy/numpy#28197: the pre-fix
code wrote the result's length into the *input* array's dims, allocated the
result, and wrote the old length back ("mutate-restore"); the fix edits a
local copy of the dims ("copy-modify"). The script compiles the extension on
first use with the running interpreter's headers and NumPy's, then runs one
of two experiments on a shared C-contiguous (4, 3) array, repeated 5 times
along axis 0:

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
in one folder.

Exit status: 0 nothing wrong was seen, 1 a race was observed, 2 bad arguments
or the extension could not be built or loaded, 3 the time limit ran out first;
a crash kills the process with a signal (SIGSEGV, SIGABRT).

    python demo_patterns.py --pattern mutate-restore --json
    python demo_patterns.py --pattern mutate-restore --mode stress --threads 4
"""

import argparse
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

SOURCE = Path(__file__).resolve().with_name("metadata_demo.c")
MODULE = "metadata_demo"
FUNCTIONS = {"mutate-restore": "repeat_mutate_restore", "copy-modify": "repeat_copy_modify"}
ROWS, COLS, REPEATS, AXIS = 4, 3, 5, 0
COMPILE_TIMEOUT = 300  # seconds; a TSAN build of this one file takes a few


# Argument checks that exit 2 with one line. Repeated on purpose in each
# single-file example, so that any one of them runs alone when copied.
def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, not {text!r}")
    return value


def positive_float(text):
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text!r}")
    return value


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2: no usage dump for a typo
        self.exit(2, f"{self.prog}: error: {message}\n")


def parse_args(argv=None):
    parser = Parser(description=__doc__.split("\n\n")[0], epilog="Exit 0: clean; 1: race observed; "
                    "2: bad arguments or build failure; 3: time limit; killed by a signal: crashed.")
    parser.add_argument("--pattern", choices=sorted(FUNCTIONS), default="copy-modify",
                        help="which demo function to call (default copy-modify, the safe one)")
    parser.add_argument("--mode", choices=["forced", "stress"], default="forced",
                        help="forced: one deterministic interleaving; stress: many threads in a loop "
                        "(default forced)")
    parser.add_argument("--threads", type=positive_int, default=2,
                        help="stress mode: worker threads, at least 2 (default 2)")
    parser.add_argument("--iterations", type=positive_int, default=20000,
                        help="stress mode: calls per thread (default 20000)")
    parser.add_argument("--timeout", type=positive_float, default=60.0,
                        help="give up after this many seconds (default 60; compiling not included)")
    parser.add_argument("--json", action="store_true", help="print one JSON summary line at the end")
    parser.add_argument("--build-dir", type=Path, default=None,
                        help="where to build and load the extension (default: a per-user cache folder)")
    parser.add_argument("--sanitize", choices=["thread"], default=None,
                        help="build with -fsanitize=thread (needs a --with-thread-sanitizer CPython)")
    parser.add_argument("--build-only", action="store_true", help="build the extension, print its path, exit")
    args = parser.parse_args(argv)
    if args.mode == "stress" and args.threads < 2:
        parser.error(f"argument --threads: stress mode needs at least 2 threads, not {args.threads}")
    return args


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


def forced(function, pattern, timeout):
    """One caller, one reader, the reader looking while the caller is inside the window."""
    shared = np.arange(ROWS * COLS).reshape(ROWS, COLS)  # C-contiguous: the case that raced
    expected = np.repeat(shared, REPEATS, axis=AXIS)  # computed before any thread starts
    n, total = shared.shape[AXIS], shared.shape[AXIS] * REPEATS
    window_open, reader_done = threading.Event(), threading.Event()
    events, seen = [], {}

    def record(text):
        events.append((time.perf_counter_ns(), threading.current_thread().name, text))

    def callback():  # runs inside the C function, between "write" and "restore"
        record(f"dims[{AXIS}] = {total} written" if pattern == "mutate-restore"
               else f"local dims[{AXIS}] = {total}")
        window_open.set()
        if not reader_done.wait(timeout):
            record("gave up waiting for the reader")

    def caller():
        record("call enters")
        try:
            result = function(shared, REPEATS, axis=AXIS, callback=callback)
        except Exception as exc:  # reported in the summary, not a traceback on a thread
            record(f"raises {type(exc).__name__}: {exc}")
            return
        seen["result_ok"] = result.shape == expected.shape and np.array_equal(result, expected)
        seen["result_shape"] = result.shape
        record(f"dims[{AXIS}] = {n} restored, returns shape {result.shape}" if pattern == "mutate-restore"
               else f"returns shape {result.shape}")

    def reader():
        record("waits for the window")
        if not window_open.wait(timeout):
            record("gave up waiting for the window")
            return
        seen["reader_saw"] = shared.shape
        record(f"reads shape -> {seen['reader_saw']}")
        reader_done.set()

    started = time.monotonic()
    deadline = started + timeout
    pool = [threading.Thread(target=reader, name="reader", daemon=True),
            threading.Thread(target=caller, name="caller", daemon=True)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(max(0.0, deadline - time.monotonic()) + 5)
    first = min(t for t, _, _ in events)
    return {
        "expected_shape": [ROWS, COLS],
        "reader_saw": list(seen["reader_saw"]) if "reader_saw" in seen else None,
        "result_shape": list(seen["result_shape"]) if "result_shape" in seen else None,
        "result_ok": seen.get("result_ok", False),
        "final_shape": list(shared.shape),
        "seconds": round(time.monotonic() - started, 3),
        "timed_out": "reader_saw" not in seen or any(t.is_alive() for t in pool),
        "events": [{"t_ns": t - first, "thread": name, "event": text} for t, name, text in sorted(events)],
    }


def stress(function, threads, iterations, timeout):
    """Many threads call the function on one shared array; count what comes back wrong."""
    shared = np.arange(ROWS * COLS).reshape(ROWS, COLS)
    expected = np.repeat(shared, REPEATS, axis=AXIS)
    # Fill NumPy's ufunc dispatch cache before the threads start: filling it
    # concurrently is NumPy's business and only adds ThreadSanitizer noise.
    np.array_equal(expected, expected)
    start = threading.Barrier(threads)
    deadline = time.monotonic() + timeout
    counts = [{"calls": 0, "wrong_shapes": 0, "wrong_values": 0, "errors": 0} for _ in range(threads)]

    def worker(mine):
        try:
            start.wait(timeout)  # all threads call the function together
        except threading.BrokenBarrierError:
            return
        for _ in range(iterations):
            if time.monotonic() > deadline:
                return
            mine["calls"] += 1
            try:
                result = function(shared, REPEATS, axis=AXIS)
            except Exception:  # e.g. MemoryError once a wrong length stuck and grew
                mine["errors"] += 1
                continue
            if result.shape != expected.shape:
                mine["wrong_shapes"] += 1
            elif not np.array_equal(result, expected):
                mine["wrong_values"] += 1

    pool = [threading.Thread(target=worker, args=(c,), name=f"worker-{i}", daemon=True)
            for i, c in enumerate(counts)]
    started = time.monotonic()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(max(0.0, deadline - time.monotonic()) + 5)
    totals = {key: sum(c[key] for c in counts) for key in counts[0]}
    totals["final_shape"] = list(shared.shape)  # a restore racing a write can leave it wrong for good
    totals["seconds"] = round(time.monotonic() - started, 3)
    totals["timed_out"] = totals["calls"] < threads * iterations
    return totals


# ---------------------------------------------------------------- main


def print_forced(summary):
    for event in summary["events"]:
        print(f"{event['t_ns'] / 1e6:10.3f} ms  {event['thread']:<7} {event['event']}")
    saw = summary["reader_saw"]
    verdict = ("the reader never looked" if saw is None
               else f"the reader saw shape {tuple(saw)} of a {(ROWS, COLS)} array: "
               + ("race observed" if summary["race_observed"] else "no race"))
    print(f"{summary['pattern']}: {verdict} (NumPy {summary['numpy']}, "
          f"GIL {'on' if summary['gil_enabled'] else 'off'})")


def print_stress(summary):
    gil = "on" if summary["gil_enabled"] else "off"
    print(f"{summary['calls']} calls of {FUNCTIONS[summary['pattern']]} on {summary['threads']} threads in "
          f"{summary['seconds']} s (NumPy {summary['numpy']}, GIL {gil}): "
          f"{summary['wrong_shapes']} wrong shapes, {summary['wrong_values']} wrong values, "
          f"{summary['errors']} errors, shared array left with shape {tuple(summary['final_shape'])}")


def main(argv=None):
    args = parse_args(argv)
    prog = Path(sys.argv[0]).name
    try:
        path = build(args.build_dir or default_build_dir(args.sanitize), args.sanitize)
        if args.build_only:
            print(path)
            return 0
        function = getattr(load(path, args.sanitize), FUNCTIONS[args.pattern])
    except BuildError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    summary = {
        "example": "demo_patterns",
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        # checked after loading the extension: its Py_mod_gil slot must keep the GIL off
        "gil_enabled": sys._is_gil_enabled() if hasattr(sys, "_is_gil_enabled") else True,
        "pattern": args.pattern,
        "mode": args.mode,
        "sanitize": args.sanitize,
    }
    if args.mode == "forced":
        summary.update(forced(function, args.pattern, args.timeout))
        summary["race_observed"] = summary["reader_saw"] not in (None, [ROWS, COLS])
    else:
        summary.update(threads=args.threads, iterations=args.iterations)
        summary.update(stress(function, args.threads, args.iterations, args.timeout))
        summary["race_observed"] = (summary["wrong_shapes"] + summary["wrong_values"] + summary["errors"] > 0
                                    or summary["final_shape"] != [ROWS, COLS])
    if args.json:
        print(json.dumps(summary), flush=True)
    elif args.mode == "forced":
        print_forced(summary)
    else:
        print_stress(summary)
    if summary["race_observed"]:
        return 1
    return 3 if summary["timed_out"] else 0


if __name__ == "__main__":
    sys.exit(main())
