# Two commands on a fresh machine: `make run` and `make test`. Everything the project needs is
# installed here: uv (pinned) into .tools/, the locked dependencies into .venv/, generated code into gen/.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.8
BUF_VERSION := 1.75.0
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
STAMPS := .make
PROTOS := $(shell find protos -name '*.proto')

.PHONY: help install gen setup run test test-unit fuzz lint fmt bench bench-enrollment bench-scale bench-payments load soak clean

help:
	@echo "make run    set up everything and start every service and worker (Ctrl-C stops them)"
	@echo "make test   the whole test suite against the local PostgreSQL and RabbitMQ"
	@echo "make fuzz   at least 5,000 hostile calls over every RPC (R34); prints the counts by status code"
	@echo "make lint   ruff, mypy and buf lint"
	@echo "make bench  benchmarks with their ceilings measured in the same run (see docs/BENCHMARKS.md)"
	@echo "make bench-scale  how cost grows: the check over 1M and 10M people, payments over 1M and 10M items"
	@echo "make load   the deadline-week mix against the running system (make run); make soak: 10 minutes in all"

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(STAMPS)/installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	@mkdir -p $(STAMPS) && touch $@

install: $(STAMPS)/installed

$(STAMPS)/generated: $(STAMPS)/installed $(PROTOS) ops/codegen.py
	rm -rf gen && $(PY) -m ops.codegen
	@touch $@

gen: $(STAMPS)/generated

setup: gen certs channel-keys
	$(PY) -m ops.setup

run: setup
	$(PY) -m ops.supervisor

# Temporary files (the end-to-end clock file and process logs) under .make/: the default
# /tmp/pytest-of-<user> is shared with every other pytest run of the user, which prunes it.
PYTEST_TMP := --basetemp=$(STAMPS)/pytest-tmp

test: gen
	$(PY) -m pytest $(PYTEST_TMP)

test-unit: gen
	$(PY) -m pytest tests/unit

# The fuzz suite's long profile: 120 hostile calls per RPC (every RPC of the three services, from their
# descriptors: 57 since issue 19), at least 5,000 in all. `make test` runs the same suite with a short
# profile.
fuzz: gen
	MEDINS_FUZZ_EXAMPLES=120 MEDINS_FUZZ_MIN_CALLS=5000 MEDINS_FUZZ_REPORT=.make/fuzz-report.json \
		$(PY) -m pytest $(PYTEST_TMP) tests/fuzz -q -s -p no:logging

lint: gen
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	npx --yes @bufbuild/buf@$(BUF_VERSION) lint

fmt: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# `make bench`: payments, end to end and the check, each next to its ceiling measured in the same run (about
# 8 minutes; the check over 1,000,000 people, BENCH_ARGS=--full for 10,000,000). `make bench-enrollment`: the
# check alone over 10,000,000.
bench: gen channel-keys
	$(PY) -m benchmarks.bench $(BENCH_ARGS)

bench-enrollment: gen
	$(PY) -m benchmarks.enrollment_check

# `make bench-scale` (issue 23 item 6): the check over 1,000,000 then 10,000,000 people (the same database
# grown), payments with 1,000,000 then 10,000,000 payable items in the tax database, and payments against
# calls in flight (1, 8, 32, 128); a table and docs/benchmarks/scale.png. SCALE_ARGS passes options, e.g.
# `make bench-scale SCALE_ARGS=--quick` (python -m benchmarks.bench_scale -h).
bench-scale: gen channel-keys
	$(PY) -m benchmarks.bench_scale $(SCALE_ARGS)

# `make load` plays against the system `make run` started (in another terminal); LOAD_ARGS passes options,
# e.g. `make load LOAD_ARGS="--rate 200 --duration 120"` (python -m benchmarks.load_tool -h). `make soak`
# (issue 23: within 10 minutes) probes the sustained maximum for 1 minute, soaks at half of it for 8
# (LOAD_ARGS=--soak-minutes 10 for the issue's 10) and audits; against `make run` when it is running, else
# on a system of its own (databases medins_soak_*, vhost medins_soak) started and dropped around the soak.
load: gen
	$(PY) -m benchmarks.load_tool $(LOAD_ARGS)

soak: gen channel-keys
	$(PY) -m benchmarks.soak $(LOAD_ARGS)

clean:
	rm -rf $(VENV) $(TOOLS) $(STAMPS) gen .pytest_cache .mypy_cache .ruff_cache

# Offline checks of the deployment files (no Docker engine, no cluster): compose against the compose
# spec, the kustomize base and production overlay against the Kubernetes and operators' schemas.
# The same tests run in `make test`.
.PHONY: deploy-check k8s-render k8s-snapshot
deploy-check: gen
	$(PY) -m pytest tests/deploy

k8s-render: install
	@$(PY) -m ops.k8s_render deploy/k8s/overlays/$(or $(OVERLAY),production)

# The rendered production overlay, checked in and diffed by tests/deploy/test_snapshot.py (issue 24).
k8s-snapshot: install
	$(PY) -m ops.k8s_render deploy/k8s/overlays/production > tests/deploy/snapshots/production.yaml

# Issue 10: the duplicate storm (10,000 notifications carrying 1,000 transactions) and the fault campaign
# (5,000 people, two replicas of every process, faults while payments flow) at full size, each audited
# by `medins audit`. Their small profiles run in `make test`. Progress and figures print as they go.
# Issue 21 (R43): 1,000 orders paid at the WeChat Pay simulator with every callback dropped, all applied by
# the payment query worker (`make test` runs 100).
.PHONY: chaos
chaos: gen
	MEDINS_CHAOS_PROFILE=full $(PY) -m pytest -s -p no:cacheprovider tests/e2e/test_duplicate_storm.py tests/e2e/test_fault_campaign.py
	MEDINS_LOST_CALLBACK_ORDERS=1000 $(PY) -m pytest -s -p no:cacheprovider \
		tests/integration/test_payment_query.py::test_orders_paid_with_every_callback_dropped_are_all_applied_by_query

# Issue 13: a 3-node RabbitMQ cluster on this machine (medins1-3@localhost, AMQP ports 5681-5683, data
# under .make/cluster), beside the default broker on 5672, with the topology's quorum queues replicated
# on every node. It prints the MEDINS_AMQP_URLS line that points the system at it (see docs/DEPLOY.md).
.PHONY: cluster cluster-stop
cluster: gen
	$(PY) -m ops.rabbit_cluster start

cluster-stop: gen
	$(PY) -m ops.rabbit_cluster stop

# Issue 13: a payment run on a test cluster of its own (free ports, temporary directory) loses a node in
# the middle; audited afterwards. Four to five minutes, most of it RabbitMQ nodes starting and joining,
# so `make test` does not run it (it runs the fast failover tests, tests/cluster/test_failover.py).
.PHONY: test-cluster
test-cluster: gen
	$(PY) -m pytest $(PYTEST_TMP) -s -p no:cacheprovider tests/cluster

# R35: a local CA and certificates for every service and kind of caller, into .make/certs (kept if
# present). Switch the system to mutual TLS with MEDINS_TLS_REQUIRED=true MEDINS_TLS_DIR=.make/certs.
.PHONY: certs
certs: install
	$(PY) -m ops.certs --dir $(STAMPS)/certs

# R42: every channel's own keys for its simulator (sim/) and for the services' verification (verify/),
# into .make/channel-keys (kept if present); the services read .make/channel-keys/verify by default.
.PHONY: channel-keys
channel-keys: install
	$(PY) -m ops.channel_sim.dev_keys --dir $(STAMPS)/channel-keys

# Issue 24: engines from Debian's packages, installed when missing (this machine kind runs as root and
# reaches Debian's archive). $(call debian,COMMAND:PACKAGE ...) installs each PACKAGE whose COMMAND is
# not on PATH.
define debian
	@missing=""; for pair in $(1); do command -v "$${pair%%:*}" >/dev/null || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ]; then \
		echo "apt-get install$$missing"; \
		apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing >/dev/null; \
	fi
endef

# Issue 24: the image, built with podman from a base given as a build argument: the local Debian base
# (mmdebstrap from Debian's packages, no registry needed) by default, IMAGE_BASE=python:3.11-slim-bookworm
# where a registry is reachable. `make test-image` runs the system from inside the built image.
IMAGE_BASE ?= localhost/medins-base:bookworm
IMAGE_TAG ?= localhost/medins:latest
.PHONY: image test-image
image: install
	$(call debian,podman:podman mmdebstrap:mmdebstrap)
	$(PY) -m ops.image build --base $(IMAGE_BASE) --tag $(IMAGE_TAG)

test-image: image gen
	MEDINS_IMAGE_PREBUILT=1 MEDINS_IMAGE_TAG=$(IMAGE_TAG) $(PY) -m pytest $(PYTEST_TMP) -s -p no:cacheprovider tests/image

# Issue 24: PostgreSQL failover. `make ha` starts etcd and two Patroni nodes of PostgreSQL 15 (a primary and
# a synchronous standby) under .make/ha on ports 5450-5463 and prints the MEDINS_PG_HOSTS line; `make
# test-ha` kills the primary in the middle of a payment run on a cluster of its own, then switches over.
HA_TOOLS := patroni:patroni etcd:etcd-server etcdctl:etcd-client
.PHONY: ha ha-stop test-ha
ha: gen
	$(call debian,$(HA_TOOLS))
	$(PY) -m ops.pg_ha start

ha-stop: gen
	$(PY) -m ops.pg_ha stop

test-ha: gen
	$(call debian,$(HA_TOOLS))
	$(PY) -m pytest $(PYTEST_TMP) -s -p no:cacheprovider tests/ha

# Issue 24: backup and point-in-time recovery. `make pitr` starts a PostgreSQL 15 server of its own with WAL
# archiving (.make/pitr, port 5470); `make pitr-backup` takes a base backup; `medins restore --to TIME`
# puts both agencies' databases back to TIME and makes the system converge (docs/DEPLOY.md). `make
# test-pitr` is the drill: payments, a restore to an instant in the middle, the system converging.
.PHONY: pitr pitr-backup test-pitr
pitr: gen
	$(PY) -m ops.pitr start

pitr-backup: gen
	$(PY) -m ops.pitr backup

test-pitr: gen
	$(PY) -m pytest $(PYTEST_TMP) -s -p no:cacheprovider tests/pitr
