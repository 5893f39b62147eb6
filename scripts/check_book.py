#!/usr/bin/env python3
"""Check a built book the way a reader without network sees it.

    python scripts/check_book.py _build/html            # every page, in headless Chromium
    python scripts/check_book.py _build/html --no-browser   # static HTML only (no typesetting)

Each page is opened in Debian's ``chromium`` (headless, network blocked: every host name
resolves to nothing and every request goes to a closed local port) with a virtual-time budget,
and the DOM it ends with is counted:

``math``      formula sources on the page (Sphinx ``span/div.math``, from the static HTML)
``typeset``   formulas MathJax typeset in the browser (``mjx-container`` elements)
``raw``       TeX left untypeset in the text (``\\(``, ``\\[``, ``$$``, ``\\begin{``)   -> failure
``img_bad``   ``<img>`` whose file is missing or empty, or remote (no network)       -> failure
``tqdm``      output lines with tqdm bar text (``%|``, ``it/s]``, ``[00:01<``) or widget reprs -> failure
``tb``        Python tracebacks in outputs                                           -> failure
``tqdm_warn`` ``TqdmWarning`` in outputs                                             -> failure
``tf_noise``  TensorFlow/absl start-up lines in outputs                              -> failure
``empty``     output boxes with no text and no image                                 -> failure
``widget``    Jupyter widget outputs (a progress bar left as a widget shows nothing)  -> failure
``remote``    scripts or style sheets loaded from the network (they fail offline)    -> failure
``stderr``    stderr output boxes (reported, not a failure)
``mathjax``   where the page loads MathJax from: ``local``, ``remote`` (-> failure) or ``-``

Prints one row per page and exits 1 when any page fails (2 when Chromium is missing).
The counting functions take HTML strings, so tests can feed them handmade pages.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

from bs4 import BeautifulSoup

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-default-apps", "--mute-audio",
    # no network: no name resolves, and whatever would still connect goes to a closed port
    "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
    "--allow-file-access-from-files",
]
FAILURES = ("raw", "img_bad", "tqdm", "tb", "tqdm_warn", "tf_noise", "empty", "widget", "remote")
COLUMNS = ("math", "typeset") + FAILURES + ("stderr", "mathjax")

TQDM_RE = re.compile(
    r"\d+%\|"                              # '45%|████'
    r"|\[\d+:\d+(?::\d+)?<"                # '[00:01<00:03'
    r"|[\d.?]+[A-Za-z]*/s\]"               # '12.3it/s]', '?clip/s]'
    r"|\d+(?:\.\d+)?s/[A-Za-z]+\]"         # '1.23s/it]'
    r"|(?:Float|Int)Progress\(|HBox\(children="  # widget bars rendered as their text repr
)
RAW_MATH_RE = re.compile(r"\\\(|\\\[|\$\$|\\begin\{")
TRACEBACK_RE = re.compile(r"Traceback \(most recent call last\)")
TF_NOISE_RE = re.compile(r"absl::InitializeLog|oneDNN custom operations|cpu_feature_guard|"
                         r"This TensorFlow binary is optimized|Unable to register cu(?:DNN|FFT|BLAS) factory")
MEDIA_TAGS = ("img", "svg", "canvas", "iframe", "video", "audio", "table", "object", "embed", "math",
              "mjx-container")
#: elements whose text is code or machinery, not prose that MathJax should have typeset
NOT_PROSE = ("script", "style", "pre", "code", "textarea", "noscript", "mjx-container", "mjx-assistive-mml")


def _soup(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def _outputs(soup: BeautifulSoup) -> list:
    """The notebook output areas of a page (MyST-NB ``div.cell_output``)."""
    return soup.select("div.cell_output")


def _output_lines(soup: BeautifulSoup) -> list[str]:
    return [ln for box in _outputs(soup) for ln in box.get_text("\n").splitlines()]


def count_math_sources(html: str) -> int:
    """Formulas Sphinx wrote into the page (inline ``span.math`` and display ``div.math``)."""
    return len(_soup(html).select("span.math, div.math"))


def count_typeset(html: str) -> int:
    """Formulas typeset by MathJax 3 (one ``mjx-container`` each)."""
    return len(_soup(html).find_all("mjx-container"))


def count_raw_math(html: str) -> int:
    """Pieces of TeX left as text (outside code, scripts and typeset formulas)."""
    soup = _soup(html)
    for tag in soup.find_all(NOT_PROSE):
        tag.decompose()
    for tag in soup.select("div.cell_input"):
        tag.decompose()
    return len(RAW_MATH_RE.findall(soup.get_text(" ")))


def count_tqdm(html: str) -> int:
    """Output lines that show a tqdm bar (text or widget repr)."""
    return sum(1 for ln in _output_lines(_soup(html)) if TQDM_RE.search(ln))


def count_tracebacks(html: str) -> int:
    return sum(len(TRACEBACK_RE.findall(box.get_text())) for box in _outputs(_soup(html)))


def count_tqdm_warnings(html: str) -> int:
    return sum(box.get_text().count("TqdmWarning") for box in _outputs(_soup(html)))


def count_tf_noise(html: str) -> int:
    return sum(1 for ln in _output_lines(_soup(html)) if TF_NOISE_RE.search(ln))


def count_stderr(html: str) -> int:
    return len(_soup(html).select("div.cell_output div.stderr"))


def _has_content(tag) -> bool:
    return bool(tag.get_text().strip()) or tag.find(MEDIA_TAGS) is not None or tag.name in MEDIA_TAGS


def count_empty_outputs(html: str) -> int:
    """Output boxes a reader sees with nothing in them: an output area with no text and no
    media, or one of its ``div.output`` boxes (stream, stderr, text) that is blank."""
    n = 0
    for box in _outputs(_soup(html)):
        if not _has_content(box):
            n += 1
            continue
        n += sum(1 for sub in box.select("div.output") if not _has_content(sub))
    return n


def count_widgets(html: str) -> int:
    """Jupyter widget views in the outputs (MyST-NB writes a ``<script type=
    "application/vnd.jupyter.widget-view+json">`` placeholder for each)."""
    return sum(len(box.select('script[type="application/vnd.jupyter.widget-view+json"]'))
               for box in _outputs(_soup(html)))


def _is_remote(url: str) -> bool:
    return urlsplit(url).scheme in ("http", "https") or url.startswith("//")


def remote_assets(html: str) -> list[str]:
    """Scripts and style sheets the page loads from the network."""
    soup = _soup(html)
    urls = [s.get("src", "") for s in soup.find_all("script") if s.get("src")]
    urls += [ln.get("href", "") for ln in soup.find_all("link")
             if "stylesheet" in (ln.get("rel") or []) and ln.get("href")]
    return [u for u in urls if _is_remote(u)]


def bad_images(html: str, page: Path | None = None) -> list[str]:
    """``src`` of each ``<img>`` that cannot show: remote (no network), an empty ``data:`` URI,
    or a local file that is missing or empty (resolved against ``page``'s folder)."""
    bad = []
    for img in _soup(html).find_all("img"):
        src = (img.get("src") or "").strip()
        if not src:
            bad.append("(no src)")
            continue
        if src.startswith("data:"):
            if not src.split(",", 1)[-1].strip():
                bad.append(src[:40])
            continue
        parts = urlsplit(src)
        if _is_remote(src):
            bad.append(src)
            continue
        if page is None:
            continue
        path = Path(unquote(parts.path)) if parts.scheme == "file" else page.parent / unquote(parts.path)
        if not path.is_file() or path.stat().st_size == 0:
            bad.append(src)
    return bad


def mathjax_source(html: str) -> str:
    """``local`` or ``remote`` for the MathJax ``<script>`` of a page, ``-`` when it has none."""
    srcs = [s.get("src", "") for s in _soup(html).find_all("script") if "mathjax" in s.get("src", "").lower()]
    if not srcs:
        return "-"
    return "remote" if any(_is_remote(s) for s in srcs) else "local"


def check_page(static_html: str, dom_html: str | None, page: Path | None = None) -> dict:
    """All the counts of one page: ``static_html`` is the file as built, ``dom_html`` the DOM
    after the browser ran the page's scripts (``None``: no browser, typesetting not judged)."""
    dom = dom_html if dom_html is not None else static_html
    row = {
        "math": count_math_sources(static_html),
        "typeset": count_typeset(dom_html) if dom_html is not None else "-",
        "raw": count_raw_math(dom_html) if dom_html is not None else 0,
        "img_bad": len(bad_images(static_html, page)),
        "tqdm": count_tqdm(dom),
        "tb": count_tracebacks(dom),
        "tqdm_warn": count_tqdm_warnings(dom),
        "tf_noise": count_tf_noise(dom),
        "empty": count_empty_outputs(dom),
        "widget": count_widgets(static_html),
        "remote": len(remote_assets(static_html)),
        "stderr": count_stderr(dom),
        "mathjax": mathjax_source(static_html),
    }
    return row


def failed(row: dict) -> list[str]:
    why = [k for k in FAILURES if isinstance(row.get(k), int) and row[k] > 0]
    if row.get("mathjax") == "remote":
        why.append("mathjax")
    if row.get("error"):
        why.append("browser")
    return why


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        exe = shutil.which(name)
        if exe:
            return exe
    return None


def dump_dom(chromium: str, page: Path, budget_ms: int = 10000, timeout: float = 120) -> str:
    """The DOM of ``page`` after ``budget_ms`` of virtual time in headless Chromium, offline."""
    with tempfile.TemporaryDirectory(prefix="check-book-") as profile:
        cmd = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--virtual-time-budget={budget_ms}",
               "--dump-dom", page.resolve().as_uri()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "HOME": profile})
    if proc.returncode != 0 or "<html" not in proc.stdout.lower():
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"chromium exit {proc.returncode} on {page}: {tail}")
    return proc.stdout


def book_pages(root: Path) -> list[Path]:
    """Every HTML page of the book (not Sphinx's ``_static``/``_sources``/``_images`` folders)."""
    return sorted(p for p in root.rglob("*.html")
                  if not any(part.startswith("_") for part in p.relative_to(root).parts[:-1]))


def format_table(rows: dict[str, dict]) -> str:
    cols = list(COLUMNS)
    width = max([len("page")] + [len(k) for k in rows])
    head = f"{'page':<{width}}  " + "  ".join(f"{c:>{max(len(c), 6)}}" for c in cols) + "  result"
    lines = [head, "-" * len(head)]
    for name, row in rows.items():
        why = failed(row)
        cells = "  ".join(f"{str(row.get(c, '')):>{max(len(c), 6)}}" for c in cols)
        lines.append(f"{name:<{width}}  {cells}  " + ("FAIL: " + ", ".join(why) if why else "ok"))
        if row.get("error"):
            lines.append(f"{'':<{width}}  {row['error']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("html_dir", nargs="?", default="_build/html", help="the built book (default _build/html)")
    ap.add_argument("--no-browser", action="store_true",
                    help="count the static HTML only (no Chromium; typesetting is not judged)")
    ap.add_argument("--budget-ms", type=int, default=10000, help="Chromium virtual-time budget per page")
    args = ap.parse_args(argv)
    root = Path(args.html_dir)
    pages = book_pages(root) if root.is_dir() else []
    if not pages:
        print(f"check_book: no HTML pages under {root}", file=sys.stderr)
        return 1
    chromium = None
    if not args.no_browser:
        chromium = find_chromium()
        if chromium is None:
            print("check_book: chromium not found (apt-get install chromium), or use --no-browser",
                  file=sys.stderr)
            return 2
    t0 = time.perf_counter()
    rows: dict[str, dict] = {}
    for page in pages:
        static = page.read_text(encoding="utf-8", errors="replace")
        dom, error = None, None
        if chromium:
            try:
                dom = dump_dom(chromium, page, args.budget_ms)
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                error = str(e)
        row = check_page(static, dom, page)
        if error:
            row["error"] = error
        rows[page.relative_to(root).as_posix()] = row
    print(format_table(rows))
    bad = [name for name, row in rows.items() if failed(row)]
    mode = "static HTML" if args.no_browser else "headless Chromium, network blocked"
    print(f"\n{len(pages)} pages checked ({mode}) in {time.perf_counter() - t0:.1f} s: "
          + (f"{len(bad)} failed" if bad else "all ok"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
