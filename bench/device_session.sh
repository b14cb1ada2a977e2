#!/usr/bin/env bash
# One call on a lent GPU machine (the device tool's `run`, in the repository root, 10 minutes at most):
#   bash bench/device_session.sh benchmark [throughput.py args]   peer / eager / fast / packed side by side -> $OUT
#   bash bench/device_session.sh campaign [SECONDS]                start (or keep) the paper campaign running detached,
#                                                                  watch it SECONDS (default 480), export finished
#                                                                  store entries and the log to $OUT
# Before the first call, here: `python -m ltlib device-kit` (writes device_data/kit.tar.xz); carry device_data.
# Environment: EPOCHS, SEEDS, PACKED (benchmark); WORKERS, SEEDS_CAMPAIGN, ONLY, PROFILE (campaign; PROFILE=quick
# ONLY=00 rehearses the whole call on a CPU in a minute); MPS=1 (start CUDA MPS first).
# Back home: `python -m ltlib store import /work/.device/.../*.tar.gz`, commit results/.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/build/device-out}"
mkdir -p "$OUT"
kit_dir=/tmp/ltlib-kit
if [ ! -d "$kit_dir/data" ]; then
  python3 -m tarfile -e device_data/kit.tar.xz "$kit_dir" \
    || { echo "no device kit: run 'python -m ltlib device-kit' before the call and carry device_data" >&2; exit 2; }
fi
export LTLIB_DATA="$kit_dir/data" LTLIB_CACHE="$kit_dir/cache" PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1
LTLIB_GIT_COMMIT="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["git_commit"])' "$kit_dir/kit.json")"
export LTLIB_GIT_COMMIT  # no .git travels: results carry the commit the kit was built from
nvidia-smi --query-gpu=name,memory.used,memory.total,utilization.gpu --format=csv,noheader 2>/dev/null || true
if [ "${MPS:-0}" = 1 ]; then  # CUDA MPS lets kernels of several processes run at once (else they time-slice)
  if command -v nvidia-cuda-mps-control >/dev/null; then nvidia-cuda-mps-control -d && echo "MPS started"
  else echo "MPS requested but nvidia-cuda-mps-control is not on this machine"; fi
fi
campaign=(python3 -m ltlib campaign --profile "${PROFILE:-paper}" --seeds ${SEEDS_CAMPAIGN:-0 1 2} ${ONLY:+--only $ONLY})
case "${1:-}" in
  benchmark)
    shift
    python3 bench/throughput.py --epochs "${EPOCHS:-3}" --seeds "${SEEDS:-2}" --workers 8 \
      --packed ${PACKED:-4 8 16} "$@" 2>&1 | tee "$OUT/benchmark.log"
    cp "$(ls -t bench/results/throughput-*.json | head -n 1)" "$OUT/" ;;
  campaign)
    seconds="${2:-480}"
    if ! pgrep -f "ltlib campaign --profile" >/dev/null; then
      "${campaign[@]}" --workers "${WORKERS:-8}" --detach /tmp/ltlib-campaign.log
    fi
    deadline=$(( $(date +%s) + seconds ))
    while [ "$(date +%s)" -lt "$deadline" ] && pgrep -f "ltlib campaign --profile" >/dev/null; do sleep 10; done
    tail -n 30 /tmp/ltlib-campaign.log
    cp /tmp/ltlib-campaign.log "$OUT/campaign.log"
    "${campaign[@]}" --dry-run --export "$OUT" > /tmp/ltlib-remaining.txt  # what remains; finished entries as tarballs
    head -n 1 /tmp/ltlib-remaining.txt; grep '^exported' /tmp/ltlib-remaining.txt ;;
  *) echo "usage: bash bench/device_session.sh benchmark|campaign [SECONDS]" >&2; exit 2 ;;
esac
