# The two commands of the README:
#   make repro   set up, then rebuild every artifact with `dvc repro` (embedded sample, offline)
#   make test    set up, then run the test suite
# Both create .venv from the pinned lock on first use (scripts/setup.sh).

VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.echo-bench-setup
# dvc's stage commands call `snakemake` (and tests call the venv's tools): the venv comes first on PATH.
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup repro test dvc-yaml sync benchmarks lock paper clean-venv

$(STAMP): requirements.lock pyproject.toml scripts/setup.sh
	bash scripts/setup.sh
	touch $(STAMP)

setup: $(STAMP)

repro: $(STAMP)
	$(BIN)/dvc repro

test: $(STAMP)
	$(BIN)/pytest

# dvc.yaml is generated from the Snakefile; regenerate after editing a rules file.
dvc-yaml: $(STAMP)
	$(BIN)/python -m echo_bench.workflow.dvcgen

# After `dvc checkout` / `dvc pull` restored outputs, give them file times in DAG
# order so a direct `snakemake` run does not redo what DVC already restored.
sync: $(STAMP)
	$(BIN)/snakemake --profile workflow/profiles/default --touch --quiet all -- all

benchmarks: $(STAMP)
	for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# The paper: regenerate its tables and figures (rule `paper` and what it needs),
# then build paper/main.pdf with latexmk when a TeX installation is present.
paper: $(STAMP)
	$(BIN)/snakemake --profile workflow/profiles/default -- paper
	@if command -v latexmk >/dev/null 2>&1; then \
		cd paper && latexmk -pdf -interaction=nonstopmode -halt-on-error main.tex; \
	else \
		echo "make paper: latexmk not found (no TeX installation); paper/tables and paper/figures are up to date, main.pdf not built"; \
	fi

# Re-pin every dependency (after changing pyproject.toml).
lock: $(STAMP)
	bash scripts/lock.sh

clean-venv:
	rm -rf $(VENV)
