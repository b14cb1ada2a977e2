#!/usr/bin/env bash
# Calls on a lent GPU machine (the device tool's `run`, in the repository root, 10 minutes per call, 15 minutes of
# device time per session, start-up included):
#   bash bench/device_session.sh all [SECONDS]        the whole first call: measure (once per device), then the
#                                                     campaign until SECONDS (default 540) have passed, then export
#   bash bench/device_session.sh campaign [SECONDS]   a later call while the machine is warm: keep the detached
#                                                     campaign running SECONDS (default 480), export what finished
#   bash bench/device_session.sh benchmark [args]     only the measurements (step check + throughput) -> $OUT
# Before the first call, here: `python -m ltlib device-kit` (writes device_data/kit.tar.xz); carry device_data.
# The measurements: bench/step_overhead.py (ms per step of every objective on the paths eager, stages and graphs,
# whether a GPU step ever waits for the host, and each path's first loss against eager's), then bench/throughput.py
# (peer / eager / fast / K packed processes). The campaign runs on the fastest path that worked (LTLIB_FAST; eager
# if none did: a compiler missing on the machine, say).
# Environment: SKIP_BENCH=1 (campaign only: the device was measured before), STEP_ARGS, STEP_CHECK_S (step check),
# EPOCHS, SEEDS, PACKED, THROUGHPUT_S, THROUGHPUT_ARGS (throughput);
# WORKERS (default 8), SEEDS_CAMPAIGN, ONLY, PROFILE (PROFILE=quick ONLY=00 rehearses a call on a CPU in a minute);
# MPS=0 (no CUDA MPS daemon; by default it is started when present, so K processes' kernels overlap).
# $OUT gets at most 8 files: session.log, bench.tar.gz, campaign.log and the store entries' tarballs (<= 15 MiB).
# Back home: `python -m ltlib store import /work/.device/.../results-*.tar.gz`, unpack bench.tar.gz into bench/results/,
# commit.
# CPU rehearsal (91 s here), with python3 from a venv holding only the GPU machine's packages first on PATH:
#   PROFILE=quick ONLY=00 SEEDS_CAMPAIGN=0 WORKERS=1 STEP_ARGS="--device cpu --steps 1 --warmup 0 --only ce" \
#   STEP_CHECK_S=40 THROUGHPUT_ARGS="--device cpu --max-per-class 100 --test-per-class 10 --skip-fast" EPOCHS=1 \
#   PACKED=2 EXPORT_S=10 bash bench/device_session.sh all 300
set -uo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
OUT="${OUT:-$PWD/build/device-out}"
mkdir -p "$OUT"
exec > >(tee -a "$OUT/session.log") 2>&1
kit_dir=/tmp/ltlib-kit
if [ ! -d "$kit_dir/data" ]; then
  python3 -m tarfile -e device_data/kit.tar.xz "$kit_dir" \
    || { echo "no device kit: run 'python -m ltlib device-kit' before the call and carry device_data" >&2; exit 2; }
fi
export LTLIB_DATA="$kit_dir/data" LTLIB_CACHE="$kit_dir/cache" PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1
LTLIB_GIT_COMMIT="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["git_commit"])' "$kit_dir/kit.json")"
export LTLIB_GIT_COMMIT  # no .git travels: results carry the commit the kit was built from
if [ -f /tmp/ltlib-fast-setting ]; then export LTLIB_FAST="$(cat /tmp/ltlib-fast-setting)"; fi  # an earlier call's choice
nvidia-smi --query-gpu=name,memory.used,memory.total,utilization.gpu --format=csv,noheader 2>/dev/null || true
if [ "${MPS:-1}" = 1 ] && command -v nvidia-cuda-mps-control >/dev/null && ! pgrep -x nvidia-cuda-mps >/dev/null; then
  nvidia-cuda-mps-control -d && echo "CUDA MPS started: the campaign's processes share the GPU at once"
fi
campaign=(python3 -m ltlib campaign --profile "${PROFILE:-paper}" --seeds ${SEEDS_CAMPAIGN:-0 1 2} ${ONLY:+--only $ONLY})

measure() {  # the step check and the throughput benchmark; the campaign takes the fastest working path
  touch /tmp/ltlib-bench-start
  rm -f /tmp/ltlib-fast-choice
  # each measurement compiles into a cache of its own: one killed by its time limit may leave a half-written
  # kernel there, which must never reach the campaign's processes
  TORCHINDUCTOR_CACHE_DIR=/tmp/ltlib-inductor-check timeout "${STEP_CHECK_S:-180}" python3 bench/step_overhead.py ${STEP_ARGS:---steps 20 --warmup 3 --paths eager stages graphs} \
    --choice-file /tmp/ltlib-fast-choice || echo "the step check stopped (status $?): its choice so far is kept"
  choice="$(cat /tmp/ltlib-fast-choice 2>/dev/null)"
  case "$choice" in  # $LTLIB_FAST of the fastest path that ran without error, wrong loss or host sync
    eager) echo 0 > /tmp/ltlib-fast-setting ;;
    stages|step|graphs) echo "$choice" > /tmp/ltlib-fast-setting ;;
    *) echo "no path was measured: the campaign keeps the default fast path" ;;
  esac
  [ -f /tmp/ltlib-fast-setting ] && export LTLIB_FAST="$(cat /tmp/ltlib-fast-setting)" && echo "campaign: LTLIB_FAST=$LTLIB_FAST"
  TORCHINDUCTOR_CACHE_DIR=/tmp/ltlib-inductor-bench timeout "${THROUGHPUT_S:-200}" python3 bench/throughput.py --epochs "${EPOCHS:-2}" --seeds "${SEEDS:-1}" \
    --workers 8 --packed ${PACKED:-8} ${THROUGHPUT_ARGS:-} "$@" || echo "the throughput benchmark stopped early (status $?)"
  (cd bench/results && find . -name '*.json' -newer /tmp/ltlib-bench-start | tar -czf "$OUT/bench.tar.gz" -T -)
}

watch_campaign() {  # start (or keep) the detached campaign, watch it until $1 (epoch seconds), export
  if ! pgrep -f "ltlib campaign --profile" >/dev/null; then
    # a frame that fails to compile runs eagerly with a warning instead of stopping the campaign
    TORCHDYNAMO_SUPPRESS_ERRORS=1 "${campaign[@]}" --workers "${WORKERS:-8}" --detach /tmp/ltlib-campaign.log
  fi
  while [ "$(date +%s)" -lt "$1" ] && pgrep -f "ltlib campaign --profile" >/dev/null; do sleep 5; done
  tail -n 20 /tmp/ltlib-campaign.log
  cp /tmp/ltlib-campaign.log "$OUT/campaign.log"
  "${campaign[@]}" --dry-run --export "$OUT" > /tmp/ltlib-remaining.txt  # what remains; finished entries as tarballs
  head -n 1 /tmp/ltlib-remaining.txt; grep '^exported' /tmp/ltlib-remaining.txt
}

case "${1:-}" in
  all)
    seconds="${2:-540}"
    [ "${SKIP_BENCH:-0}" = 1 ] || measure
    watch_campaign $(( started + seconds - ${EXPORT_S:-45} )) ;;  # the export and the trip home need the rest
  campaign)
    watch_campaign $(( started + ${2:-480} )) ;;
  benchmark)
    shift
    measure "$@" ;;
  *) echo "usage: bash bench/device_session.sh all|campaign|benchmark [SECONDS|args]" >&2; exit 2 ;;
esac
echo "device session: $(( $(date +%s) - started )) s in this call"
