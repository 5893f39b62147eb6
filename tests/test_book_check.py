"""scripts/check_book.py's counting on tiny handmade pages (fast: no Chromium, no build), and
mer_helpers.chain.book's Sphinx-warning filter."""
from __future__ import annotations

from pathlib import Path

import pytest
from synthetic import load_script

cb = load_script("check_book")


def page(body: str, head: str = "") -> str:
    return f"<html><head>{head}</head><body><main>{body}</main></body></html>"


def out(*boxes: str) -> str:
    """A MyST-NB output area holding ``boxes``."""
    return '<div class="cell_output docutils container">' + "".join(boxes) + "</div>"


def stream(text: str, kind: str = "stream") -> str:
    return (f'<div class="output {kind} highlight-myst-ansi notranslate"><div class="highlight">'
            f"<pre><span></span>{text}</pre></div></div>")


STATIC_MATH = page('<p>Loss <span class="math notranslate nohighlight">\\(x^2\\)</span>.</p>'
                   '<div class="math notranslate nohighlight">\\[ y = \\sum_i x_i \\]</div>')
TYPESET_MATH = page('<p>Loss <mjx-container class="MathJax" jax="CHTML"><mjx-math>x</mjx-math>'
                    '<mjx-assistive-mml><math><mi>x</mi></math></mjx-assistive-mml></mjx-container>.</p>'
                    '<div class="math"><mjx-container display="true"><mjx-math>y</mjx-math></mjx-container></div>')


def test_math_sources_typeset_and_raw():
    assert cb.count_math_sources(STATIC_MATH) == 2
    assert cb.count_typeset(STATIC_MATH) == 0
    assert cb.count_raw_math(STATIC_MATH) == 2        # \( and \[ left as text
    assert cb.count_typeset(TYPESET_MATH) == 2
    assert cb.count_raw_math(TYPESET_MATH) == 0
    assert cb.count_raw_math(page("<p>$$a$$ and \\begin{align} b</p>")) == 3  # $$ twice, \begin{
    # code, scripts and notebook inputs may show TeX on purpose
    assert cb.count_raw_math(page("<pre>$$x$$</pre><code>\\(y\\)</code><script>var a='$$';</script>"
                                  '<div class="cell_input"><p>\\(z\\)</p></div>')) == 0


def test_tqdm_lines_and_warnings():
    html = page(out(stream("probing clips:   0%|          | 0/480 [00:00&lt;?, ?clip/s]\n", "stderr"),
                    stream("probing clips: 100%|██████████| 480/480 [00:00&lt;00:00, 6353.14clip/s]\n", "stderr"),
                    stream("/x/tqdm/auto.py:21: TqdmWarning: IProgress not found. Please update\n", "stderr")))
    assert cb.count_tqdm(html) == 2
    assert cb.count_tqdm_warnings(html) == 1
    assert cb.count_stderr(html) == 3
    slow = page(out(stream("fit:  40%|####      | 2/5 [00:04&lt;00:06,  2.10s/epoch]")))
    assert cb.count_tqdm(slow) == 1
    widget = page(out('<div class="output text_plain"><pre>HBox(children=(HTML(value=\'\'), '
                      'FloatProgress(value=0.0, max=5.0)))</pre></div>'))
    assert cb.count_tqdm(widget) == 1
    # a plain summary line and prose outside outputs are fine
    ok = page("<p>3-7 images/s when the cores are shared; 45% of clips</p>"
              + out(stream("frames: 480 clips in 91.4 s\n")))
    assert cb.count_tqdm(ok) == 0 and cb.count_tqdm_warnings(ok) == 0


def test_tracebacks_and_tf_noise():
    tb = ("---------------------------------------------------------------------------\n"
          "ValueError                                Traceback (most recent call last)\n"
          "Cell In[3], line 1\n----> 1 raise ValueError('x')\n")
    assert cb.count_tracebacks(page(out(stream(tb, "traceback")))) == 1
    assert cb.count_tracebacks(page("<p>Python prints Traceback (most recent call last) on errors</p>")) == 0
    noise = ("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
             "I0000 00:00:1796046929.243128 4538 port.cc:153] oneDNN custom operations are on.\n")
    assert cb.count_tf_noise(page(out(stream(noise, "stderr")))) == 2


def test_empty_output_boxes():
    assert cb.count_empty_outputs(page(out())) == 1                        # an empty area
    assert cb.count_empty_outputs(page(out(stream("\n"), stream("x")))) == 1   # one blank box
    assert cb.count_empty_outputs(page(out('<div class="output text_plain"><pre> </pre></div>'))) == 1
    full = page(out(stream("frames: 480 clips in 91.4 s")) + out('<img src="a.png"/>')
                + out('<div class="output text_html"><table><tr><td></td></tr></table></div>'))
    assert cb.count_empty_outputs(full) == 0


def test_widgets_and_remote_assets():
    html = page(out('<script type="application/vnd.jupyter.widget-view+json">{"model_id": "0e"}</script>'
                    + stream("48 usable clips")),
                '<script src="https://cdnjs.cloudflare.com/ajax/libs/require.js/2.3.4/require.min.js"></script>'
                '<link rel="stylesheet" href="//fonts.example.org/a.css"/><link rel="stylesheet" href="_static/b.css"/>'
                '<script src="_static/local.js"></script>')
    assert cb.count_widgets(html) == 1
    assert cb.remote_assets(html) == ["https://cdnjs.cloudflare.com/ajax/libs/require.js/2.3.4/require.min.js",
                                      "//fonts.example.org/a.css"]
    row = cb.check_page(html, html)
    assert {"widget", "remote"} <= set(cb.failed(row))


def test_bad_images(tmp_path):
    (tmp_path / "_images").mkdir()
    (tmp_path / "_images" / "ok.png").write_bytes(b"\x89PNG....")
    (tmp_path / "_images" / "empty.png").write_bytes(b"")
    (tmp_path / "notebooks").mkdir()
    html = page('<img src="../_images/ok.png"/><img src="../_images/empty.png"/>'
                '<img src="../_images/missing.png"/><img src="https://example.org/x.png"/>'
                '<img src="data:image/png;base64,iVBORw0KGgo="/><img src="data:image/png;base64,"/>'
                '<img src="../_images/ok.png?v=1#frag"/>')
    bad = cb.bad_images(html, tmp_path / "notebooks" / "page.html")
    assert bad == ["../_images/empty.png", "../_images/missing.png", "https://example.org/x.png",
                   "data:image/png;base64,"]


def test_mathjax_source_and_verdict(tmp_path):
    local = '<script defer="defer" src="../_static/mathjax/tex-chtml.js"></script>'
    remote = '<script defer src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"></script>'
    assert cb.mathjax_source(page("", local)) == "local"
    assert cb.mathjax_source(page("", remote)) == "remote"
    assert cb.mathjax_source(page("")) == "-"
    good = cb.check_page(page(STATIC_MATH, local), page(TYPESET_MATH, local), tmp_path / "p.html")
    assert good["math"] == 2 and good["typeset"] == 2 and cb.failed(good) == []
    bad = cb.check_page(page(STATIC_MATH, remote), page(STATIC_MATH, remote), tmp_path / "p.html")
    assert set(cb.failed(bad)) == {"raw", "remote", "mathjax"}
    static_only = cb.check_page(page(STATIC_MATH, local), None, tmp_path / "p.html")
    assert static_only["typeset"] == "-" and cb.failed(static_only) == []
    table = cb.format_table({"a.html": good, "b.html": bad})
    assert "a.html" in table and "FAIL: raw, remote, mathjax" in table and table.splitlines()[2].endswith("ok")


def test_book_pages_skip_sphinx_folders(tmp_path):
    for rel in ("index.html", "book/intro.html", "notebooks/00_data.html", "_static/x.html", "_sources/y.html"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("<html></html>")
    assert [p.relative_to(tmp_path).as_posix() for p in cb.book_pages(tmp_path)] == [
        "book/intro.html", "index.html", "notebooks/00_data.html"]


def test_main_without_pages_or_browser(tmp_path, monkeypatch, capsys):
    assert cb.main([str(tmp_path / "nothing")]) == 1
    (tmp_path / "p.html").write_text(page(out(stream("x: 10%|#  | 1/10 [00:01&lt;00:09, 1.0it/s]"))))
    monkeypatch.setattr(cb, "find_chromium", lambda: None)
    assert cb.main([str(tmp_path)]) == 2                  # no browser: says so
    assert cb.main([str(tmp_path), "--no-browser"]) == 1  # the tqdm line fails the page
    assert "FAIL: tqdm" in capsys.readouterr().out


def test_sphinx_problems_filter():
    from mer_helpers.chain.book import sphinx_problems

    stage = Path("/tmp/stage")
    output = ("\x1b[01mreading sources... \x1b[39;49;00m[100%] book/intro\n"
              "\x1b[91m/tmp/stage/book/references.md:3: WARNING: missing booktitle in boll1979spectral\x1b[39;49;00m\n"
              "/tmp/stage/notebooks/06_classifiers.ipynb:5: ERROR: Unknown directive type.\n"
              "\x1b[91m/tmp/stage/book/references.md:3: WARNING: missing booktitle in boll1979spectral\x1b[39;49;00m\n"
              "build succeeded, 2 warnings.\n")
    assert sphinx_problems(output, stage) == [
        "book/references.md:3: WARNING: missing booktitle in boll1979spectral",
        "notebooks/06_classifiers.ipynb:5: ERROR: Unknown directive type."]
    assert sphinx_problems("build succeeded.\n") == []


@pytest.mark.parametrize("value, strict", [("1", True), ("yes", True), ("0", False), ("", False)])
def test_strict_from_env(monkeypatch, value, strict):
    from mer_helpers.chain import book

    monkeypatch.setenv("MER_BOOK_STRICT", value)
    assert book._strict_from_env() is strict
