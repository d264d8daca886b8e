# The two commands: `make run` and `make test`. Both set up what they need.
CARGO       ?= cargo
WASM_DIR    := target/wasm32-wasip2/release
GUESTS      := $(WASM_DIR)/kv_session.wasm $(WASM_DIR)/cookie_session.wasm
HOST_TRIPLE := $(shell rustc -vV | sed -n 's/^host: //p')
# The Redis server the tests use: installed with apt-get when missing, started
# for the test run and stopped after it. Each checkout has its own port (from
# a hash of its path), so two checkouts on one machine do not share a server;
# one answering on the port from another directory is refused, not reused.
ifndef REDIS_PORT
REDIS_PORT  := $(shell echo $$(( 20000 + $$(pwd -P | cksum | cut -d' ' -f1) % 10000 )))
endif
REDIS_DIR   := target/redis
REDIS_URL   := redis://127.0.0.1:$(REDIS_PORT)/
# Stops the server redis-up started (shell text, shared by redis-down and the
# trap in test-host): only a redis-server still running under the recorded pid.
REDIS_STOP   = if [ -f $(REDIS_DIR)/redis.pid ]; then \
	pid=$$(cat $(REDIS_DIR)/redis.pid); \
	comm=$$(cat /proc/$$pid/comm 2>/dev/null || ps -p $$pid -o comm= 2>/dev/null); \
	case "$$comm" in redis-server*) kill $$pid 2>/dev/null || true;; esac; \
	rm -f $(REDIS_DIR)/redis.pid; fi
SUDO        := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# A throwaway key for the demo run only: 32 random bytes, hex.
DEMO_KEY     = $(shell od -An -N32 -tx1 /dev/urandom | tr -d ' \n')

.PHONY: all setup guests build run test test-guests test-host test-jco test-browser node-setup chromium-setup redis-install redis-up redis-down clippy fmt bench clean

all: build

## setup: install the wasm32-wasip2 target when it is missing, and warn when
## the disk is short of what a first `make test` writes
# A first `make test` writes ~3 GB (target/ 2.6 GB, npm packages and cache
# 0.5 GB) plus Chromium and Redis from apt-get. Short of that, a tool deep in
# the run fails in its own words (npm's: "A complete log of this run can be
# found in ..."), so the shortage is said first.
NEED_FREE_MB := 4096
setup:
	@free_mb=$$(df -Pm . | awk 'NR == 2 { print $$4 }'); \
		[ -z "$$free_mb" ] || [ "$$free_mb" -ge $(NEED_FREE_MB) ] || \
		echo "warning: $$free_mb MB free on this disk; a first \`make test\` writes about $(NEED_FREE_MB) MB (target/, npm packages, apt packages) and fails with 'no space left on device' short of it" >&2
	@command -v rustup >/dev/null || { \
		echo "rustup not found: the guests need the wasm32-wasip2 target, which rustup installs (https://rustup.rs)"; exit 1; }
	@rustup target list --installed | grep -qx wasm32-wasip2 \
		|| rustup target add wasm32-wasip2

## guests: build every guest component (stores and test plugins)
guests: setup
	cd guest && $(CARGO) build --release

## build: guests plus the host harness, the CLI and the examples (the web
## host the browser tests drive). With the examples, dev-dependencies are on:
## the same features as `cargo test`, so the tests reuse this build.
build: guests
	$(CARGO) build --release --workspace --bins --examples

## run: load both stores and exercise them on the in-memory default
run: build
	./target/release/session-harness exercise $(GUESTS) \
		--config cookie.keys=$(DEMO_KEY)

## test: guest unit tests, host unit tests, integration and conformance suites,
## both stores under a second component-model host (jco in Node.js), and the
## example web host driven by Chromium
test: build test-guests test-host test-jco test-browser

test-guests: setup
	cd guest && $(CARGO) test --target $(HOST_TRIPLE) --workspace

# The test Redis is stopped however the run ends: pass, fail or Ctrl-C (the
# exit code is the tests'). No $(MAKE) here, so `make -n` runs nothing.
# Then the criterion suite once, in criterion's test mode (each benchmark
# run once, no statistics), so a benchmark that no longer runs fails here
# and not only at `make bench`.
HOST_TESTS = SESSION_TEST_REDIS_URL=$(REDIS_URL) $(CARGO) test --release --workspace && \
	$(CARGO) test --release -p host-harness --bench sessions
test-host: build redis-up
	@echo "$(HOST_TESTS)"
	@trap 'rc=$$?; $(REDIS_STOP); exit $$rc' EXIT; \
		trap 'exit 130' INT; trap 'exit 143' TERM; trap 'exit 129' HUP; \
		$(HOST_TESTS)

## test-jco: the stores under jco (pinned in tests/jco/package-lock.json), and
## seals crossing between jco and our wasmtime host
test-jco: build node-setup
	tests/jco/run.sh

## test-browser: the example web host (host-harness/examples/web_host/)
## driven by Debian's Chromium through playwright-core (pinned in
## tests/browser/package-lock.json); it starts a redis-server of its own
test-browser: build node-setup chromium-setup redis-install
	tests/browser/run.sh

# Installs the Debian packages named after it (shell text for the set-up
# targets below); apt retries a download that failed on the way 3 times.
APT         := apt-get -o Acquire::Retries=3
APT_INSTALL  = $(SUDO) $(APT) update -qq && \
	$(SUDO) env DEBIAN_FRONTEND=noninteractive $(APT) install -y -qq --no-install-recommends

## node-setup: install Node.js and npm with apt-get when missing
# Two apt-gets at once fail on the dpkg lock: when this run sets Redis up
# too (`make -j test`), Node.js is installed after it.
node-setup: | $(if $(filter test test-host redis-up,$(MAKECMDGOALS)),redis-up) $(if $(filter test-browser,$(MAKECMDGOALS)),redis-install)
	@command -v node >/dev/null && command -v npm >/dev/null || { \
		$(APT_INSTALL) nodejs npm; }

## chromium-setup: install Debian's Chromium with apt-get when missing (after
## node-setup and redis-install: two apt-gets at once fail on the dpkg lock)
chromium-setup: | node-setup redis-install
	@[ -x "$${CHROMIUM:-/usr/bin/chromium}" ] || { \
		$(APT_INSTALL) chromium; }

## redis-install: install redis-server with apt-get when missing
redis-install:
	@command -v redis-server >/dev/null || { \
		$(APT_INSTALL) redis-server; }

## redis-up: install redis-server when missing and start one for the tests
redis-up: redis-install
	@mkdir -p $(REDIS_DIR)
	@if redis-cli -p $(REDIS_PORT) ping >/dev/null 2>&1; then \
		dir=$$(redis-cli -p $(REDIS_PORT) config get dir | tail -n 1); \
		[ "$$dir" = "$(CURDIR)/$(REDIS_DIR)" ] || { \
			echo "port $(REDIS_PORT) is taken by another redis-server (dir $$dir); run with REDIS_PORT=<free port>"; exit 1; }; \
	fi
	@redis-cli -p $(REDIS_PORT) ping >/dev/null 2>&1 || { \
		redis-server --bind 127.0.0.1 --port $(REDIS_PORT) --save '' --appendonly no \
			--daemonize yes --dir "$(CURDIR)/$(REDIS_DIR)" \
			--pidfile "$(CURDIR)/$(REDIS_DIR)/redis.pid" --logfile "$(CURDIR)/$(REDIS_DIR)/redis.log"; \
		for i in $$(seq 50); do redis-cli -p $(REDIS_PORT) ping >/dev/null 2>&1 && break; sleep 0.1; done; }
	@redis-cli -p $(REDIS_PORT) ping >/dev/null || { echo "redis-server did not start; see $(REDIS_DIR)/redis.log"; exit 1; }
	@echo "redis for tests at $(REDIS_URL)"

## redis-down: stop the test server started by redis-up
redis-down:
	@$(REDIS_STOP)

## clippy: lint host and guests with warnings as errors, and the library's
## docs (broken or private intra-doc links)
clippy: setup
	$(CARGO) clippy --release --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --release --no-deps -p host-harness
	cd guest && $(CARGO) clippy --release -- -D warnings
	cd guest && $(CARGO) clippy --target $(HOST_TRIPLE) --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all
	cd guest && $(CARGO) fmt --all

## bench: the criterion suite
bench: build
	$(CARGO) bench -p host-harness

clean:
	$(CARGO) clean
