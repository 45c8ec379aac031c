# ghostbench: the two commands are `make bench` and `make test`; both set up .venv on first use.
SHELL := /bin/bash
PYTHON ?= python3
# The GPU profile gets its own venv: CUDA torch and onnxruntime-gpu must not meet the CPU builds
# (pip keeps an installed CPU torch that satisfies the range; onnxruntime and onnxruntime-gpu write
# the same package directory).
VENV ?= $(if $(filter gpu,$(DEVICE)),.venv-gpu,.venv)
PY = $(VENV)/bin/python
# The CPU build of torch. On this project's machines pip finds it on local disk; elsewhere pass
# TORCH_PIP_ARGS="--index-url <your CPU wheel index>" to avoid the multi-GB CUDA build.
TORCH_VERSION ?= 2.13.0
TORCH_PIP_ARGS ?=
DEVICE ?= cpu
HOST ?=
SERIAL ?=
ARGS ?=
RUN ?=
BASELINE ?= results/baselines/$(DEVICE)
NIGHTLY_OUT ?= results/nightly-$(DEVICE)
# Every nightly run's cell summaries, per device (ghostbench history); the nightly workflow keeps it
# outside the checkout so it outlives the job.
HISTORY ?= results/history
# make fleet-report: one report over the results folders of several devices.
RESULTS ?=
FLEET_REPORT ?= reports/fleet.html
STAMP := $(shell date -u +%Y%m%dT%H%M%SZ)

# Extras per device profile: what `make bench DEVICE=...` needs on top of the base package.
EXTRAS_cpu := onnx,tflite
EXTRAS_gpu := gpu
EXTRAS_pi := onnx,tflite,remote
EXTRAS_android := tflite,remote
EXTRAS_test := $(if $(filter gpu,$(DEVICE)),gpu,onnx),tflite,dev

.PHONY: help setup bench test lint report compare baseline calibrate nightly fleet-report clean-venv

help:
	@echo "make bench [DEVICE=cpu|gpu|pi|android] [HOST=user@board] [SERIAL=adb-serial] [ARGS='--quick ...']"
	@echo "make test                run the test suite (sets up $(VENV) on first use)"
	@echo "make lint                ruff"
	@echo "make report RUN=results/<run>   HTML report of one run"
	@echo "make compare RUN=results/<run>  regression check against $(BASELINE)"
	@echo "make baseline DEVICE=...        refresh results/baselines/<device>"
	@echo "make calibrate DEVICE=...       measure this machine's run noise into results/baselines/<device>/noise.json"
	@echo "make nightly DEVICE=gpu         bench + compare + history dashboard, as the nightly CI does"
	@echo "make fleet-report RESULTS='dir1 dir2 ...'   one report over several devices' results"

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# One stamp per extras set, so switching DEVICE installs what is missing and nothing twice.
$(VENV)/.stamp-%: pyproject.toml | $(VENV)/bin/python
	@if [ "$(DEVICE)" = "gpu" ]; then \
	  $(PY) -c 'import torch, sys; sys.exit(0 if torch.version.cuda else 1)' 2>/dev/null || \
	  $(PY) -m pip install --quiet "torch>=2.6,<2.15"; \
	else \
	  $(PY) -c 'import torch' 2>/dev/null || \
	  $(PY) -m pip install --quiet torch==$(TORCH_VERSION) $(TORCH_PIP_ARGS); \
	fi
	$(PY) -m pip install --quiet -e ".[$(EXTRAS_$*)]"
	@touch $@

setup: $(VENV)/.stamp-$(DEVICE)

test: $(VENV)/.stamp-test
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.stamp-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(VENV)/.stamp-$(DEVICE)
	$(VENV)/bin/ghostbench bench --device $(DEVICE) $(if $(HOST),--host $(HOST)) $(if $(SERIAL),--serial $(SERIAL)) $(ARGS)

report: $(VENV)/.stamp-$(DEVICE)
	@test -n "$(RUN)" || { echo "usage: make report RUN=results/<run>"; exit 2; }
	$(VENV)/bin/ghostbench report $(RUN)

compare: $(VENV)/.stamp-$(DEVICE)
	@test -n "$(RUN)" || { echo "usage: make compare RUN=results/<run>"; exit 2; }
	$(VENV)/bin/ghostbench compare $(BASELINE) $(RUN)

# A fresh full run of the profile, copied (tables and samples only) into results/baselines/<device>.
# The machine's noise.json (make calibrate) stays.
BASELINE_FILES := run.json latency.csv latency.parquet samples.parquet
baseline: $(VENV)/.stamp-$(DEVICE)
	$(VENV)/bin/ghostbench bench --device $(DEVICE) --out-dir results/baseline-$(DEVICE)-$(STAMP) --no-report $(ARGS)
	mkdir -p $(BASELINE) && rm -f $(addprefix $(BASELINE)/,$(BASELINE_FILES))
	cp $(addprefix results/baseline-$(DEVICE)-$(STAMP)/*/,$(BASELINE_FILES)) $(BASELINE)/

# 11 back-to-back quick runs (3 rounds): their A/A comparisons, and the run noise compare reads.
calibrate: $(VENV)/.stamp-$(DEVICE)
	$(PY) benchmarks/aa_specificity.py --device $(DEVICE) --out results/calibrate-$(DEVICE)-$(STAMP) \
		--write-noise $(BASELINE)/noise.json --bench-args "$(ARGS)"

# What the nightly workflow runs: bench, report (HTML + Markdown), the run into $(HISTORY) and its
# dashboard, compare against the baseline. bench, report and the history may fail (a failed cell,
# an interrupted run); compare decides the exit code.
nightly: $(VENV)/.stamp-$(DEVICE)
	rm -rf $(NIGHTLY_OUT)
	-$(VENV)/bin/ghostbench bench --device $(DEVICE) --out-dir $(NIGHTLY_OUT) --no-report $(ARGS)
	-$(VENV)/bin/ghostbench report $(NIGHTLY_OUT)/*/ -o $(NIGHTLY_OUT)/report.html --markdown $(NIGHTLY_OUT)/report.md
	-$(VENV)/bin/ghostbench history add $(NIGHTLY_OUT)/*/ --root $(HISTORY)
	-$(VENV)/bin/ghostbench history show --device $(DEVICE) --root $(HISTORY) -o $(NIGHTLY_OUT)/dashboard.html --json $(NIGHTLY_OUT)/history.json
	$(VENV)/bin/ghostbench compare $(BASELINE) $(NIGHTLY_OUT)/*/ --json $(NIGHTLY_OUT)/compare.json --markdown $(NIGHTLY_OUT)/compare.md

# One report over the results folders of several devices (what the fleet workflow's last job runs).
fleet-report: $(VENV)/.stamp-cpu
	@test -n "$(RESULTS)" || { echo "usage: make fleet-report RESULTS='results/<run> results/<other run> ...'"; exit 2; }
	$(VENV)/bin/ghostbench report $(RESULTS) -o $(FLEET_REPORT) --markdown $(basename $(FLEET_REPORT)).md

clean-venv:
	rm -rf $(VENV)
