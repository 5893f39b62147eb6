#!/usr/bin/env bash
# The test command (also what CI runs): set up .venv if needed, install Debian's Chromium when it
# is missing (for tests/test_lab_browser.py, a notebook run in JupyterLab in a real browser, and
# for the page check below), run the unit tests and the whole notebook chain on the committed
# sample (tests/test_pipeline.py writes runs/ci-sample), then re-execute the executed notebooks
# with nbval, build the book from that run with Sphinx warnings as errors, and check every page
# in an offline headless Chromium (scripts/check_book.py: formulas typeset, images present, no
# progress-bar text, tracebacks, TensorFlow start-up lines or empty output boxes).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
export MER_CACHE_DIR=${MER_CACHE_DIR:-$PWD/runs/.cache}
export MER_PROGRESS=${MER_PROGRESS:-plain}  # mer_helpers.progress: one line per finished loop
# before pytest: tests/test_lab_browser.py drives it (and skips, saying why, where it is missing)
if ! command -v chromium >/dev/null 2>&1; then
  echo "[test] installing chromium (Debian) for tests/test_lab_browser.py and scripts/check_book.py"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
    || echo "[test] warning: chromium could not be installed (apt-get failed): the browser test will skip, the page check fail" >&2
fi
.venv/bin/python -m pytest tests "$@"
if [ -d runs/ci-sample/notebooks ]; then
  .venv/bin/python -m pytest --nbval-lax -p no:cacheprovider runs/ci-sample/notebooks
  t0=$SECONDS
  MER_BOOK_STRICT=1 .venv/bin/mer book --from runs/ci-sample
  t1=$SECONDS
  .venv/bin/python scripts/check_book.py _build/html
  echo "[test] book build $((t1 - t0)) s, offline page check $((SECONDS - t1)) s"
fi
