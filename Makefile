# Escritorio de Servicios — two commands: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app app
export FLASK_APP := app
# make run PORT=5055 serves there (and prints that address).
PORT ?= 5000
# The links in development's mail lead to that port too, unless PORTAL_URL names the public address.
run demo: export PORTAL_URL := $(or $(PORTAL_URL),http://127.0.0.1:$(PORT))

.PHONY: run test test-fast stress install install-dev db demo serve clean bench bench-data bench-tools bench-scale

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt requirements.txt $(VENV)/.installed
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

db: install
	$(FLASK) db upgrade

demo: db
	$(FLASK) portal demo

## make run: venv, install, migrate, demo data, serve on http://127.0.0.1:$(PORT) (PORT ?= 5000)
run: demo
	@echo ""
	@echo "Escritorio de Servicios en http://127.0.0.1:$(PORT)  (Ctrl+C para terminar)"
	@echo "  cliente@demo.mx / demo12345     distribuidor@demo.mx / demo12345"
	@echo "  usuario@demo.mx (Usuario) y consulta@demo.mx (Consulta), colegas de cliente@demo.mx / demo12345"
	@echo "  El correo se escribe como archivos .eml en instance/mail/ (un repartidor corre al lado)."
	$(FLASK) outbox deliver --loop & trap 'kill $$! 2>/dev/null' EXIT INT TERM; \
	$(FLASK) run --host 127.0.0.1 --port $(PORT)

## make test: venv with the dev requirements, then the whole suite, one process per core; what CI runs
## (TEST_WORKERS=0 runs it in this one process)
TEST_WORKERS ?= auto
test: install-dev
	$(PY) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

## make test-fast: the rule and in-process tiers only, on SQLite, for every change: a budget of 2 minutes
## on 2 cores. FAST_POSTGRES=1 adds PostgreSQL (from PORTAL_TEST_POSTGRES), as `make test` always does.
## The other tiers are pytest marks (pytest.ini), which `make test` runs too: browser (Chromium through
## Playwright), text_browser (lynx, w3m, elinks), multiprocess (gunicorn or other processes), stress
## (abuse and fault tests that hammer). One tier alone: make test PYTEST_ARGS="-m browser".
FAST_TIERS := not browser and not text_browser and not multiprocess and not stress
test-fast: install-dev
	$(if $(FAST_POSTGRES),,PORTAL_TEST_POSTGRES= CI=) $(PY) -m pytest -n $(TEST_WORKERS) -m "$(FAST_TIERS)" $(PYTEST_ARGS)

## make stress: the fault and abuse suite at the issue's full counts (more processes, 60 s mail outage,
## 10,000 generated requests, 100 addresses per enumeration check), figures printed as it goes.
## Both databases when PORTAL_TEST_POSTGRES is set; Redis from PORTAL_TEST_REDIS (127.0.0.1:6379).
stress: install-dev
	STRESS=1 $(PY) -m pytest -s -q -m abuse $(PYTEST_ARGS)

## make bench-data: the bench databases, made afresh (1,000,000 keys each)
BENCH_DBS ?= sqlite postgresql
export BENCH_DBS
bench-data: install
	$(PY) -m bench.generate

# Made once, again when the generator or the migration changes.
bench/data/%.json: bench/generate.py bench/common.py $(wildcard migrations/versions/*.py) | $(VENV)/.installed
	$(PY) -m bench.generate --db $*

bench-tools:
	@command -v wrk >/dev/null || { echo "== Instalando wrk (apt-get)"; apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }
	@command -v curl >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl; }

## make bench: gunicorn + wrk on loopback against each database -> bench/results/ (BENCH_DBS=sqlite for one)
bench: install bench-tools $(foreach db,$(BENCH_DBS),bench/data/$(db).json)
	$(PY) -m bench.run

$(VENV)/.installed-bench: requirements-bench.txt requirements.txt $(VENV)/.installed
	$(PY) -m pip install -q -r requirements-bench.txt
	touch $@

## make bench-scale: the keys routes at 10 k, 100 k, 1 M and 10 M keys in PostgreSQL `bench_scale` (its own
## database, built afresh for each size) -> bench/results/scale.{json,png} and bench/README.md's table.
## BENCH_SCALE_SIZES="10000 100000" for a quick partial run (bench/results/partial-scale.*); BENCH_SECONDS.
bench-scale: install bench-tools $(VENV)/.installed-bench
	$(PY) -m bench.scale

clean:
	rm -rf $(VENV) instance/portal.db* instance/mail
