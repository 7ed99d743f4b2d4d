# The notification platform: one command to run it, one to test it (README.md).
SHELL := /bin/bash
VENV ?= .venv
PY := $(abspath $(VENV))/bin/python
PIP := $(abspath $(VENV))/bin/pip
SERVICES := api_gateway_service user_service template_service email_service push_service admin_service
REQUIREMENTS := requirements-base.txt requirements-dev.txt notification_common/pyproject.toml notification_devtools/pyproject.toml $(foreach s,$(SERVICES),$(s)/requirements.txt)
STAMP := $(VENV)/.installed
# The services default to production and refuse to start on the dev defaults
# (docs/operations.md): everything make runs here is local work.
export ENVIRONMENT ?= development

.PHONY: createadmin install infra migrate dev test test-common test-devtools test-services test-e2e test-e2e-quorum test-replicas lint check bench chaos chaos-short fuzz demo clean $(addprefix test-,$(SERVICES))

install: $(STAMP)

$(STAMP): $(REQUIREMENTS)
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements-dev.txt $(foreach s,$(SERVICES),-r $(s)/requirements.txt)
	$(PIP) install -q --no-deps -e notification_common
	# Development tools (loopback servers, test helpers): here, never in the production images.
	$(PIP) install -q --no-deps -e notification_devtools
	@touch $(STAMP)

infra: install
	@bash scripts/ensure_servers.sh
	@$(PY) scripts/infra.py

migrate: infra
	@for s in $(SERVICES); do echo "migrate $$s"; (cd $$s && $(PY) manage.py migrate --noinput -v 0) || exit 1; done

dev: migrate
	@$(PY) scripts/dev.py

test: infra test-common test-devtools test-services test-e2e

test-common: install
	cd notification_common && $(PY) -m pytest -q

test-devtools: install
	cd notification_devtools && $(PY) -m pytest -q

test-services: $(addprefix test-,$(SERVICES))

$(addprefix test-,$(SERVICES)): test-%: install
	cd $* && $(PY) -m pytest -q

test-e2e: install
	@if ls e2e/test_*.py >/dev/null 2>&1; then cd e2e && $(PY) -m pytest -q; else echo "e2e: no scenarios yet"; fi

# The core e2e scenarios (delivery, retries through the delay queues, dead letters and replay)
# on quorum queues, in a vhost of their own (docs/operations.md, "Quorum queues").
test-e2e-quorum: install
	cd e2e && RABBITMQ_QUEUE_TYPE=quorum E2E_RABBITMQ_VHOST=notifications_e2e_quorum \
		$(PY) -m pytest -q test_email_delivery.py test_push_delivery.py test_failures.py test_requests.py test_operations.py

# Two of every process over a backlog of 5,000 notifications (issue 17; make test-e2e runs the
# same scenario with 1,000). Several minutes on two cores.
test-replicas: install
	cd e2e && REPLICAS_BACKLOG=5000 $(PY) -m pytest -q test_replicas.py

lint: install
	$(abspath $(VENV))/bin/ruff check .
	$(abspath $(VENV))/bin/ruff format --check .

check: install
	@for s in $(SERVICES); do \
		(cd $$s && $(PY) manage.py check --fail-level WARNING && \
		 $(PY) manage.py makemigrations --check --dry-run -v 1 >/dev/null) || { echo "check failed in $$s"; exit 1; }; \
	done; echo "django checks and migrations: ok"
	@if [ -f docker-compose.yml ]; then $(abspath $(VENV))/bin/check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml; fi
	@$(abspath $(VENV))/bin/hadolint --failure-threshold warning deploy/*.Dockerfile && echo "hadolint: ok"
	@$(PY) scripts/check_kubernetes.py
	@$(PY) scripts/check_imports.py
	@cd scripts && $(PY) -m pytest -q -p no:cacheprovider tests
	@cd chaos && $(PY) -m pytest -q -p no:cacheprovider tests
	@cd bench && $(PY) -m pytest -q -p no:cacheprovider tests
	@if command -v go >/dev/null; then for d in bench/loadgen bench/smtpsink; do (cd $$d && go test ./...) || exit 1; done; else echo "go tests: skipped (no go; .ci/run installs golang-go)"; fi

# The capacity curve (bench/README.md): the Go load generator is built into var/bench/ (without
# Go, bench/capacity.py falls back to its asyncio one). Options: make bench BENCH_ARGS="--rate 300 --duration 300".
bench: migrate
	@if command -v go >/dev/null 2>&1; then mkdir -p var/bench && cd bench/loadgen && go build -o ../../var/bench/loadgen . ; \
		else echo "bench: no Go toolchain (apt-get install golang-go): using the Python load generator"; fi
	$(PY) bench/capacity.py $(BENCH_ARGS)

# The long schemathesis run over every service's OpenAPI schema (the short one is part of each
# service's tests): FUZZ_EXAMPLES valid and as many invalid requests per operation and credential.
FUZZ_EXAMPLES ?= 100
fuzz: infra
	@for s in $(SERVICES); do echo "fuzz $$s"; \
		(cd $$s && SCHEMA_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -q -p no:logging \
			-k test_fuzzed_requests_get_no_5xx_and_conforming_responses */tests/test_schema_contract.py) || exit 1; \
	done

# Fault injection (chaos/README.md). Starts private PostgreSQL, Redis and RabbitMQ servers
# of its own (the shared ones are never touched): needs their Debian packages, not `make infra`.
chaos: install
	$(PY) chaos/run.py --profile full

chaos-short: install
	$(PY) chaos/run.py --profile short

demo: install
	$(PY) scripts/demo.py

createadmin: migrate
	cd admin_service && $(PY) manage.py createadmin

clean:
	rm -rf $(VENV) var
