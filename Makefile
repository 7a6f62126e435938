# CoordLab: `make run` serves the labs, `make test` checks everything.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum < requirements.txt | cut -d' ' -f1)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PORT ?= 8000

.PHONY: install db run lecture run-cluster test bench screenshots lint chromium kcat clean

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

db: install
	DATABASE_URL= $(BIN)/python manage.py migrate --noinput -v0
	DATABASE_URL= $(BIN)/python manage.py load_scenarios

# The real server: daphne serves pages, static files and WebSockets. The
# in-memory channel layer and SQLite (even if REDIS_URL or DATABASE_URL is set);
# nothing else to install or start.
run: db
	$(BIN)/python manage.py collectstatic --noinput -v0
	@echo "CoordLab is at http://127.0.0.1:$(PORT)/"
	REDIS_URL= DATABASE_URL= $(BIN)/python -m coordlab.serve --port $(PORT)

# A lecture hall: `run`, listening on every interface (port PORT) and answering to this
# machine's LAN addresses and names, and to HOSTS (comma-separated names students use);
# prints the join address to give students. README: "Serving a lecture hall".
HOSTS ?=
lecture: db
	$(BIN)/python manage.py collectstatic --noinput -v0
	REDIS_URL= DATABASE_URL= $(BIN)/python -m coordlab.serve --lecture --port $(PORT)$(if $(HOSTS), --allow-host $(HOSTS))

# Two server processes (ports 8000 and 8001) sharing the labs through the local
# Redis: each lab runs in one of them, viewers may use either, and if one dies the
# other takes its labs over. Ctrl-C stops both.
CLUSTER_REDIS_URL ?= redis://127.0.0.1:6379/0
run-cluster: db
	$(BIN)/python manage.py collectstatic --noinput -v0
	@echo "CoordLab is at http://127.0.0.1:8000/ and http://127.0.0.1:8001/ (Redis: $(CLUSTER_REDIS_URL))"
	trap 'kill $$(jobs -p) 2>/dev/null' INT TERM; \
	REDIS_URL=$(CLUSTER_REDIS_URL) DATABASE_URL= $(BIN)/python -m coordlab.serve --port 8000 & \
	REDIS_URL=$(CLUSTER_REDIS_URL) DATABASE_URL= $(BIN)/python -m coordlab.serve --port 8001 & \
	wait

# Browser tests drive Debian's Chromium (Playwright's own download does not work here).
chromium:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

# Real Kafka clients' tests drive Debian's kcat (librdkafka) against a lab's brokers.
kcat:
	@command -v kcat >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq kcat; }

# Two pytest workers (the machine has two cores); each runs its browser tests last.
test: install chromium kcat
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -n 2

bench: install
	$(BIN)/python -m bench

# Every lab in presenter mode and on a phone, for the README (docs/screens/).
screenshots: install chromium
	$(BIN)/python docs/screenshots.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) var
