"""Check the built book in a real browser: headless Chromium driven by Playwright.

    python -m ftbook.tools.browser docs/_build/html --screenshots docs/_build/screenshots

Serves the HTML folder on 127.0.0.1 and visits it as a reader would:

- every page loads with no console error, no uncaught exception, no failed
  request and no HTTP error; any request to another host is blocked and
  reported (the site must work offline and load nothing from third parties);
- the navigation sidebar reaches every chapter;
- the search page finds "PyArray_Repeat";
- every code cell has a copy button, every image has rendered
  (``naturalWidth > 0``);
- no raw Markdown on the page (:func:`raw_markdown`): no table row shown as
  pipes, no ``**``, no cell output printing a Markdown table;
- the layout holds at 1,400 and 420 px wide (:func:`layout_problems`): a
  table or code block wider than the text column scrolls inside its own box,
  visibly, and is neither clipped nor drawn past the column; no page scrolls
  sideways. Closed dropdowns are opened first, as a reader would;
- a screenshot of each chapter is saved (``NAME.png``, the first screen, and
  ``NAME-full.png``, the whole page, at 1,400 px; ``NAME-420.png``, the first
  screen at 420 px).

Chromium is Debian's (``/usr/bin/chromium``), not a browser Playwright
downloads, which cannot be fetched on every machine. :func:`find_chromium`
installs it with apt when it is missing and we are root.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

from ftbook import ProvisionError

CHROMIUM_ENV_VAR = "FTBOOK_CHROMIUM"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# What the machines this runs on need: no GPU, no sandbox as root, and none
# of Chromium's own background traffic (updates, sync, field trials), which a
# closed network refuses and which is not the page's doing.
CHROMIUM_ARGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)
# Playwright hides scrollbars in headless Chromium: a table that scrolls
# would look clipped in the screenshots and measure as having no scrollbar.
# A reader's Chromium shows them, so this check does too.
PLAYWRIGHT_ARGS_DROPPED = ("--hide-scrollbars",)
APT_TIMEOUT = 15 * 60
PAGE_TIMEOUT_MS = 30_000
# The widths the book was read at (issue 26): a desktop window, a phone held upright.
WIDE, NARROW = 1400, 420
SCREEN_HEIGHT = 900
SEARCH_TERM = "PyArray_Repeat"
RAW_TABLE = re.compile(r"\|\s*[-\u2013\u2014]{1,3}\s*\|")  # |---| , or |—| after smart quotes


def find_chromium(*, install: bool = True, log: Callable[[str], None] = print) -> Path:
    """Chromium's executable: ``$FTBOOK_CHROMIUM``, then PATH, then apt-get (as root only)."""
    explicit = os.environ.get(CHROMIUM_ENV_VAR)
    if explicit:
        if not (shutil.which(explicit) or Path(explicit).is_file()):
            raise ProvisionError(f"${CHROMIUM_ENV_VAR} is set to {explicit!r}, which is not an executable")
        return Path(shutil.which(explicit) or explicit)
    for name in CHROMIUM_NAMES:
        if found := shutil.which(name):
            return Path(found)
    if not install:
        raise ProvisionError("no Chromium found on PATH (looked for " + ", ".join(CHROMIUM_NAMES) + ")")
    if not shutil.which("apt-get") or os.geteuid() != 0:
        raise ProvisionError(
            "no Chromium found, and it can only be installed automatically as root on Debian/Ubuntu.\n"
            "Install it (Debian: `sudo apt-get install chromium`) or set $FTBOOK_CHROMIUM to a Chromium "
            "or Chrome executable.")
    log("==> Chromium is not installed: installing Debian's chromium with apt-get (about a minute)")
    install_chromium = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]
    for command in (["apt-get", "update"], install_chromium):
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=APT_TIMEOUT,
                                  env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        except subprocess.TimeoutExpired:
            raise ProvisionError(f"{' '.join(command)}: no result after {APT_TIMEOUT} s") from None
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-10:])
            raise ProvisionError(f"{' '.join(command)} failed (exit {done.returncode}):\n{tail}")
    for name in CHROMIUM_NAMES:
        if found := shutil.which(name):
            log(f"==> installed {found}")
            return Path(found)
    raise ProvisionError("apt-get installed chromium, but no chromium executable is on PATH")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@contextlib.contextmanager
def serve(folder: Path) -> Iterator[str]:
    """Serve *folder* on 127.0.0.1 (a free port) in a thread; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@dataclasses.dataclass
class PageResult:
    path: str
    title: str = ""
    problems: list[str] = dataclasses.field(default_factory=list)
    code_cells: int = 0
    copy_buttons: int = 0
    images: int = 0
    screenshot: str | None = None


@dataclasses.dataclass
class SiteReport:
    pages: list[PageResult]
    chapters: list[str]  # every content page in the folder (chapters/*.html and the like)
    reached: list[str]  # those linked from the navigation sidebar
    search_hits: list[str]
    blocked: list[str]  # requests to other hosts, blocked

    @property
    def problems(self) -> list[str]:
        found = [f"{page.path}: {problem}" for page in self.pages for problem in page.problems]
        missing = sorted(set(self.chapters) - set(self.reached))
        if missing:
            found.append(f"not reachable from the navigation: {', '.join(missing)}")
        if not self.search_hits:
            found.append(f"search.html found nothing for {SEARCH_TERM!r}")
        found += [f"request to another host (blocked): {url}" for url in self.blocked]
        return found

    def summary(self) -> str:
        reached = f"{len(self.reached)}/{len(self.chapters)}"
        lines = [f"{len(self.pages)} pages, {reached} chapters reached from the "
                 f"navigation, search for {SEARCH_TERM!r}: {len(self.search_hits)} results"]
        for page in self.pages:
            lines.append(f"  {page.path}: {page.code_cells} code blocks, {page.copy_buttons} copy buttons, "
                         f"{page.images} images"
                         + (f", screenshot {page.screenshot}" if page.screenshot else ""))
        problems = self.problems
        lines.append(f"{len(problems)} problem(s)" + "".join(f"\n  - {p}" for p in problems))
        return "\n".join(lines)


# What the page measures in the browser, at the width it is shown at, in its
# article (the body, on a page without the theme). Every table and code block
# wider than the room it has, and whether that room scrolls, visibly: the
# first box around it that does not let it overflow (overflow-x other than
# visible) and is narrower than it. A box scrolls visibly when its scrollbar
# takes room and can be seen from the table's top: the box fits in one
# screen, or its edge shows a fade or shadow (mask-image, or a gradient
# background) where its content goes on. Without such a box the element is
# drawn past the text column: over the sidebar, or off the page. Then, when
# the document is wider than the window, the deepest elements that stick out
# of it, outside any box of their own.
LAYOUT_JS = r"""() => {
const root = document.querySelector('article.bd-article') || document.body;
const section = el => {
  const s = el.closest('section');
  const h = s && s.querySelector([1, 2, 3, 4, 5, 6].map(n => `:scope > h${n}`).join(', '));
  return h ? h.textContent.replace(/[#\u00b6]\s*$/, '').trim() : '';
};
const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
  + [...el.classList].slice(0, 2).map(c => '.' + c).join('');
const shown = el => el.getClientRects().length > 0;
const doc = document.documentElement;
const viewport = doc.clientWidth;
const px = v => parseFloat(v) || 0;
const column = root === document.body ? viewport : root.getBoundingClientRect().right;
const label = (el, index) => {
  if (el.tagName === 'TABLE') {
    const head = el.querySelector('tr');
    const cells = head ? [...head.children].map(c => c.textContent.trim()).filter(Boolean) : [];
    return `table ${index}` + (cells.length ? ` (columns: ${cells.join(', ')})` : '');
  }
  const first = (el.textContent.trim().split('\n')[0] || '').slice(0, 50);
  return `code block ${index}` + (first ? ` ("${first}")` : '');
};
const measure = el => {
  const rect = el.getBoundingClientRect();
  const need = rect.left + el.clientLeft + el.scrollWidth;
  const width = Math.round(need - rect.left);
  for (let box = el; box && box !== doc; box = box.parentElement) {
    const style = getComputedStyle(box);
    if (style.overflowX === 'visible') continue;
    const boxRect = box.getBoundingClientRect();
    const edge = boxRect.left + box.clientLeft + box.clientWidth;
    if (need <= edge + 1) continue;
    const found = {box: name(box), overflow: style.overflowX, hidden: Math.round(need - edge), width};
    if (style.overflowX !== 'auto' && style.overflowX !== 'scroll') return {...found, status: 'clipped'};
    const bar = box.offsetHeight - box.clientHeight - px(style.borderTopWidth) - px(style.borderBottomWidth);
    const mask = style.maskImage || style.webkitMaskImage || 'none';
    const fade = mask !== 'none' || style.backgroundImage.includes('gradient');
    const tall = boxRect.height > innerHeight;
    const seen = bar > 0 && (fade || !tall);
    return {...found, status: seen ? 'scrolls' : 'unseen', bar: Math.round(bar), fade, tall};
  }
  if (need > column + 1) {
    const room = Math.round(column - rect.left);
    return {status: 'overflows', hidden: Math.round(need - column), width, column: room};
  }
  return {status: 'fits'};
};
const counts = {TABLE: 0, PRE: 0};
const elements = [];
for (const el of root.querySelectorAll('table, pre')) {
  const index = ++counts[el.tagName];
  if (!shown(el)) continue;
  const found = measure(el);
  if (found.status !== 'fits') elements.push({...found, what: label(el, index), section: section(el)});
}
const extent = el => {
  const r = el.getBoundingClientRect();
  return getComputedStyle(el).overflowX === 'visible' ? Math.max(r.right, r.left + el.scrollWidth) : r.right;
};
const culprits = [];
const descend = el => {
  const wide = [...el.children].filter(c => shown(c) && getComputedStyle(c).position !== 'fixed'
                                          && extent(c) > viewport + 1);
  if (!wide.length) { culprits.push(el); return; }
  for (const c of wide) getComputedStyle(c).overflowX === 'visible' ? descend(c) : culprits.push(c);
};
if (doc.scrollWidth > viewport + 1) descend(document.body);
return {
  viewport, document: doc.scrollWidth, elements,
  culprits: culprits.map(el => ({
    what: name(el), section: section(el), right: Math.round(extent(el)),
    text: el.textContent.trim().replace(/\s+/g, ' ').slice(0, 50)})),
};
}"""

# What to do about a table or code block that does not fit.
_FIX = "let it scroll inside its own box (docs/_static/ftbook.css)"


def _where(found: dict) -> str:
    return f" in section {found['section']!r}" if found.get("section") else ""


def layout_problems(measured: dict, width: int) -> list[str]:
    """One line per offence in what :data:`LAYOUT_JS` measured at *width* px."""
    problems = []
    for found in measured["elements"]:
        what, hidden, total = found["what"] + _where(found), found["hidden"], found["width"]
        if found["status"] == "clipped":
            problems.append(f"at {width} px {what} is clipped: {hidden} of its {total} px are cut off by "
                            f"{found['box']} (overflow-x: {found['overflow']}); {_FIX}")
        elif found["status"] == "unseen":
            why = ("it has no scrollbar" if found["bar"] <= 0 else
                   "its scrollbar is below the screen and no fade or shadow marks its edge")
            problems.append(f"at {width} px {what} scrolls sideways with nothing to show it: {hidden} of "
                            f"its {total} px are out of sight in {found['box']}, and {why}; give the box "
                            "a visible scroll cue (docs/_static/ftbook.css)")
        elif found["status"] == "overflows":
            problems.append(f"at {width} px {what} runs {hidden} px past the text column (it is {total} px "
                            f"wide, the column {found['column']} px); {_FIX}")
    if measured["document"] > measured["viewport"] + 1:
        culprits = measured["culprits"]
        named = "; ".join(f"{c['what']}{_where(c)} ({c['text']!r}) reaches {c['right']} px"
                          for c in culprits[:3])
        more = f" and {len(culprits) - 3} more" if len(culprits) > 3 else ""
        problems.append(f"at {width} px the page scrolls sideways: it is {measured['document']} px wide, and "
                        f"the window shows {measured['viewport']} px of it; too wide: "
                        f"{named or 'no single element'}{more}; "
                        "make it wrap, or scroll inside its own box (docs/_static/ftbook.css)")
    return problems


def raw_markdown(page) -> list[str]:
    """Raw Markdown on the loaded *page*, one line per finding.

    In its text: the build's own rule (:func:`ftbook.build.sphinxext.raw_markdown`:
    a table row, ``**``), on the page as Chromium shows it, its scripts run.
    In a cell's printed output, which that rule leaves alone (pipes and ``**``
    there are often what was printed): a Markdown table's ``|---|`` line, a
    table printed instead of displayed.
    """
    # Imported here: it brings in Sphinx, which the rest of this module (serve, for one) does not need.
    from ftbook.build.sphinxext import raw_markdown as unrendered_markdown

    problems = [f"raw Markdown in the page's text: {line!r}; a blank line inside a Markdown table "
                "ends it, and a ** that does not pair up shows as text: fix the chapter's Markdown"
                for line in unrendered_markdown(page.content())]
    outputs = page.eval_on_selector_all("div.cell_output pre", "els => els.map(e => e.textContent)")
    for text in outputs:
        if match := RAW_TABLE.search(text):
            line = text[text.rfind("\n", 0, match.start()) + 1:].split("\n")[0].strip()
            problems.append(f"a cell output prints a Markdown table as text ({line[:60]!r}); "
                            "display it with IPython.display.Markdown")
    return problems


def content_pages(html: Path) -> list[str]:
    """Every page of the book but the home page and Sphinx's own (search, index of terms)."""
    generated = {"index.html", "search.html", "genindex.html", "py-modindex.html"}
    relative = (p.relative_to(html) for p in html.rglob("*.html"))
    return sorted(str(r) for r in relative if not r.parts[0].startswith("_") and str(r) not in generated)


def launch(playwright, chromium: Path, profile: str):
    """A persistent Chromium context, *WIDE* px wide, showing scrollbars as a reader's does."""
    return playwright.chromium.launch_persistent_context(
        profile, executable_path=str(chromium), headless=True, args=list(CHROMIUM_ARGS),
        ignore_default_args=list(PLAYWRIGHT_ARGS_DROPPED), viewport={"width": WIDE, "height": SCREEN_HEIGHT},
    )


def check_site(html: Path, screenshots: Path | None = None, *, chromium: Path | None = None,
               log: Callable[[str], None] = print) -> SiteReport:
    """Visit the book in *html* in headless Chromium; see the module docstring."""
    from playwright.sync_api import sync_playwright  # imported here: only this function needs it

    html = Path(html).resolve()
    if not (html / "index.html").is_file():
        raise ProvisionError(f"no built book in {html} (no index.html): build it first with `./nox -s docs`")
    chromium = chromium or find_chromium(log=log)
    chapters = content_pages(html)
    if screenshots is not None:
        screenshots.mkdir(parents=True, exist_ok=True)
    blocked: list[str] = []
    with serve(html) as base, sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
        host = urlsplit(base).netloc
        context = launch(playwright, chromium, profile)
        try:
            # Offline by construction: anything not from our server is blocked and reported.
            def route(route):
                url = route.request.url
                if urlsplit(url).netloc == host or url.startswith(("data:", "blob:", "about:")):
                    route.continue_()
                else:
                    blocked.append(url)
                    route.abort()

            context.route("**/*", route)
            page = context.new_page()
            index = _visit(page, base, "index.html", None)
            links = page.eval_on_selector_all("nav.bd-docs-nav a.reference.internal",
                                              "links => links.map(a => a.getAttribute('href'))")
            reached = sorted({href.split("#")[0] for href in links if href} & set(chapters))
            results = [index]
            for chapter in chapters:
                name = chapter.removesuffix(".html").replace("/", "-").removeprefix("chapters-")
                shot = screenshots / f"{name}.png" if screenshots is not None else None
                results.append(_visit(page, base, chapter, shot))
                log(f"    visited {chapter}")
            search = _visit(page, base, f"search.html?q={SEARCH_TERM}", None, wait_for_search=True)
            search.path = "search.html"
            results.append(search)
            hits = page.eval_on_selector_all("#search-results ul.search li a",
                                             "links => links.map(a => a.getAttribute('href'))")
        finally:
            context.close()
    return SiteReport(results, chapters, reached, hits, blocked)


def _visit(page, base: str, path: str, screenshot: Path | None, *,
           wait_for_search: bool = False) -> PageResult:
    result = PageResult(path)

    def on_console(message):
        if message.type == "error":
            result.problems.append(f"console error: {message.text}")

    def on_failed(request):
        if urlsplit(request.url).netloc == urlsplit(base).netloc:  # blocked external ones are reported apart
            result.problems.append(f"request failed: {request.url} ({request.failure})")

    def on_response(response):
        if response.status >= 400:
            result.problems.append(f"HTTP {response.status}: {response.url}")

    def on_page_error(error):
        result.problems.append(f"uncaught exception: {error}")

    page.on("console", on_console)
    page.on("pageerror", on_page_error)
    page.on("requestfailed", on_failed)
    page.on("response", on_response)
    try:
        # check_layout left the last page narrow.
        page.set_viewport_size({"width": WIDE, "height": SCREEN_HEIGHT})
        page.goto(base + path, wait_until="load", timeout=PAGE_TIMEOUT_MS)
        if wait_for_search:
            # Sphinx's search runs after load; it ends by writing a summary line.
            page.wait_for_function(
                "() => { const s = document.querySelector('#search-results .search-summary, "
                "#search-results p'); return s && s.textContent.trim().length > 0; }",
                timeout=PAGE_TIMEOUT_MS)
        page.wait_for_load_state("networkidle", timeout=PAGE_TIMEOUT_MS)
        result.title = page.title()
        result.code_cells = page.locator("div.highlight").count()
        result.copy_buttons = page.locator("div.highlight button.copybtn").count()
        if result.copy_buttons < result.code_cells:
            result.problems.append(f"{result.code_cells - result.copy_buttons} of {result.code_cells} code "
                                   "blocks have no copy button")
        result.problems += raw_markdown(page)
        broken = page.eval_on_selector_all(
            "img", "imgs => imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")
        result.images = page.locator("img").count()
        result.problems += [f"image did not render: {src}" for src in broken]
        result.problems += check_layout(page, screenshot)
        result.screenshot = str(screenshot) if screenshot is not None else None
    except Exception as error:  # a timeout or a crash of the page is a finding, not the end of the check
        result.problems.append(f"could not check the page: {type(error).__name__}: {error}".splitlines()[0])
    finally:
        page.remove_listener("console", on_console)
        page.remove_listener("pageerror", on_page_error)
        page.remove_listener("requestfailed", on_failed)
        page.remove_listener("response", on_response)
    return result


def check_layout(page, screenshot: Path | None = None) -> list[str]:
    """:func:`layout_problems` of the loaded *page* at its width (1,400 px), then loaded again at 420 px.

    With *screenshot*, saves what a reader sees first (``NAME.png``) and the
    whole page (``NAME-full.png``) at 1,400 px, and the first screen at 420 px
    (``NAME-420.png``). Each width is measured before its screenshots: a
    full-page screenshot hides the scrollbars for a while. The page is loaded
    again at 420 px, not resized: a page resized down and back keeps its
    primary sidebar folded away, and this way each width is what a reader who
    opens the page at it sees. The page is left at 420 px.
    """
    problems = layout_problems(measure_layout(page), WIDE)
    if screenshot is not None:
        page.screenshot(path=str(screenshot))
        page.screenshot(path=str(screenshot.with_name(f"{screenshot.stem}-full.png")), full_page=True)
    page.set_viewport_size({"width": NARROW, "height": SCREEN_HEIGHT})
    page.reload(wait_until="load", timeout=PAGE_TIMEOUT_MS)
    page.wait_for_load_state("networkidle", timeout=PAGE_TIMEOUT_MS)
    problems += layout_problems(measure_layout(page), NARROW)
    if screenshot is not None:
        page.screenshot(path=str(screenshot.with_name(f"{screenshot.stem}-{NARROW}.png")))
    return problems


def measure_layout(page) -> dict:
    """:data:`LAYOUT_JS` with every dropdown open (a reader opens them), closed again after."""
    closed = page.evaluate_handle("() => [...document.querySelectorAll('details:not([open])')]")
    page.evaluate("closed => closed.forEach(d => { d.open = true; })", closed)
    _settle(page)
    measured = page.evaluate(LAYOUT_JS)
    page.evaluate("closed => closed.forEach(d => { d.open = false; })", closed)
    _settle(page)
    closed.dispose()
    return measured


def _settle(page) -> None:
    """Wait two frames: the layout after a change, then the scroll-driven styles that follow it."""
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ftbook.tools.browser",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("html", type=Path, help="the built book, e.g. docs/_build/html")
    parser.add_argument("--screenshots", type=Path, default=None,
                        help="save a screenshot of each chapter here")
    args = parser.parse_args(argv)
    try:
        report = check_site(args.html, args.screenshots)
    except ProvisionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(report.summary())
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
