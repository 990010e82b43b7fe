#!/usr/bin/env bash
# Gathers into .whl/ the wheels bench/gpu_check.sh needs on a bare GPU machine with no network: Python 3.12 with
# PyTorch (CUDA), accelerate, peft, huggingface-hub, tokenizers, safetensors, pyarrow and pandas already there (at
# versions transformers and datasets accept), but no TRL, DeepSpeed, Hydra or vLLM.
# rlreason itself (a wheel of this checkout) and, at the versions constraints.txt pins, what it needs beyond that
# machine's packages for the GPU check's path (rollout=hf, logger=none: no vLLM, no W&B). DeepSpeed and ANTLR's
# runtime ship only source releases: they are built here into pure-Python wheels (DeepSpeed's ops are JIT-built on
# first use, as on CPU).
#   make gpu-wheels            (or: bench/gpu_wheels.sh)      -> .whl/, its size on the last line
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
OUT=.whl
SOURCE_ONLY=(deepspeed antlr4-python3-runtime)
PACKAGES=(
  trl transformers datasets dill multiprocess fsspec xxhash
  hydra-core omegaconf submitit hydra-submitit-launcher
  math-verify latex2sympy2_extended hjson pydantic pydantic_core annotated-types typing-inspection typing_extensions
)

pinned() {  # NAME==VERSION as constraints.txt pins it (names compared case- and -/_-insensitively)
  local name=${1//[-_]/[-_]}
  grep -i -m1 "^${name}==" constraints.txt || { echo "gpu_wheels: $1 is not pinned in constraints.txt" >&2; exit 2; }
}

rm -rf "$OUT" && mkdir -p "$OUT"
"$PYTHON" -m pip wheel -q --no-deps --no-build-isolation -w "$OUT" .
for package in "${SOURCE_ONLY[@]}"; do
  DS_BUILD_OPS=0 "$PYTHON" -m pip wheel -q --no-deps --no-build-isolation -w "$OUT" "$(pinned "$package")"
done
specs=()
for package in "${PACKAGES[@]}"; do specs+=("$(pinned "$package")"); done
"$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform manylinux_2_5_x86_64 --platform manylinux1_x86_64 -d "$OUT" "${specs[@]}"
ls "$OUT"
du -sh "$OUT"
