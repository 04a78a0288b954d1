# Two commands do all the set-up: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint venv clean

# TORCH_INDEX: the wheel index torch alone is installed from. Empty (the default): pip's
# configured index, where Linux gets the CUDA build of torch (several GB). For the CPU-only
# build (about 200 MB): make demo TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=
TORCH_FROM := $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX),)

$(STAMP): pyproject.toml constraints.txt
	@echo "Setting up $(VENV): torch $(if $(TORCH_INDEX),from $(TORCH_INDEX),from pip's index), then mulde and its dependencies."
	@echo "On a fresh machine this downloads several hundred MB (minutes); pip shows its progress."
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install --progress-bar on -c constraints.txt $(TORCH_FROM) torch
	$(BIN)/python -m pip install --progress-bar on -c constraints.txt -e '.[dev]'
	touch $(STAMP)
	@echo "Set-up done: $(VENV) holds mulde (run it as $(BIN)/mulde)."

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/mulde demo --out demo_out

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks tools
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks tools

clean:
	rm -rf $(VENV) demo_out
