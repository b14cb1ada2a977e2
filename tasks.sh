#!/usr/bin/env bash
# ltlib's commands. Each bootstraps a local virtual environment (.venv) on first use.
#   bash tasks.sh figures [--profile quick|paper] [notebook names...]   regenerate the figures (papermill)
#   bash tasks.sh test [pytest args...]                                  run the whole test suite
#   bash tasks.sh lab                                                    open the notebooks in JupyterLab
#   bash tasks.sh campaign [--profile paper] [--seeds 0 1 2] [--only NAME] [--dry-run] [--workers K]
set -euo pipefail
cd "$(dirname "$0")"
VENV="${LTLIB_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"

bootstrap() {
  if [ ! -x "$VENV/bin/python" ]; then
    echo "creating $VENV with $($PYTHON --version)"
    "$PYTHON" -m venv "$VENV"
  fi
  if [ ! -f "$VENV/.ltlib-installed" ] || [ pyproject.toml -nt "$VENV/.ltlib-installed" ] \
     || [ requirements-lock.txt -nt "$VENV/.ltlib-installed" ]; then
    "$VENV/bin/python" -m pip install --upgrade pip >/dev/null
    # the exact versions CI and the benchmarks ran with (requirements-lock.txt)
    "$VENV/bin/python" -m pip install -c requirements-lock.txt -e ".[dev]"
    touch "$VENV/.ltlib-installed"
  fi
}

command="${1:-}"
shift || true
case "$command" in
  figures) bootstrap; exec "$VENV/bin/python" -m ltlib figures "$@" ;;
  test)    bootstrap; exec "$VENV/bin/python" -m pytest "$@" ;;
  campaign) bootstrap; exec "$VENV/bin/python" -m ltlib campaign "$@" ;;
  lab)     bootstrap
           root_flag=(); [ "$(id -u)" = 0 ] && root_flag=(--allow-root)  # containers often run as root
           exec "$VENV/bin/jupyter" lab notebooks/ "${root_flag[@]}" "$@" ;;
  *) echo "usage: bash tasks.sh figures|test|lab|campaign [args]" >&2; exit 2 ;;
esac
