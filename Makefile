# Granary: the two commands a newcomer needs are `make run` and `make test`.
GO        ?= go
BIN       := bin/granary
FUZZTIME  ?= 30s
# Packages cheap enough to run under the race detector on every test run.
RACE_PKGS := ./internal/... ./cmd/... ./client/...
# Containers (deploy/): the image's tag, docker, and docker-compose v1 (Debian's
# package) or the compose plugin ("docker compose"), whichever is there.
IMAGE     ?= granary:dev
DOCKER    ?= docker
COMPOSE   ?= $(shell $(DOCKER) compose version >/dev/null 2>&1 && echo "$(DOCKER) compose" || echo docker-compose)

.PHONY: run build image test unit k8s-check e2e cluster-test cluster-test-tls dashboard-test dashboard-shot chromium compose-test compose-up compose-down fault deps bench bench-mem bench-repl bench-hotkey bench-flow bench-disk bench-import bench-import-cluster bench-disk-scale bench-disk-restart bench-migrate fuzz vet fmt clean

run: ## start a local Granary (redis-cli -c -p 5198)
	$(GO) run ./cmd/granary dev

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) ./cmd/granary

image: build ## the container image $(IMAGE): FROM scratch, the static binary alone (deploy/Dockerfile)
	mkdir -p bin/image-data
	$(DOCKER) build -f deploy/Dockerfile -t $(IMAGE) .

test: deps vet unit k8s-check e2e dashboard-test compose-test fault ## everything CI runs

unit: deps ## unit tests with -race (client/ talks to redis-server too)
	$(GO) test -race -count=1 $(RACE_PKGS)
	# allocation tests are built without the race detector (it allocates)
	$(GO) test -count=1 -run 'Allocs' ./internal/command ./internal/resp ./internal/glob
	$(GO) test -count=1 -run 'TestConformance/(GetDoesNotAllocate|SetAllocations)$$' ./internal/engine/mem
	$(GO) test -count=1 -run 'TestConformance/.*/(GetDoesNotAllocate|SetAllocations)$$' ./internal/engine/disk

k8s-check: ## deploy/: manifests decoded strictly into the Kubernetes API types, cross-references, real flags
	$(GO) test -count=1 ./test/deploy/
	$(GO) test -count=1 -run 'DeployFiles|CheckCommandLine' ./cmd/granary/

e2e: cluster-test cluster-test-tls ## multi-process and differential tests (need redis-server)
	$(GO) test -count=1 -tags e2e -timeout 20m ./test/e2e/...

cluster-test: ## config servers and data servers as processes: clients, failover, node changes
	$(GO) test -count=1 -tags e2e -timeout 20m -skip '^TestDashboard$$' ./test/cluster/

dashboard-test: chromium ## the web dashboard in headless Chromium on a real cluster: nodes shown, a killed one shown down
	$(GO) test -count=1 -tags e2e -timeout 5m -run '^TestDashboard$$' ./test/cluster/ -v

dashboard-shot: chromium ## dashboard-test with 30 s more load, writing docs/dashboard.png from the run
	GRANARY_DASHBOARD_SCREENSHOT=$(CURDIR)/docs/dashboard.png $(GO) test -count=1 -tags e2e -timeout 5m -run '^TestDashboard$$' ./test/cluster/ -v

chromium: ## Debian's chromium, for the dashboard test
	@command -v chromium >/dev/null || \
	  { echo "installing chromium"; apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

# test/cluster again with every port on TLS and client certificates required
# (GRANARY_TEST_TLS=1: generated certificates, TLS flags on every process, TLS
# in go-redis, rueidis, redis-cli, redis-benchmark, granary ctl); about 2 minutes.
cluster-test-tls: ## test/cluster with everything on TLS (the client suite; the dashboard, migration and verify tests run in plain cluster-test)
	GRANARY_TEST_TLS=1 $(GO) test -count=1 -tags e2e -timeout 20m -skip '^(TestDashboard|TestMigrationAddDrainRemove|TestVerifyAndRepair|TestVerifyEvictions)$$' ./test/cluster/

compose-test: ## deploy/docker-compose.yml: image built, cluster up, client load, a data server killed (needs Docker)
	COMPOSE="$(COMPOSE)" DOCKER="$(DOCKER)" $(GO) test -count=1 -tags compose -timeout 15m ./test/compose/ -v

compose-up: image ## run deploy/docker-compose.yml with $(IMAGE) (host ports: deploy/docker-compose.override.yml)
	cd deploy && GRANARY_IMAGE=$(IMAGE) $(COMPOSE) up -d

compose-down: ## stop it and remove its volumes
	cd deploy && $(COMPOSE) down -v

fault: ## fault injection with a linearizability check (root, iptables); knobs FAULT_*: test/fault/README.md
	$(GO) test -count=1 -tags fault -timeout 60m ./test/fault/ -v

deps: ## the reference redis-server and redis-benchmark, from Debian's packages
	@command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null || \
	  { echo "installing redis-server and redis-tools"; \
	    apt-get update -qq && apt-get install -y -qq redis-server redis-tools >/dev/null; }

vet:
	@test -z "$$(gofmt -l cmd internal client examples test bench 2>/dev/null)" || { gofmt -l cmd internal client examples test bench; echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	$(GO) vet -tags e2e ./test/...
	$(GO) vet -tags fault ./test/...
	$(GO) vet -tags compose ./test/...

bench: deps build ## throughput against redis-server, same run, prints ratios
	bench/throughput.sh

bench-mem: deps build ## resident memory and GET latency against redis-server
	bench/memory.sh

bench-repl: deps build ## replication cost: copies 2 (ack async, sync) against copies 1, Redis Cluster as reference
	bench/replication.sh

bench-disk: deps build ## disk engine against redis-server with appendonly everysec, same run, -P 16
	bench/disk.sh

bench-import: deps build ## granary import against redis-cli --pipe into a disk namespace (N keys, default 10M)
	bench/import.sh

bench-import-cluster: deps build ## granary import into a 3-node disk cluster (copies 2) under a client probe: dropped copies, replication bytes, client p99 before and during
	bench/import-cluster.sh

bench-disk-scale: deps build ## disk engine throughput at 1M, 10M and 50M keys, redis-server with AOF as reference
	bench/disk-scale.sh

bench-disk-restart: deps build ## restart of a data server holding N keys on disk: time to serve, replay vs snapshot
	bench/disk-restart.sh

bench-migrate: deps build ## scale 3 -> 4 nodes under load, Redis Cluster rebalance vs granary ctl rebalance: MB/s, client p99 before and during
	bench/migrate.sh

bench-hotkey: deps build ## client-side caching: one key read by 50 goroutines through rueidis, cache on / off, Redis as reference
	bench/hotkey.sh

bench-flow: deps build ## flow control: a namespace limited to N ops/s under 5N offered by backing-off clients; served/N, requests per served one
	bench/flow.sh

fuzz: ## run every fuzz target for FUZZTIME each
	@for pkg in $$($(GO) list ./internal/...); do \
	  for name in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$name"; \
	    $(GO) test -run='^$$' -fuzz="^$$name$$" -fuzztime=$(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf bin
