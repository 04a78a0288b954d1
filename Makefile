# Two commands do all the set-up: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint venv clean ssd-onnx

# TORCH_INDEX: the wheel index torch alone is installed from. Empty (the default): pip's
# configured index, where Linux gets the CUDA build of torch (several GB). For the CPU-only
# build (about 200 MB): make demo TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=
TORCH_FROM := $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX),)

$(STAMP): pyproject.toml constraints.txt
	@echo "Setting up $(VENV): torch $(if $(TORCH_INDEX),from $(TORCH_INDEX),from pip's index), then mulde and its dependencies."
	@echo "On a fresh machine this downloads several hundred MB with torch's CPU build, several GB with its CUDA build (PyPI's on Linux; TORCH_INDEX picks); pip shows its progress."
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

# Optional, for a faster objects:detector (docs/results.md, round 8): the SSD converted to ONNX
# (tools/convert_ssd_onnx.py) into the weights folder, where mulde then finds and prefers it.
# TensorFlow and tf2onnx conflict with mulde's protobuf, so they go into their own venv
# ($(TF_VENV), about 700 MB); these pinned versions give one of the known builds (one per CPU
# family: weights.SSD_ONNX_BUILDS), written into that build's folder of the weights folder.
TF_VENV := .venv-tf
# the graph is located first, once (one shell line, so the path is kept in a variable): when no
# route gives it, one line naming the routes and a stop, before the 700 MB TensorFlow venv is
# built
ssd-onnx: $(STAMP)
	graph="$$($(BIN)/python tools/convert_ssd_onnx.py --locate graph)" && \
	folder="$$($(BIN)/python tools/convert_ssd_onnx.py --locate folder)" && \
	{ test -x $(TF_VENV)/bin/python || $(PY) -m venv $(TF_VENV); } && \
	$(TF_VENV)/bin/python -m pip install -q tensorflow-cpu==2.21.0 tf2onnx==1.17.0 onnx==1.23.2 && \
	$(TF_VENV)/bin/python tools/convert_ssd_onnx.py --graph "$$graph" --weights-folder "$$folder"

clean:
	rm -rf $(VENV) $(TF_VENV) demo_out
