"""Check the built book in a real browser: headless Chromium driven by Playwright.

    python -m ftbook.tools.browser docs/_build/html --screenshots docs/_build/screenshots

Serves the HTML folder on 127.0.0.1 and visits it as a reader would:

- every page loads with no console error, no uncaught exception, no failed
  request and no HTTP error; any request to another host is blocked and
  reported (the site must work offline and load nothing from third parties);
- the navigation sidebar reaches every chapter;
- the search page finds "PyArray_Repeat";
- every code cell has a copy button, every image has rendered
  (``naturalWidth > 0``), no cell output shows a Markdown table as raw text;
- a screenshot of each chapter is saved (``NAME.png``, the first screen, and
  ``NAME-full.png``, the whole page).

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
APT_TIMEOUT = 15 * 60
PAGE_TIMEOUT_MS = 30_000
VIEWPORT = {"width": 1280, "height": 900}
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


def content_pages(html: Path) -> list[str]:
    """Every page of the book but the home page and Sphinx's own (search, index of terms)."""
    generated = {"index.html", "search.html", "genindex.html", "py-modindex.html"}
    relative = (p.relative_to(html) for p in html.rglob("*.html"))
    return sorted(str(r) for r in relative if not r.parts[0].startswith("_") and str(r) not in generated)


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
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=str(chromium), headless=True, args=list(CHROMIUM_ARGS),
            viewport=VIEWPORT,
        )
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
        # A Markdown table in a cell's output that was rendered as plain text.
        outputs = page.eval_on_selector_all("div.cell_output", "els => els.map(e => e.innerText)")
        if any(RAW_TABLE.search(text) for text in outputs):
            result.problems.append("a cell output shows a Markdown table as text (|---| rows)")
        broken = page.eval_on_selector_all(
            "img", "imgs => imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")
        result.images = page.locator("img").count()
        result.problems += [f"image did not render: {src}" for src in broken]
        if screenshot is not None:  # what a reader sees first, and the whole page
            page.screenshot(path=str(screenshot))
            page.screenshot(path=str(screenshot.with_name(screenshot.stem + "-full.png")), full_page=True)
            result.screenshot = str(screenshot)
    except Exception as error:  # a timeout or a crash of the page is a finding, not the end of the check
        result.problems.append(f"could not check the page: {type(error).__name__}: {error}".splitlines()[0])
    finally:
        page.remove_listener("console", on_console)
        page.remove_listener("pageerror", on_page_error)
        page.remove_listener("requestfailed", on_failed)
        page.remove_listener("response", on_response)
    return result


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
