# The platform's entry points. `make run` starts everything locally;
# `make test` runs the unit tests, then the integration tests on the real stack.
SHELL := /bin/bash
.DEFAULT_GOAL := build

GO       ?= go
BIN      := $(CURDIR)/bin
MODULES  := kit identity consent tutor plugins migrations stack e2e
SERVICES := identity consent tutor

# Ory and Mailpit are built from their Go modules at the versions pinned in
# tools/*/go.mod; the binary name carries the version, so a changed pin
# builds anew and an unchanged one is never rebuilt.
pin = $(shell awk '$$1 == "$(1)" && $$2 ~ /^v/ {print $$2; exit}' tools/$(2)/go.mod)
KRATOS_VERSION  := $(call pin,github.com/ory/kratos,kratos)
HYDRA_VERSION   := $(call pin,github.com/ory/hydra/v2,hydra)
MAILPIT_VERSION := $(call pin,github.com/axllent/mailpit,mailpit)
ORY_BINS := $(BIN)/kratos-$(KRATOS_VERSION) $(BIN)/hydra-$(HYDRA_VERSION) $(BIN)/mailpit-$(MAILPIT_VERSION)

.PHONY: build run test test-unit test-integration test-fuzz bench fuzz lint ory services deps clean-data

build: ory services ## build every binary into bin/

ory: $(ORY_BINS)
	@ln -sfn kratos-$(KRATOS_VERSION) $(BIN)/kratos
	@ln -sfn hydra-$(HYDRA_VERSION) $(BIN)/hydra
	@ln -sfn mailpit-$(MAILPIT_VERSION) $(BIN)/mailpit

$(BIN)/kratos-%: tools/kratos/go.mod
	@echo "building Kratos $* from its Go module (a few minutes when cold)"
	cd tools/kratos && GOWORK=off $(GO) build -trimpath -ldflags "-X github.com/ory/kratos/driver/config.Version=$*" -o $@.tmp github.com/ory/kratos && mv $@.tmp $@

$(BIN)/hydra-%: tools/hydra/go.mod
	@echo "building Hydra $* from its Go module (a few minutes when cold)"
	cd tools/hydra && GOWORK=off $(GO) build -trimpath -ldflags "-X github.com/ory/hydra/v2/driver/config.Version=$*" -o $@.tmp github.com/ory/hydra/v2 && mv $@.tmp $@

$(BIN)/mailpit-%: tools/mailpit/go.mod
	@echo "building Mailpit $* from its Go module"
	cd tools/mailpit && GOWORK=off $(GO) build -trimpath -ldflags "-X github.com/axllent/mailpit/config.Version=$*" -o $@.tmp github.com/axllent/mailpit && mv $@.tmp $@

# The shipped plugins the launcher declares for the tutor (stack.Plugins).
PLUGINS := retriever-postgres guardrail-socratic guardrail-safety

services: ## our own services, the tutor's plugins and the launcher (fast: Go's build cache)
	$(GO) build -o $(BIN)/ ./identity/cmd/identity ./consent/cmd/consent ./tutor/cmd/tutor ./stack/cmd/stack ./migrations/cmd/migrate ./migrations/cmd/migrate-legacy \
	  $(addprefix ./plugins/cmd/,$(PLUGINS))

deps: ## system packages the stack needs (PostgreSQL; Chromium for browser tests)
	@bash scripts/deps.sh

run: deps build ## the whole stack in the foreground on the default ports
	$(BIN)/stack -root $(CURDIR) -data $(CURDIR)/.data -bin $(BIN)

test: deps build test-unit test-fuzz test-integration ## everything CI runs

# The launcher's TestStackLifecycle boots the whole stack, so it runs with
# the integration tests; the rest of the stack module's tests are unit tests.
test-unit:
	$(GO) test -count=1 -skip '^TestStackLifecycle$$' $(addprefix ./,$(addsuffix /...,$(filter-out e2e,$(MODULES))))

test-integration:
	STACK_BIN=$(BIN) $(GO) test -count=1 -timeout 30m ./e2e/...
	STACK_BIN=$(BIN) $(GO) test -count=1 -timeout 10m -run '^TestStackLifecycle$$' ./stack/

bench: ## benchmarks, each printing its figures and ratios against a floor measured in the same run
	$(GO) test -run '^$$' -bench . -benchtime 2s ./kit/token/ ./kit/revocation/
	# the tutor on its own stack: first event at 500 learners (burst and steady), a 200-item thread vs bare pgx, memory per stream
	STACK_BIN=$(BIN) $(GO) test -run '^$$' -bench . -benchtime 1x -timeout 20m ./e2e/tutor/bench/
	$(GO) test -run '^$$' -bench SignIn -benchtime 60x ./e2e/edge/
	# plugins: call overhead (in-process vs gRPC vs host, same run); retriever-postgres p50/p99 over 10,000 chunks on the stack's PostgreSQL
	$(GO) test -run '^$$' -bench CallOverhead -benchtime 20000x ./plugins/host/
	STACK_BIN=$(BIN) $(GO) test -run '^$$' -bench . -benchtime 2000x -timeout 20m ./e2e/plugins/
	# the load generator: 5,000 learners with real tokens on the tutor (settings: e2e/load/load_test.go)
	LOAD_LEARNERS=$${LOAD_LEARNERS:-5000} STACK_BIN=$(BIN) $(GO) test -run '^$$' -bench Load -benchtime 1x -timeout 30m ./e2e/load/
	# the legacy migration: 100,000 users through migrate-legacy (users/s, validate's seconds; goal: under 10 minutes)
	STACK_BIN=$(BIN) $(GO) test -run '^$$' -bench LegacyMigration -benchtime 1x -timeout 30m ./e2e/migration/

# The tutoring evaluation (docs/operations.md): the tutor as configured (the
# model in TUTOR_MODEL_BASE_URL/TUTOR_MODEL_NAME, or TUTOR_CONFIG's file, with
# its prompt and plugins) against the scenario set; prints the table, writes
# the JSON report to EVAL_JSON. EVAL_FLAGS adds flags (-stand-in good,
# -category locked-stage, -grader-model ..., -parallel 4; see tutor eval -h).
EVAL_JSON ?= $(CURDIR)/.data/eval/report.json
.PHONY: eval
eval: ## the tutoring evaluation against the configured model; the table, and the report in EVAL_JSON
	$(GO) build -o $(BIN)/ ./tutor/cmd/tutor
	$(BIN)/tutor eval -json $(EVAL_JSON) $(EVAL_FLAGS)

# Every fuzz target: package and name. `make fuzz` runs each for FUZZTIME;
# `make test` runs each briefly (their seed corpora run as plain tests too).
FUZZ_TARGETS := ./identity/proxy:FuzzReadSubmission ./kit/token:FuzzValidate ./kit/token/internal/jose:FuzzParseClaims ./tutor/chatkit/protocol:FuzzParseRequest ./migrations/legacy/hashes:FuzzInspect
FUZZTIME ?= 60s

fuzz: ## fuzz every target for FUZZTIME (default 60s) each
	@set -e; for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; name=$${t##*:}; echo "fuzzing $$name in $$pkg for $(FUZZTIME)"; \
	  $(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) $$pkg/; \
	done

# In make test each target runs for a count of inputs rather than seconds:
# Go 1.26's fuzz coordinator can fail a target with a bare "context deadline
# exceeded" when a -fuzztime duration ends mid-input (golang/go#75804, fixed
# in Go 1.27); a count sets no deadline. 20000 inputs take 2-5 s here.
test-fuzz:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=20000x

# staticcheck at a pinned version, fetched through the module proxy on first
# use (no install step needed on a fresh machine).
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

lint: ## go vet, staticcheck (default checks) and gofmt on every module
	$(GO) vet $(addprefix ./,$(addsuffix /...,$(MODULES)))
	$(GO) run $(STATICCHECK) $(addprefix ./,$(addsuffix /...,$(MODULES)))
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

clean-data: ## forget the local stack's state (cluster, secrets, mail)
	rm -rf .data
