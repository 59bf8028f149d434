"""Tables and figures made from outcomes, for the chapters' output cells."""

from __future__ import annotations


def counted(n: int, thing: str) -> str:
    """``counted(1, "run")`` -> ``"1 run"``; ``counted(3, "run")`` -> ``"3 runs"``."""
    return f"{n} {thing}{'' if n == 1 else 's'}"


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


EVIDENCE_TITLE = "The build's evidence: "  # every dropdown of it says so (docs/chapters/contributing.md)


def collapsed(title: str, body: str):
    """*body* (Markdown) in a dropdown titled *title*, closed until the reader opens it, for a cell's output.

    For what a reader looks things up in rather than reads on arrival: a
    table of more than a screenful, a full report.
    """
    from IPython.display import Markdown

    fence = ":" * max(4, 1 + max((len(run) for run in _colon_runs(body)), default=0))
    return Markdown(f"{fence}{{dropdown}} {title}\n:icon: table\n\n{body}\n{fence}")


def evidence(title: str, body: str):
    """:func:`collapsed`, titled as the build's evidence.

    What the build checked or added (a SHA-256, an exact command, a cache
    path) belongs one click away, not in the sentence a reader is following.
    """
    return collapsed(EVIDENCE_TITLE + title, body)


def download_anchor(text: str, filename: str, *, mime: str = "text/plain", label: str | None = None) -> str:
    """HTML: a link the reader's browser saves as *filename*, holding *text* (a data: URL, so cached
    outputs keep it), labelled *label* (the file's name unless given)."""
    import base64
    import html

    data = base64.b64encode(text.encode()).decode()
    return (f'<a download="{html.escape(filename)}" href="data:{mime};charset=utf-8;base64,{data}">'
            f"{html.escape(label) if label else f'<code>{html.escape(filename)}</code>'}</a>")


def download_link(text: str, filename: str, *, mime: str = "text/plain"):
    """:func:`download_anchor` as a cell's output, with the file's length in lines."""
    from IPython.display import HTML

    return HTML(f"{download_anchor(text, filename, mime=mime)} ({len(text.splitlines())} lines)")


def _colon_runs(text: str) -> list[str]:
    """The runs of three or more colons opening a line of *text*: nested fences the dropdown must outlast."""
    import re

    return re.findall(r"^:{3,}", text, re.M)


def how_it_ended(outcome) -> str:
    """How a run ended, and the first error a thread reported, without its message (it may be garbage)."""
    said = outcome.describe()
    errors = (outcome.summary or {}).get("worker_errors") or []
    if errors:
        worker, kind = errors[0].split(": ")[:2]
        said += f"; {worker} raised {kind}"
    return said


def plot_timeline(ax, events: list[dict], *, title: str, window: tuple[str, str] | None = None) -> None:
    """Draw recorded events as a per-thread timeline on *ax*.

    *events* are dicts with ``t_ns``, ``thread`` and ``event`` (what the
    examples' ``--json`` summaries record). Events are spaced evenly in the
    order they happened, each labelled with its measured time: thread start-up
    takes milliseconds and the window microseconds, so a linear time axis would
    squash the part that matters into one point. *window*, a pair of
    substrings, shades the span from the first event containing the first to
    the first event containing the second: the time the shared state was wrong.
    """
    events = sorted(events, key=lambda e: e["t_ns"])
    threads = list(dict.fromkeys(e["thread"] for e in events))  # lanes in order of appearance
    lane = {name: len(threads) - 1 - i for i, name in enumerate(threads)}
    if window is not None:
        start = next(i for i, e in enumerate(events) if window[0] in e["event"])
        end = next(i for i, e in enumerate(events) if window[1] in e["event"])
        ax.axvspan(start, end, color="tab:red", alpha=0.12, label="shared dims hold the wrong length")
        ax.legend(loc="upper right", fontsize=8, frameon=False)
    previous_x: dict[str, int] = {}  # each thread's last event so far
    for x, e in enumerate(events):
        y = lane[e["thread"]]
        if e["thread"] in previous_x:  # a line from this thread's previous event: it was busy or waiting
            ax.plot([previous_x[e["thread"]], x], [y, y], color="0.7", linewidth=1, zorder=0)
        previous_x[e["thread"]] = x
        ax.plot([x], [y], "o", color="tab:red" if "->" in e["event"] else "tab:blue", markersize=6)
        ax.annotate(f"{e['event']}\n{e['t_ns'] / 1e6:.3f} ms", (x, y), xytext=(0, -10),
                    textcoords="offset points", ha="center", va="top", fontsize=7.5)
    ax.set_yticks(list(lane.values()), list(lane))
    ax.set_ylim(-1.0, len(threads) - 0.6)
    ax.set_xlim(-0.7, len(events) - 0.1)
    ax.set_xticks([])
    ax.set_title(title, loc="left", fontsize=10)
    ax.spines[["top", "right", "bottom"]].set_visible(False)
