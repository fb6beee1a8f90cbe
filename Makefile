# Two commands on a fresh machine: `make run` (the app) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.glassmind-installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run test chat bench package package-test clean

$(STAMP): pyproject.toml
	@echo "==> Creating $(VENV) with $(PYTHON)"
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install -q --upgrade pip
	@echo "==> Installing torch 2.13.0 (CPU build) first, so nothing pulls a multi-GB CUDA build"
	@$(BIN)/pip install -q torch==2.13.0
	@echo "==> Installing Glassmind and its dependencies."
	@echo "    The first install compiles llama.cpp (llama-cpp-python): about 10 minutes on 2 cores."
	@echo "    pip caches the wheel, so later installs take seconds. Build progress follows."
	@$(BIN)/pip install --progress-bar on -e '.[dev]' 2>&1 | grep --line-buffered -E "Collecting|Building|Successfully|ERROR|error:|still running" || true
	@$(BIN)/python -c "import llama_cpp, faiss, sentence_transformers, sqlite_utils, PySide6" \
		|| { echo "Install failed: see the messages above."; exit 1; }
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/glassmind

chat: $(STAMP)
	$(BIN)/glassmind chat

# Lint and types first (settings in pyproject.toml), then the tests.
test: $(STAMP)
	$(BIN)/python -m ruff check .
	$(BIN)/python -m mypy
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest

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
	rm -rf $(VENV) build dist
