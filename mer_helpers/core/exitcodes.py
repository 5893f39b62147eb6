"""The exit statuses of `mer run` and `mer predict`: one table for both commands.

The README and the book's developer page show the same table (a test compares them).
"""
from __future__ import annotations

#: done
OK = 0
#: usage or input error (arguments, model bundle, labels file, output path, data folder,
#: parameters, a class without clips, a failed stage): named in one line each, nothing written
INPUT_ERROR = 1
#: stop mode: some clips are unusable (each named in one line); nothing predicted / the run stopped
BAD_CLIPS = 2
#: skip mode: done, but some clips were left out (the CSV's ``error`` column / metrics.json
#: ``skipped_clips``)
SKIPPED = 3
#: interrupted (Ctrl-C): one line, nothing half-written; a rerun resumes
INTERRUPTED = 130

#: status -> meaning, in the order shown by ``--help``, the README and the book
TABLE: dict[int, str] = {
    OK: "done",
    INPUT_ERROR: "usage or input error (arguments, model bundle, labels file, output path, data folder, "
                 "parameters, a class with no clips) or a failed stage; each problem named in one line",
    BAD_CLIPS: "unusable clips with --on-bad-input stop (the default): each named in one line; "
               "nothing predicted, no stage after the clip check run",
    SKIPPED: "done with --on-bad-input skip, but some clips were left out (error column of the CSV, "
             "skipped_clips of metrics.json)",
    INTERRUPTED: "interrupted (Ctrl-C): one line, nothing half-written; a rerun resumes",
}


def help_text(width: int = 78) -> str:
    """The table as the ``exit status`` section of ``--help`` (an argparse epilog shown as is:
    ``formatter_class=argparse.RawDescriptionHelpFormatter``).

    Parameters
    ----------
    width : int
        Line width.

    Returns
    -------
    str
    """
    import textwrap

    lines = ["exit status (mer run and mer predict):"]
    for code, what in TABLE.items():
        lines += textwrap.wrap(what, width, initial_indent=f"  {code:<5}", subsequent_indent=" " * 7)
    return "\n".join(lines)


__all__ = ["OK", "INPUT_ERROR", "BAD_CLIPS", "SKIPPED", "INTERRUPTED", "TABLE", "help_text"]
