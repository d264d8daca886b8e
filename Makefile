# The two commands: `make run` and `make test`. Both set up what they need.
CARGO       ?= cargo
WASM_DIR    := target/wasm32-wasip2/release
GUESTS      := $(WASM_DIR)/kv_session.wasm $(WASM_DIR)/cookie_session.wasm
HOST_TRIPLE := $(shell rustc -vV | sed -n 's/^host: //p')
# A throwaway key for the demo run only: 32 random bytes, hex.
DEMO_KEY     = $(shell od -An -N32 -tx1 /dev/urandom | tr -d ' \n')

.PHONY: all setup guests build run test test-guests test-host clippy fmt bench clean

all: build

## setup: install the wasm32-wasip2 target when it is missing
setup:
	@rustup target list --installed | grep -qx wasm32-wasip2 \
		|| rustup target add wasm32-wasip2

## guests: build every guest component (stores and test plugins)
guests: setup
	cd guest && $(CARGO) build --release

## build: guests plus the host harness and CLI
build: guests
	$(CARGO) build --release

## run: load both stores and exercise them on the in-memory default
run: build
	./target/release/session-harness exercise $(GUESTS) \
		--config cookie.keys=$(DEMO_KEY)

## test: guest unit tests, host unit tests, integration and conformance suites
test: build test-guests test-host

test-guests: setup
	cd guest && $(CARGO) test --target $(HOST_TRIPLE) --workspace

test-host: build
	$(CARGO) test --release --workspace

## clippy: lint host and guests with warnings as errors
clippy: setup
	$(CARGO) clippy --release --all-targets -- -D warnings
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
