"""mer_helpers.core.progress: the bar that fits the place (fast; no notebook, no TensorFlow)."""
from __future__ import annotations

import os

import pytest
from tqdm.std import tqdm as std_tqdm

from mer_helpers.core import progress as pg


@pytest.fixture
def no_env(monkeypatch):
    monkeypatch.delenv("MER_PROGRESS", raising=False)
    monkeypatch.delenv("PAPERMILL_EXECUTION", raising=False)
    monkeypatch.setattr(pg, "_kernel", lambda: None)


class _Kernel:
    def __init__(self, allow_stdin):
        self._allow_stdin = allow_stdin


@pytest.mark.parametrize("value, mode", [("plain", "plain"), ("widget", "widget"), ("notebook", "widget"),
                                         ("terminal", "terminal"), ("tty", "terminal"), ("off", "off"),
                                         ("0", "off"), (" Plain ", "plain")])
def test_env_forces_mode(no_env, monkeypatch, value, mode):
    monkeypatch.setenv("MER_PROGRESS", value)
    assert pg.progress_mode() == mode


def test_papermill_env_means_plain(no_env, monkeypatch):
    monkeypatch.setenv("PAPERMILL_EXECUTION", "1")
    monkeypatch.setattr(pg, "_kernel", lambda: _Kernel(True))
    assert pg.progress_mode() == "plain"


def test_headless_kernel_is_plain_interactive_is_widget(no_env, monkeypatch):
    monkeypatch.setattr(pg, "_kernel", lambda: _Kernel(False))   # nbclient / papermill / nbval
    assert pg.progress_mode() == "plain"
    monkeypatch.setattr(pg, "_kernel", lambda: _Kernel(True))    # JupyterLab
    monkeypatch.setattr(pg, "_has_ipywidgets", lambda: True)
    assert pg.progress_mode() == "widget"
    monkeypatch.setattr(pg, "_has_ipywidgets", lambda: False)
    assert pg.progress_mode() == "plain"


def test_outside_kernel_tty_or_not(no_env, monkeypatch):
    class Stream:
        def __init__(self, tty):
            self.tty = tty

        def isatty(self):
            return self.tty

        def write(self, s):
            return len(s)

        def flush(self):
            pass

    monkeypatch.setattr(pg.sys, "stderr", Stream(True))
    assert pg.progress_mode() == "terminal"
    monkeypatch.setattr(pg.sys, "stderr", Stream(False))
    assert pg.progress_mode() == "plain"


def test_plain_prints_one_line_at_the_end(no_env, capsys):
    seen = []
    bar = pg.progress(range(480), desc="frames", unit="clip", mode="plain")
    for i in bar:
        seen.append(i)
        if i == 10:
            assert capsys.readouterr() == ("", "")  # nothing while the loop runs
    assert seen == list(range(480))
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("frames: 480 clips in ") and err.rstrip().endswith(" s")


def test_plain_total_update_postfix_and_early_stop(no_env, capsys):
    with pg.progress(total=5, desc="fit", unit="epoch", mode="plain") as bar:
        bar.update(2)
        bar.set_postfix(loss="0.1234")
    assert capsys.readouterr().err.startswith("fit: 2/5 epochs in ")
    for i in pg.progress(range(10), desc="scan", mode="plain"):
        if i == 3:
            break
    assert "scan: 3/10 it in" in capsys.readouterr().err
    bar = pg.progress(total=3, desc="fit", unit="epoch", mode="plain")
    bar.set_postfix(loss="0.5000")
    bar.update(3)
    bar.close()
    bar.close()  # twice: still one line
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "fit: 3 epochs in" in err and "(loss=0.5000)" in err


def test_plain_silent_when_not_left_or_empty_or_disabled(no_env, capsys):
    for _ in pg.progress(range(5), desc="inner", mode="plain", leave=False):
        pass
    pg.progress(total=4, desc="nothing", mode="plain").close()
    with pg.progress(total=4, desc="off", mode="plain", disable=True) as bar:
        bar.update(4)
    with pg.progress(total=4, desc="off", mode="off") as bar:
        bar.update(4)
    assert capsys.readouterr() == ("", "")


def test_plain_line_goes_to_stdout_inside_a_kernel(no_env, monkeypatch, capsys):
    monkeypatch.setattr(pg, "_kernel", lambda: _Kernel(False))
    for _ in pg.progress(range(3), desc="splits", unit="split", mode="plain"):
        pass
    out, err = capsys.readouterr()
    assert out.startswith("splits: 3 splits in ") and err == ""


def test_terminal_and_disabled_are_std_tqdm(no_env):
    bar = pg.progress(total=2, mode="terminal", file=open(os.devnull, "w"))
    assert type(bar) is std_tqdm and not bar.disable
    bar.close()
    assert pg.progress(total=2, mode="off").disable
    assert isinstance(pg.progress(total=2, mode="plain"), std_tqdm)  # tqdm API: update, set_postfix, ...
    with pytest.raises(ValueError, match="progress mode"):
        pg.progress(total=2, mode="fancy")


def test_widget_without_ipywidgets_falls_back_to_plain(no_env, monkeypatch, capsys):
    import tqdm.notebook as tn

    monkeypatch.setattr(tn, "IProgress", None)
    bar = pg.progress(range(2), desc="w", mode="widget")
    assert isinstance(bar, pg.PlainBar)
    list(bar)
    assert "w: 2 it in" in capsys.readouterr().err


@pytest.mark.parametrize("args, line", [
    (("frames", 480, 480, "clip", 91.44), "frames: 480 clips in 91.4 s"),
    (("frames", 1, 1, "clip", 0.2), "frames: 1 clip in 0.2 s"),
    (("", 7, None, "it", 1.0), "7 it in 1.0 s"),
    (("resnet50 (random init)", 3, 10, "img", 2.0), "resnet50 (random init): 3/10 imgs in 2.0 s"),
])
def test_summary_line(args, line):
    assert pg.summary_line(*args) == line


def test_muted_stderr_fd_hides_c_level_writes(capfd):
    os.write(2, b"before\n")
    with pg.muted_stderr_fd():
        os.write(2, b"hidden C++ log line\n")
    os.write(2, b"after\n")
    err = capfd.readouterr().err
    assert "before" in err and "after" in err and "hidden" not in err
