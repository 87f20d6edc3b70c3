# Escritorio de Servicios — two commands: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app app
export FLASK_APP := app

.PHONY: run test install install-dev db demo serve clean

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

## make run: venv, install, migrate, demo data, serve on http://127.0.0.1:5000
run: demo
	@echo ""
	@echo "Escritorio de Servicios en http://127.0.0.1:5000  (Ctrl+C para terminar)"
	@echo "  cliente@demo.mx / demo12345     distribuidor@demo.mx / demo12345"
	@echo "  El correo se escribe como archivos .eml en instance/mail/ (un repartidor corre al lado)."
	$(FLASK) outbox deliver --loop & trap 'kill $$! 2>/dev/null' EXIT INT TERM; \
	$(FLASK) run --host 127.0.0.1 --port 5000

## make test: venv with the dev requirements, then the whole suite
test: install-dev
	$(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) instance/portal.db* instance/mail
