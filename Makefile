# Granary: the two commands a newcomer needs are `make run` and `make test`.
GO        ?= go
BIN       := bin/granary
FUZZTIME  ?= 30s
# Packages cheap enough to run under the race detector on every test run.
RACE_PKGS := ./internal/... ./cmd/...

.PHONY: run build test unit e2e cluster-test fault deps bench bench-mem bench-repl bench-hotkey fuzz vet fmt clean

run: ## start a local Granary (redis-cli -c -p 5198)
	$(GO) run ./cmd/granary dev

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) ./cmd/granary

test: deps vet unit e2e fault ## everything CI runs

unit:
	$(GO) test -race -count=1 $(RACE_PKGS)
	# allocation tests are built without the race detector (it allocates)
	$(GO) test -count=1 -run 'Allocs' ./internal/command ./internal/resp ./internal/glob

e2e: cluster-test ## multi-process and differential tests (need redis-server)
	$(GO) test -count=1 -tags e2e -timeout 20m ./test/e2e/...

cluster-test: ## config servers and data servers as processes: clients, failover, node changes
	$(GO) test -count=1 -tags e2e -timeout 20m ./test/cluster/

fault: ## fault injection with a linearizability check (root, iptables); knobs FAULT_*: test/fault/README.md
	$(GO) test -count=1 -tags fault -timeout 60m ./test/fault/ -v

deps: ## the reference redis-server and redis-benchmark, from Debian's packages
	@command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null || \
	  { echo "installing redis-server and redis-tools"; \
	    apt-get update -qq && apt-get install -y -qq redis-server redis-tools >/dev/null; }

vet:
	@test -z "$$(gofmt -l cmd internal test bench 2>/dev/null)" || { gofmt -l cmd internal test bench; echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	$(GO) vet -tags e2e ./test/...
	$(GO) vet -tags fault ./test/...

bench: deps build ## throughput against redis-server, same run, prints ratios
	bench/throughput.sh

bench-mem: deps build ## resident memory and GET latency against redis-server
	bench/memory.sh

bench-repl: deps build ## replication cost: copies 2 (ack async, sync) against copies 1, Redis Cluster as reference
	bench/replication.sh

bench-hotkey: deps build ## client-side caching: one key read by 50 goroutines through rueidis, cache on / off, Redis as reference
	bench/hotkey.sh

fuzz: ## run every fuzz target for FUZZTIME each
	@for pkg in $$($(GO) list ./internal/...); do \
	  for name in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$name"; \
	    $(GO) test -run='^$$' -fuzz="^$$name$$" -fuzztime=$(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf bin
