# hwgen: ternary-LLM FPGA kernel generator.  `make setup` once, then `make synth TARGET=kv260`, `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TARGET ?= u280
DESIGN ?= designs/$(TARGET)_tlmm.yaml
FLOW ?= auto
OUT ?= build/synth/$(TARGET)
EXTRAS ?= test,surrogate,cluster,search,sim,reference,frontend,yowasp,baselines

.PHONY: setup setup-tools setup-python synth test test-fast bench clean help \
	surrogate-model surrogate-eval surrogate-holdout surrogate-fresh surrogate-layers surrogate-docs

help:
	@echo "make setup                      install EDA tools (apt) and the Python env ($(VENV))"
	@echo "make synth TARGET=u280 [DESIGN=designs/x.yaml] [FLOW=auto|open|vendor]"
	@echo "make test                       run the test suite"
	@echo "make bench                      regenerate the quick benchmark tables in bench/results/"
	@echo "make surrogate-model            retrain the shipped surrogate models/surrogate_v1 (~5 min, 1 thread)"
	@echo "make surrogate-eval             docs/surrogate_eval.md: 3 splits of the shipped data (~15-20 min)"
	@echo "make surrogate-holdout          docs/surrogate_holdout.md: the shipped model on datasets/holdout_*"
	@echo "make surrogate-fresh            docs/surrogate_fresh*.md: the shipped model on datasets/fresh_s4242_*, fresh_s7171_adder, fresh_s5353_tlmm"
	@echo "make surrogate-layers           docs/surrogate_layers.md: layer kernels, held-out decoder layers (split d)"
	@echo "make surrogate-docs             all four surrogate reports (not the model)"

setup: setup-tools setup-python

# Idempotent: installs only what is missing. Needs root (or sudo) for apt on a fresh machine.
setup-tools:
	@missing=""; for t in g++:g++ yosys:yosys verilator:verilator iverilog:iverilog; do \
	  command -v $${t%%:*} >/dev/null || missing="$$missing $${t##*:}"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	else echo "EDA tools present: g++ yosys verilator iverilog"; fi

setup-python:
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	@# torch first from the local CPU wheel, so torch-geometric does not pull a CUDA build.
	@$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[$(EXTRAS)]'
	@$(BIN)/hwgen --help >/dev/null && echo "hwgen installed in $(VENV)"

synth:
	$(BIN)/hwgen synth --config $(DESIGN) --target $(TARGET) --out $(OUT) --flow $(FLOW)

test:
	$(BIN)/pytest -q -n 2 --dist loadfile

test-fast:
	$(BIN)/pytest -q -x -m "not slow"

# The quick benchmarks (minutes); bench/surrogate_speed.py and bench/search_eval.py run longer (see README).
bench:
	$(BIN)/python bench/tlmm_vs_naive.py
	$(BIN)/python bench/attention_accuracy.py
	$(BIN)/python bench/attention_perf.py
	$(BIN)/python bench/layer_perf.py

# The surrogate: the shipped model and its reports, each one command over the data in the repo.
SURROGATE_DATA := --data datasets/tlmm --data datasets/composed --data datasets/attention --data datasets/tlmm_adder
# the shipped model also learns the decoder layer's kernels and whole-layer tops
SURROGATE_LAYER_DATA := --data datasets/layer_kernels --data datasets/bitnet_layer
SURROGATE_SEEN := --exclude datasets/tlmm --exclude datasets/attention --exclude datasets/tlmm_adder

surrogate-model:
	$(BIN)/hwgen surrogate train $(SURROGATE_DATA) $(SURROGATE_LAYER_DATA) --out models/surrogate_v1

surrogate-eval:
	$(BIN)/hwgen surrogate report $(SURROGATE_DATA) --out docs/surrogate_eval.md

surrogate-holdout:
	$(BIN)/hwgen surrogate eval --model models/surrogate_v1 --data datasets/holdout_tlmm --data datasets/holdout_attention \
	    $(SURROGATE_SEEN) --out docs/surrogate_holdout.md

surrogate-fresh:
	$(BIN)/hwgen surrogate eval --model models/surrogate_v1 --data datasets/fresh_s4242_tlmm \
	    --data datasets/fresh_s4242_attention --data datasets/fresh_s7171_adder $(SURROGATE_SEEN) \
	    --out docs/surrogate_fresh.md
	$(BIN)/hwgen surrogate eval --model models/surrogate_v1 --data datasets/fresh_s5353_tlmm $(SURROGATE_SEEN) \
	    --out docs/surrogate_fresh_s5353.md

surrogate-layers:
	$(BIN)/hwgen surrogate report $(SURROGATE_LAYER_DATA) --splits ad --out docs/surrogate_layers.md

surrogate-docs: surrogate-eval surrogate-holdout surrogate-fresh surrogate-layers

clean:
	rm -rf build .pytest_cache
