# Two commands on a fresh machine: `make run` (the app) and `make test`.
SHELL  := bash
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.glassmind-installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

# Which accelerator llama.cpp is compiled for: an NVIDIA CUDA toolchain (nvcc on PATH or in
# /usr/local/cuda) with an NVIDIA GPU that `nvidia-smi -L` lists -> CUDA; macOS -> Metal; otherwise
# the CPU (a CUDA build needs the NVIDIA driver even to import, so nvcc alone is not enough).
# `make BACKEND=cpu` (or cuda, metal) overrides it. NCCL off and no re-exported static symbols:
# a plain CUDA build crashed in any process that also imported a CUDA build of torch (2026-11-23).
comma := ,
LLAMA_VERSION := $(shell sed -n 's/.*"llama-cpp-python==\([0-9.]*\)".*/\1/p' pyproject.toml)
NVCC    ?= $(or $(shell command -v nvcc 2>/dev/null),$(wildcard /usr/local/cuda/bin/nvcc))
NVIDIA_GPU := $(shell nvidia-smi -L 2>/dev/null | head -n 1)
UNAME_S := $(shell uname -s)
ifeq ($(BACKEND),)
  ifneq ($(NVCC),)
    ifneq ($(NVIDIA_GPU),)
      BACKEND := cuda
    else
      BACKEND := cpu
      BACKEND_WHY := $(NVCC) found but no NVIDIA GPU or driver: nvidia-smi -L lists none; BACKEND=cuda forces it
    endif
  else ifeq ($(UNAME_S),Darwin)
    BACKEND := metal
  else
    BACKEND := cpu
  endif
else
  BACKEND_WHY := chosen with BACKEND=$(BACKEND)
endif
ifeq ($(BACKEND),cuda)
  LLAMA_CMAKE_ARGS := -DGGML_CUDA=on -DGGML_CUDA_NCCL=OFF -DCMAKE_SHARED_LINKER_FLAGS=-Wl,--exclude-libs,ALL
  ifneq ($(NVCC),)
    LLAMA_CMAKE_ARGS += -DCMAKE_CUDA_COMPILER=$(NVCC)
  endif
  BACKEND_WHY ?= NVIDIA CUDA toolchain $(or $(NVCC),nvcc)$(if $(NVIDIA_GPU),$(comma) $(NVIDIA_GPU))
else ifeq ($(BACKEND),metal)
  LLAMA_CMAKE_ARGS := -DGGML_METAL=on
  BACKEND_WHY ?= macOS
else ifeq ($(BACKEND),cpu)
  LLAMA_CMAKE_ARGS :=
  BACKEND_WHY ?= no nvcc on PATH or in /usr/local/cuda, not macOS
else
  $(error BACKEND must be cuda, metal or cpu, not '$(BACKEND)')
endif

.PHONY: run test chat bench package package-test clean backend lock llama-server

# requirements.lock: the exact versions (with hashes) the suite passes with, for Linux, resolved on Python 3.11
# (`make lock` refreshes it). torch and llama-cpp-python's GPU build stay out of it and are installed above it.
# Elsewhere (macOS, Windows) the lock's platform-specific choices do not hold: pip resolves pyproject.toml's ranges.
LOCK := requirements.lock
ifeq ($(UNAME_S),Linux)
  INSTALL_DEPS := $(BIN)/pip install --progress-bar on --require-hashes --no-deps -r $(LOCK)
  INSTALL_SELF := $(BIN)/pip install --no-deps -e .
  INSTALL_WHAT := the locked dependencies ($(LOCK))
else
  INSTALL_DEPS := true
  INSTALL_SELF := $(BIN)/pip install --progress-bar on -e '.[dev]'
  INSTALL_WHAT := the newest dependencies pyproject.toml allows ($(LOCK) is for Linux)
endif

$(STAMP): pyproject.toml $(LOCK)
	@echo "==> Creating $(VENV) with $(PYTHON)"
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install -q --upgrade pip
	@echo "==> Installing torch 2.13.0 (CPU build) first, so nothing pulls a multi-GB CUDA build"
	@$(BIN)/pip install -q torch==2.13.0
	@echo "==> llama.cpp backend: $(BACKEND) ($(BACKEND_WHY))"
ifneq ($(BACKEND),cpu)
	@# pip's wheel cache does not know CMAKE_ARGS: build this one afresh, once, and replace a CPU-only build.
	@if ! $(BIN)/python -c "import llama_cpp, sys; sys.exit(not llama_cpp.llama_supports_gpu_offload())" 2>/dev/null; then \
		echo "    Compiling llama-cpp-python $(LLAMA_VERSION) for $(BACKEND): CMAKE_ARGS=\"$(LLAMA_CMAKE_ARGS)\""; \
		$(BIN)/pip uninstall -q -y llama-cpp-python 2>/dev/null || true; \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --no-cache-dir llama-cpp-python==$(LLAMA_VERSION) \
			|| { echo "The $(BACKEND) build of llama.cpp failed (see above); 'make BACKEND=cpu' builds for the CPU."; exit 1; }; \
	fi
endif
	@echo "==> Installing Glassmind and $(INSTALL_WHAT)."
	@echo "    The first install compiles llama.cpp (llama-cpp-python): about 10 minutes on 2 cores."
	@echo "    pip caches the wheel, so later installs take seconds. Build progress follows."
	@set -o pipefail; { $(INSTALL_DEPS) && $(INSTALL_SELF); } 2>&1 \
		| { grep --line-buffered -E "Collecting|Building|Successfully|ERROR|error:|still running|hash" || true; } \
		|| { echo "Install failed: see the messages above."; exit 1; }
	@$(BIN)/python -c "import llama_cpp, faiss, sentence_transformers, sqlite_utils, PySide6" \
		|| { echo "Install failed: see the messages above."; exit 1; }
	@$(BIN)/python -c "from models.llama import build_backend; print('==> llama.cpp runs on:', build_backend())"
	@# One real decode, in a child process: a llama.cpp that crashes on this CPU is named here, not in a test.
	@$(BIN)/python -m models.load_check
	@touch $(STAMP)

# Refresh requirements.lock after changing the dependencies in pyproject.toml (pip-tools, in a venv of its own).
lock:
	@test -x .lock-tools/bin/pip-compile || { $(PYTHON) -m venv .lock-tools && .lock-tools/bin/pip install -q pip-tools; }
	.lock-tools/bin/pip-compile --quiet --generate-hashes --extra dev --strip-extras \
		--no-emit-find-links --no-emit-index-url --no-emit-trusted-host --unsafe-package torch -c lock-constraints.txt -o $(LOCK) pyproject.toml

backend:
	@echo "llama.cpp backend: $(BACKEND) ($(BACKEND_WHY))"
	@echo "CMAKE_ARGS=\"$(LLAMA_CMAKE_ARGS)\""

run: $(STAMP)
	$(BIN)/glassmind

chat: $(STAMP)
	$(BIN)/glassmind chat

# Lint and types first (settings in pyproject.toml), then the tests.
# llama.cpp's llama-server for the served-model tests, built once from the llama.cpp that
# llama-cpp-python's source archive vendors and cached in ~/.cache/glassmind (tests/llama_server.py);
# where it cannot be built, those tests skip and say why.
llama-server: $(STAMP)
	-$(BIN)/python -m tests.llama_server

test: $(STAMP) llama-server
	$(BIN)/python -m ruff check .
	$(BIN)/python -m mypy
	@# One worker per core, at most 4 (each loads the model and the embedder); a test file stays on one worker.
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -n auto --maxprocesses 4 --dist loadfile

bench: $(STAMP)
	$(BIN)/glassmind bench speed
	$(BIN)/glassmind bench retrieval
	$(BIN)/glassmind bench locomo --data ../shared/data/locomo-dev

package: $(STAMP)
	$(BIN)/pip install -q pyinstaller
	$(BIN)/python packaging/build.py

package-test:
	$(BIN)/python packaging/smoke_test.py

clean:
	rm -rf $(VENV) .lock-tools build dist
