"""Progress bars that fit where the code runs.

:func:`progress` returns a tqdm-compatible bar (``update``, ``set_postfix``, ``close``,
iteration, ``with``) of the kind that suits the place:

===============  ==========================================================================
mode             where, and what it shows
===============  ==========================================================================
``widget``       an interactive Jupyter front end (JupyterLab, VS Code) with ipywidgets:
                 a ``tqdm.notebook`` widget bar
``terminal``     a terminal (stderr is a TTY): one ``tqdm.std`` text bar
``plain``        a notebook executed headless (``mer run``/papermill, nbclient, nbval) or
                 output that goes to a file: no intermediate updates; when the loop ends, one
                 line such as ``frames: 480 clips in 91.4 s`` (only for ``leave=True`` bars)
``off``          nothing at all
===============  ==========================================================================

The mode is chosen by :func:`progress_mode`: the environment variable ``MER_PROGRESS``
(``widget``, ``terminal``, ``plain`` or ``off``) wins; ``PAPERMILL_EXECUTION=1`` means
``plain``; inside an IPython kernel a request that cannot read standard input (how nbclient,
papermill and nbval execute cells; a person's front end can) means ``plain``, otherwise
``widget`` when ipywidgets is importable; outside a kernel, ``terminal`` when stderr is a
TTY, else ``plain``. ``scripts/test.sh`` exports ``MER_PROGRESS=plain``.

:func:`import_tensorflow_quietly` keeps TensorFlow's start-up lines (``WARNING: All log
messages before absl::InitializeLog() ...``, ``oneDNN custom operations are on ...``) out of
notebook outputs: TensorFlow 2.21 writes them to file descriptor 2 while it is imported, before
``TF_CPP_MIN_LOG_LEVEL`` is consulted, so the variable alone does not remove them.
"""
from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterable

from tqdm.std import tqdm as std_tqdm

ENV = "MER_PROGRESS"
MODES = ("widget", "terminal", "plain", "off")
_ALIASES = {"notebook": "widget", "widgets": "widget", "lab": "widget", "tty": "terminal", "std": "terminal",
            "text": "terminal", "quiet": "plain", "none": "off", "0": "off", "false": "off", "no": "off"}


def _kernel():
    """The running ipykernel kernel object, or ``None`` outside a kernel."""
    if "ipykernel" not in sys.modules:
        return None
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return getattr(shell, "kernel", None) if shell is not None else None


def _has_ipywidgets() -> bool:
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def progress_mode() -> str:
    """``widget``, ``terminal``, ``plain`` or ``off``: see the module docstring."""
    env = os.environ.get(ENV, "").strip().lower()
    env = _ALIASES.get(env, env)
    if env in MODES:
        return env
    if os.environ.get("PAPERMILL_EXECUTION", "").strip().lower() in ("1", "true", "yes"):
        return "plain"
    kernel = _kernel()
    if kernel is not None:
        # nbclient (papermill, nbval, jupyter nbconvert --execute) sends allow_stdin=False with
        # every execute request; JupyterLab, Notebook and VS Code send True.
        if not getattr(kernel, "_allow_stdin", True):
            return "plain"
        return "widget" if _has_ipywidgets() else "plain"
    stream = sys.stderr
    try:
        return "terminal" if stream is not None and stream.isatty() else "plain"
    except (AttributeError, ValueError):
        return "plain"


class _Sink:
    """A file that forgets what is written to it (where a plain bar draws)."""

    encoding = "utf-8"

    def write(self, s):
        return len(s)

    def flush(self):
        pass


def _plural(unit: str, n) -> str:
    if n == 1 or not unit.isalpha() or unit.endswith("s") or unit in ("it", "B"):
        return unit
    return unit + "s"


def summary_line(desc: str, n, total, unit: str, elapsed: float, postfix: str = "",
                 unit_scale=False, unit_divisor: int = 1000) -> str:
    """``'frames: 480 clips in 91.4 s'``; ``n/total`` when the loop stopped early."""
    if unit_scale:
        count = std_tqdm.format_sizeof(n * (unit_scale if not isinstance(unit_scale, bool) else 1), "",
                                       unit_divisor).strip()
    else:
        count = f"{n:g}" if isinstance(n, float) else str(n)
    if total is not None and not unit_scale and n != total:
        count += f"/{total:g}" if isinstance(total, float) else f"/{total}"
    line = f"{desc}: " if desc else ""
    line += f"{count} {_plural(unit, n)} in {elapsed:.1f} s"
    if postfix:
        line += f" ({postfix})"
    return line


class PlainBar(std_tqdm):
    """A tqdm bar that draws nothing while it runs; :meth:`close` prints one
    :func:`summary_line` (to stdout inside a kernel, else stderr) when ``leave`` is true and
    something was counted."""

    monitor_interval = 0  # no monitor thread: nothing to refresh

    def __init__(self, *args, **kwargs):
        kwargs["file"] = _Sink()
        kwargs.setdefault("mininterval", 3600.0)
        super().__init__(*args, **kwargs)

    def close(self):
        if self.disable:
            return
        leave = self.leave if self.leave is not None else self.pos == 0
        n, total, postfix = self.n, self.total, self.postfix or ""
        elapsed = self._time() - self.start_t
        super().close()
        if leave and n:
            out = sys.stdout if _kernel() is not None else sys.stderr
            line = summary_line(self.desc.rstrip(": "), n, total, self.unit, elapsed, postfix.lstrip(", "),
                                self.unit_scale, self.unit_divisor)
            print(line, file=out, flush=True)


def progress(iterable: Iterable | None = None, total: int | float | None = None, desc: str = "",
             unit: str = "it", disable: bool = False, leave: bool = True, mode: str | None = None,
             **kwargs):
    """A tqdm-compatible progress bar that fits the place (see the module docstring).

    ``iterable``, ``total``, ``desc``, ``unit``, ``disable``, ``leave`` and any other keyword
    (``mininterval``, ``unit_scale``, ``position``, ...) mean what they mean for ``tqdm``.
    ``mode`` forces ``widget``, ``terminal``, ``plain`` or ``off`` (default: :func:`progress_mode`).
    Use it as ``for x in progress(xs, desc="clips", unit="clip")`` or
    ``with progress(total=n, desc="frames") as bar: ... bar.update()``.
    """
    mode = _ALIASES.get(mode, mode) if mode else progress_mode()
    if mode not in MODES:
        raise ValueError(f"progress mode {mode!r}: expected one of {', '.join(MODES)}")
    common = dict(total=total, desc=desc, unit=unit, leave=leave, **kwargs)
    if disable or mode == "off":
        return std_tqdm(iterable, disable=True, **common)
    if mode == "widget":
        import tqdm.notebook as tqdm_notebook

        if getattr(tqdm_notebook, "IProgress", None) is not None:
            return tqdm_notebook.tqdm(iterable, **common)
        mode = "plain"  # ipywidgets missing after all: fall back quietly (no TqdmWarning)
    if mode == "terminal":
        return std_tqdm(iterable, **common)
    return PlainBar(iterable, **common)


def epoch_bar(total: int, desc: str, enabled: bool = True):
    """A Keras callback that shows one compact progress line per fit: epochs done and every
    logged loss (``loss``, ``val_loss``), closed when training ends.

    Parameters
    ----------
    total : int
        Epochs of the fit.
    desc : str
        The bar's label.
    enabled : bool
        ``False``: the bar is disabled (nothing is shown).

    Returns
    -------
    keras.callbacks.Callback
        Pass it in ``callbacks=[...]`` of ``model.fit``.
    """
    import keras

    class EpochBar(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.bar = progress(total=total, desc=desc, disable=not enabled, leave=False, unit="epoch",
                                mininterval=10.0)

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            self.bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items() if "loss" in k}, refresh=False)
            self.bar.update()

        def on_train_end(self, logs=None):
            self.bar.close()

    return EpochBar()


@contextlib.contextmanager
def muted_stderr_fd():
    """Send file descriptor 2 (where C++ libraries write) to ``os.devnull`` inside the block."""
    try:
        sys.stderr.flush()
    except (AttributeError, ValueError):
        pass
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tensorflow_quietly(min_log_level: str = "3"):
    """Import TensorFlow (and Keras) now, without its start-up lines on stderr, and return it.

    Sets ``TF_CPP_MIN_LOG_LEVEL`` to ``min_log_level`` unless the user set it. Numerics are
    unchanged (oneDNN stays as TensorFlow chooses). An import error is raised as usual.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", str(min_log_level))
    if "tensorflow" not in sys.modules:
        with muted_stderr_fd():
            import keras  # noqa: F401
            import tensorflow  # noqa: F401
    return sys.modules["tensorflow"]
