#!/usr/bin/env bash
# The GPU check on a bare GPU machine with no network: installs the wheels of .whl/ (make gpu-wheels) into a folder
# of their own, then runs bench/gpu_check.py; its JSON line goes to stdout and, when OUT names a folder, to
# $OUT/gpu_check.json. Extra arguments go to bench/gpu_check.py (--budget-s).
#   bench/gpu_check.sh
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
if [ -d "$repo/.whl" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/rlreason_site \
    "$repo"/.whl/*.whl || exit 3
  export PYTHONPATH=/tmp/rlreason_site${PYTHONPATH:+:$PYTHONPATH}
fi
export DS_BUILD_OPS=0 TORCH_EXTENSIONS_DIR=/tmp/torch_extensions PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
# Run from outside the checkout: its rlreason/ folder would shadow the installed package (which carries conf/).
cd /tmp && exec python3 "$repo/bench/gpu_check.py" ${OUT:+--out "$OUT/gpu_check.json"} "$@"
