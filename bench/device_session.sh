#!/usr/bin/env bash
# Calls on a lent GPU machine (the device tool's `run`, in the repository root: 10 minutes per call, 15 minutes of
# device time per session with the machine's start-up, and the machine goes back 30 s after a call ends):
#   bash bench/device_session.sh first [SECONDS]      call 1 (README, "On a lent GPU machine"): the campaign only, on
#                                                     the path chosen beforehand ($FIRST_PATH, default stages), runs in
#                                                     value order (--plan device: the CPU plan's tiers first), WORKERS
#                                                     processes, until SECONDS (default 540) minus the export; exports
#                                                     the finished runs and the failure records to $OUT
#   bash bench/device_session.sh campaign [SECONDS]   a later call within 30 s: the campaign goes on, export again
#   bash bench/device_session.sh benchmark [args]     a later call with time left: step check + throughput -> $OUT
# Before the first call, here: `python -m ltlib device-kit` (writes device_data/kit.tar.xz); carry device_data.
# Back home: `python -m ltlib store import <files>/results-*.tar.gz`, unpack bench.tar.gz into bench/results/, commit.
# Environment: FIRST_PATH (LTLIB_FAST of call 1: stages, step, graphs or 0 for eager), WORKERS (default 8), PROFILE,
# SEEDS_CAMPAIGN, ONLY, EXPORT_S (seconds kept for the export), MPS=0 (no CUDA MPS daemon), REQUIRE_CUDA=0 (allow
# runs on the CPU: the rehearsal), KIT / KIT_DIR (the kit and where it is unpacked), OUT; the benchmark: STEP_ARGS,
# STEP_CHECK_S, EPOCHS, SEEDS, PACKED, THROUGHPUT_S, THROUGHPUT_ARGS.
# Processes are followed by their pid (no pgrep: the machine may not have procps).
# CPU rehearsal (tests/test_device_call.py runs it in CI): PROFILE=quick ONLY=00 SEEDS_CAMPAIGN=0 WORKERS=1
#   FIRST_PATH=0 REQUIRE_CUDA=0 bash bench/device_session.sh first 540
set -uo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
OUT="${OUT:-$PWD/build/device-out}"
mkdir -p "$OUT"
exec > >(tee -a "$OUT/session.log") 2>&1
kit="${KIT:-device_data/kit.tar.xz}"
kit_dir="${KIT_DIR:-/tmp/ltlib-kit}"
if [ ! -d "$kit_dir/data" ]; then
  python3 -m tarfile -e "$kit" "$kit_dir" \
    || { echo "no device kit at $kit: run 'python -m ltlib device-kit' before the call and carry device_data" >&2; exit 2; }
  echo "kit unpacked in $(( $(date +%s) - started )) s"
fi
export LTLIB_DATA="$kit_dir/data" LTLIB_CACHE="$kit_dir/cache" PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1
LTLIB_GIT_COMMIT="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["git_commit"])' "$kit_dir/kit.json")"
export LTLIB_GIT_COMMIT  # no .git travels: results carry the commit the kit was built from
export LTLIB_REQUIRE_CUDA="${REQUIRE_CUDA:-1}"  # a run that would fall back to the CPU stops instead
workers="${WORKERS:-8}"
# one inductor cache for every worker (a graph compiled once is read by the others), compile threads shared out
export TORCHINDUCTOR_CACHE_DIR="${TORCHINDUCTOR_CACHE_DIR:-/tmp/ltlib-inductor}"
export TORCHINDUCTOR_COMPILE_THREADS="${TORCHINDUCTOR_COMPILE_THREADS:-$(( $(nproc) / workers > 0 ? $(nproc) / workers : 1 ))}"
nvidia-smi --query-gpu=name,memory.used,memory.total,utilization.gpu --format=csv,noheader 2>/dev/null || true

cuda_visible() { python3 -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; }
mps_marker=/tmp/ltlib-mps-started
if [ "${MPS:-1}" = 1 ] && command -v nvidia-cuda-mps-control >/dev/null && [ ! -f "$mps_marker" ]; then
  if nvidia-cuda-mps-control -d; then
    touch "$mps_marker"
    if cuda_visible; then
      echo "CUDA MPS started: the campaign's processes share the GPU at once"
    else  # clients of a broken daemon see no GPU: stop it and go on without MPS
      echo quit | nvidia-cuda-mps-control
      rm -f "$mps_marker"
      echo "CUDA MPS started but its clients saw no GPU: MPS stopped, the processes share the GPU without it"
    fi
  fi
fi
if [ "$LTLIB_REQUIRE_CUDA" = 1 ] && ! cuda_visible; then
  echo "CUDA is not available to this process: nothing is trained on the CPU" >&2
  exit 3
fi
campaign=(python3 -m ltlib campaign --profile "${PROFILE:-paper}" --plan device --seeds ${SEEDS_CAMPAIGN:-0 1 2}
          ${ONLY:+--only $ONLY})
log="${CAMPAIGN_LOG:-/tmp/ltlib-campaign.log}"

export_finished() {  # the finished store entries as tarballs of <= 15 MiB, the failure records, the log
  tail -n 20 "$log"
  cp "$log" "$OUT/campaign.log"
  "${campaign[@]}" --dry-run --seconds-per-epoch 1.45 --export "$OUT" > /tmp/ltlib-remaining.txt
  head -n 1 /tmp/ltlib-remaining.txt; grep '^exported' /tmp/ltlib-remaining.txt
  store="${LTLIB_STORE:-$PWD/results}"
  if [ -d "$store/failed" ] && [ -n "$(ls -A "$store/failed")" ]; then
    tar -czf "$OUT/failed.tar.gz" -C "$store" failed && echo "failure records: $(ls "$store/failed" | wc -l)"
  fi
}

run_campaign_until() {  # start the campaign unless it runs, follow it by pid until $1 (epoch seconds), export
  if ! { [ -f "$log.pid" ] && kill -0 "$(cat "$log.pid")" 2>/dev/null; }; then
    if [ -z "${LTLIB_FAST:-}" ]; then
      LTLIB_FAST="$(cat /tmp/ltlib-fast-setting 2>/dev/null || echo "${FIRST_PATH:-stages}")"
    fi
    export LTLIB_FAST
    echo "campaign: LTLIB_FAST=$LTLIB_FAST, $workers worker(s), compile threads $TORCHINDUCTOR_COMPILE_THREADS each"
    "${campaign[@]}" --workers "$workers" --detach "$log"
  fi
  local pid; pid="$(cat "$log.pid")"
  while [ "$(date +%s)" -lt "$1" ] && kill -0 "$pid" 2>/dev/null; do sleep 2; done
  export_finished
}

measure() {  # the step check and the throughput benchmark; a later campaign takes the fastest working path
  touch /tmp/ltlib-bench-start
  rm -f /tmp/ltlib-fast-choice
  # each measurement compiles into a cache of its own: one killed by its time limit may leave a half-written
  # kernel there, which must never reach the campaign's processes
  TORCHINDUCTOR_CACHE_DIR=/tmp/ltlib-inductor-check timeout "${STEP_CHECK_S:-180}" python3 bench/step_overhead.py \
    ${STEP_ARGS:---steps 20 --warmup 3 --paths eager stages graphs} --choice-file /tmp/ltlib-fast-choice \
    || echo "the step check stopped (status $?): its choice so far is kept"
  choice="$(cat /tmp/ltlib-fast-choice 2>/dev/null)"
  case "$choice" in  # $LTLIB_FAST of the fastest path measured on every objective without error, wrong loss or sync
    eager) echo 0 > /tmp/ltlib-fast-setting ;;
    stages|step|graphs) echo "$choice" > /tmp/ltlib-fast-setting ;;
    *) echo "no path was measured on every objective: the campaign keeps FIRST_PATH" ;;
  esac
  TORCHINDUCTOR_CACHE_DIR=/tmp/ltlib-inductor-bench timeout "${THROUGHPUT_S:-200}" python3 bench/throughput.py \
    --epochs "${EPOCHS:-2}" --seeds "${SEEDS:-1}" --workers 8 --packed ${PACKED:-8} ${THROUGHPUT_ARGS:-} "$@" \
    || echo "the throughput benchmark stopped early (status $?)"
  (cd bench/results && find . -name '*.json' -newer /tmp/ltlib-bench-start | tar -czf "$OUT/bench.tar.gz" -T -)
}

case "${1:-}" in
  first)
    run_campaign_until $(( started + ${2:-540} - ${EXPORT_S:-40} )) ;;  # the export and the trip home need the rest
  campaign)
    run_campaign_until $(( started + ${2:-480} - ${EXPORT_S:-40} )) ;;
  benchmark)
    shift
    measure "$@" ;;
  all)
    echo "'all' is gone: the first call is 'first' (campaign only); measure in a later call with 'benchmark'" >&2
    exit 2 ;;
  *) echo "usage: bash bench/device_session.sh first|campaign|benchmark [SECONDS|args]" >&2; exit 2 ;;
esac
echo "device session: $(( $(date +%s) - started )) s in this call"
