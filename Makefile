# mxwarden — see README.md. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

MODULES  := pkg services/ingest services/detector services/enforcer
SERVICES := ingest detector enforcer
# Everything downloaded lives in .cache (git-ignored): Go modules (checked
# against go.sum), the Go build cache, the Kafka broker jars.
CACHE    := $(CURDIR)/.cache
export GOMODCACHE ?= $(CACHE)/go/mod
export GOCACHE    ?= $(CACHE)/go/build
export GOFLAGS    ?= -mod=readonly
export GOTOOLCHAIN := local

TESTS ?= .
PKG   ?= $(foreach m,$(MODULES),./$(m)/...)
TAGS  ?=
GOTEST_FLAGS ?= -race -shuffle=on -count=1 -timeout 25m
KAFKA_PORT ?= 19092

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

.PHONY: build
build: chdb-fetch ## build bin/ingest bin/detector bin/enforcer (with the embedded ClickHouse engine) bin/devkafka
	@mkdir -p bin
	go build -o bin/ ./services/ingest ./services/detector
	@# -tags chdb links chDB (history's embedded store); the run path (-r) lets
	@# the binary find .cache's libchdb.so without CHDB_LIB_PATH.
	go build -tags chdb -ldflags "-r $$(dirname $$(scripts/chdb/fetch.sh path))" -o bin/ ./services/enforcer
	cd tools && GOWORK=off go build -o ../bin/devkafka ./devkafka

.PHONY: build-gowork-off
build-gowork-off: ## build each service alone (GOWORK=off), catching requires the workspace hides
	@for s in $(SERVICES); do (cd services/$$s && GOWORK=off go build -o /dev/null . ) || exit 1; done

.PHONY: run
run: build ## the whole pipeline on this machine: embedded Kafka, demo traffic, bans printed, maps written
	scripts/run-demo.sh

.PHONY: test
test: lint build-gowork-off build ## every test, race detector on; starts a real Kafka broker when a JDK is present (required with CI=true)
	scripts/test.sh

.PHONY: test-race
test-race: test ## alias of test (the race detector is always on)

.PHONY: test-integration
test-integration: ## only the end-to-end tests (real broker + kfake)
	TESTS=E2E scripts/test.sh

.PHONY: check
check: ## gofmt and go vet
	@out=$$(gofmt -l pkg services tools); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	go vet $(PKG)
	go vet -tags chdb ./services/enforcer/...
	cd tools && GOWORK=off go vet ./...
	cd tools/deploy && GOWORK=off go vet ./...

.PHONY: fmt
fmt: ## gofmt every file
	gofmt -w pkg services tools

GOLANGCI_VERSION := v2.15.0
GOLANGCI := $(CACHE)/bin/golangci-lint-$(GOLANGCI_VERSION)

$(GOLANGCI):
	@mkdir -p $(CACHE)/bin
	cd /tmp && GOWORK=off GOFLAGS=-mod=mod GOBIN=$(CACHE)/bin go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VERSION)
	mv $(CACHE)/bin/golangci-lint $@

.PHONY: lint
lint: check $(GOLANGCI) ## gofmt, vet, and golangci-lint (.golangci.yml: the project rules) in every module
	@for m in $(MODULES); do (cd $$m && $(GOLANGCI) run --build-tags chdb --config $(CURDIR)/.golangci.yml ./...) || exit 1; done
	cd tools && GOWORK=off $(GOLANGCI) run --config $(CURDIR)/.golangci.yml ./...
	cd tools/deploy && GOWORK=off $(GOLANGCI) run --config $(CURDIR)/.golangci.yml ./...

.PHONY: tidy
tidy: ## go work sync, then go mod tidy every module (so each go.sum is complete for GOWORK=off builds)
	GOFLAGS=-mod=mod go work sync
	@for m in $(MODULES); do (cd $$m && GOWORK=off GOFLAGS=-mod=mod go mod tidy) || exit 1; done
	cd tools && GOWORK=off GOFLAGS=-mod=mod go mod tidy
	cd tools/deploy && GOWORK=off GOFLAGS=-mod=mod go mod tidy

.PHONY: bench
bench: build ## print the performance figures of DESIGN.md's Targets
	scripts/bench.sh

.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZTIME (default 20s) each
	scripts/fuzz.sh

.PHONY: chdb-fetch
chdb-fetch: ## fetch libchdb.so (npm @chdb/lib-linux-x64-gnu, pinned, sha512-checked) into .cache/chdb
	@scripts/chdb/fetch.sh >/dev/null

.PHONY: kafka-fetch kafka-start kafka-stop
kafka-fetch: ## download the Apache Kafka broker jars into .cache
	scripts/kafka/broker.sh fetch
kafka-start: kafka-fetch ## start a real Kafka broker on 127.0.0.1:$(KAFKA_PORT)
	scripts/kafka/broker.sh start $(KAFKA_PORT)
kafka-stop: ## stop it
	scripts/kafka/broker.sh stop $(KAFKA_PORT)

.PHONY: deploy-gen
deploy-gen: ## regenerate the PrometheusRule and Grafana dashboards from deploy/prometheus and tools/deploy/internal/gen
	cd tools/deploy && GOWORK=off go run ./cmd/gen

.PHONY: clean
clean: ## remove bin/ and run/ (keeps .cache)
	rm -rf bin run
