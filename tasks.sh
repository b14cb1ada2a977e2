#!/usr/bin/env bash
# ltlib's commands. Each bootstraps a local virtual environment (.venv) on first use.
#   bash tasks.sh figures [--profile quick|paper] [notebook names...]   regenerate the figures (papermill)
#   bash tasks.sh test [pytest args...]                                  run the whole test suite
#   bash tasks.sh lab                                                    open the notebooks in JupyterLab
#   bash tasks.sh campaign [--profile paper] [--seeds 0 1 2] [--only NAME] [--dry-run] [--workers K]
#   bash tasks.sh cpu-campaign start|save|status|pause|resume|stop      the CPU plan in the background (README)
set -euo pipefail
cd "$(dirname "$0")"
VENV="${LTLIB_VENV:-.venv}"
# the development machines' CIFAR-10 copy (shared/data beside the checkout), unless LTLIB_DATA names another
if [ -z "${LTLIB_DATA:-}" ] && [ -d ../shared/data ]; then export LTLIB_DATA="$(cd ../shared/data && pwd)"; fi
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

# The CPU plan (python -m ltlib campaign --plan cpu-core --seeds 0) runs from a snapshot of HEAD in
# build/campaign-tree, so that editing the working tree never changes the code of the running campaign; it
# stores into this checkout's results/ and logs to build/campaign.log (its pid in build/campaign.log.pid).
alive() {  # process $1 exists and has not ended (a zombie has)
  kill -0 "$1" 2>/dev/null && [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]
}

campaign_pid() {  # the running campaign's pid; fails when none runs
  [ -f build/campaign.log.pid ] && alive "$(cat build/campaign.log.pid)" && cat build/campaign.log.pid
}

campaign_signal() {  # send STOP or CONT to the running campaign, and say so
  local pid
  if pid="$(campaign_pid)"; then
    kill "-$1" "$pid" && echo "campaign (pid $pid): SIG$1"
  else
    echo "no campaign runs (build/campaign.log.pid)"
  fi
}

cpu_campaign() {
  local root pid; root="$(pwd)"
  # stage-I runs on bf16 autocast where the CPU has native bf16 (ltlib.fast.cpu_bf16_is_fast), stage II in float32
  local plan=(--profile paper --plan cpu-core --seeds 0 --stage-one-fast auto)
  case "${1:-}" in
    start)
      if pid="$(campaign_pid)"; then
        echo "the CPU campaign already runs as pid $pid"; return 0
      fi
      mkdir -p build
      git worktree remove --force build/campaign-tree >/dev/null 2>&1 || rm -rf build/campaign-tree
      git worktree prune
      git worktree add --force --detach build/campaign-tree HEAD >/dev/null
      (cd build/campaign-tree && LTLIB_STORE="$root/results" "$root/$VENV/bin/python" -m ltlib campaign \
         "${plan[@]}" --detach "$root/build/campaign.log") ;;
    save)  # the session's end: runs in progress into results/partial/, complete paper figures, REPRODUCTION.md, README status
      # the campaign pauses meanwhile (two cores: rendering beside it is slow for both) and resumes however this ends
      campaign_signal STOP
      trap 'campaign_signal CONT' EXIT
      "$VENV/bin/python" -m ltlib campaign "${plan[@]}" --save-progress
      "$VENV/bin/python" -m ltlib figures --profile paper || echo "a paper figure failed: see above"
      "$VENV/bin/python" -m ltlib reproduction
      git status --short results figures REPRODUCTION.md README.md ;;
    status)
      if ! pid="$(campaign_pid)"; then
        echo "not running"
      elif [ "$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null)" = T ]; then
        echo "running as pid $pid, paused (bash tasks.sh cpu-campaign resume)"
      else
        echo "running as pid $pid"
      fi
      tail -n 3 build/campaign.log 2>/dev/null || true
      "$VENV/bin/python" -m ltlib campaign "${plan[@]}" --dry-run | awk '!/^  / || /in progress/' ;;
    stop)  # end it, e.g. to start it again on a new HEAD: its run in progress resumes from its last finished epoch
      if pid="$(campaign_pid)"; then
        kill -TERM "$pid" && kill -CONT "$pid" 2>/dev/null
        for _ in $(seq 100); do alive "$pid" || break; sleep 0.1; done
        if alive "$pid"; then echo "campaign (pid $pid) has not ended within 10 s" >&2; return 1; fi
        echo "campaign (pid $pid) ended; its run in progress resumes from its last finished epoch at the next start"
      else
        echo "no campaign runs (build/campaign.log.pid)"
      fi ;;
    pause)  # e.g. for a long test run beside it (two cores); the run in progress waits where it is
      campaign_signal STOP ;;
    resume)
      campaign_signal CONT ;;
    *) echo "usage: bash tasks.sh cpu-campaign start|save|status|pause|resume|stop" >&2; return 2 ;;
  esac
}

command="${1:-}"
shift || true
case "$command" in
  figures) bootstrap; exec "$VENV/bin/python" -m ltlib figures "$@" ;;
  test)    bootstrap; exec "$VENV/bin/python" -m pytest "$@" ;;
  campaign) bootstrap; exec "$VENV/bin/python" -m ltlib campaign "$@" ;;
  cpu-campaign) bootstrap; cpu_campaign "$@" ;;
  lab)     bootstrap
           root_flag=(); [ "$(id -u)" = 0 ] && root_flag=(--allow-root)  # containers often run as root
           exec "$VENV/bin/jupyter" lab notebooks/ "${root_flag[@]}" "$@" ;;
  *) echo "usage: bash tasks.sh figures|test|lab|campaign|cpu-campaign [args]" >&2; exit 2 ;;
esac
