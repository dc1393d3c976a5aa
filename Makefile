# hermod: `make run` and `make test` are all a new machine needs.
#
#   make run     install missing packages, build, create ./var once, serve example.test
#   make test    install missing packages, build (plain + ASan/UBSan), run every test
#   make fuzz    run each libFuzzer target for FUZZ_SECONDS (default 60)
#   make bench   the side-by-side benchmarks against Postfix and Dovecot (bench/)

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
INSTANCE   ?= var
FUZZ_SECONDS ?= 60
SMOKE_FUZZ_SECONDS ?= 10

.PHONY: all deps build asan fuzz-build run test unit e2e fuzz fuzz-smoke bench clean

all: build

deps:
	@scripts/install-deps

$(BUILD)/build.ninja:
	meson setup $(BUILD) >/dev/null

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false >/dev/null

$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false >/dev/null

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

asan: deps $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)

fuzz-build: deps $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD)

run: build
	@scripts/dev-instance $(BUILD)/hermod $(INSTANCE)
	exec $(BUILD)/hermod serve -c $(INSTANCE)/hermod.conf

unit: build asan
	meson test -C $(BUILD) --suite unit --print-errorlogs
	meson test -C $(ASAN_BUILD) --suite unit --print-errorlogs

e2e: build asan
	HERMOD_BIN=$(CURDIR)/$(ASAN_BUILD)/hermod pytest -q tests/e2e -m "not crash"
	HERMOD_BIN=$(CURDIR)/$(BUILD)/hermod pytest -q tests/e2e -m crash

fuzz-smoke: fuzz-build
	@scripts/run-fuzz $(FUZZ_BUILD) $(SMOKE_FUZZ_SECONDS)

fuzz: fuzz-build
	@scripts/run-fuzz $(FUZZ_BUILD) $(FUZZ_SECONDS)

test: unit e2e fuzz-smoke
	@echo "make test: all suites passed"

bench: build
	@scripts/install-deps --bench
	bench/smtp-ingest $(BUILD)/hermod
	bench/submission-relay $(BUILD)/hermod
	bench/imap-idle-memory $(BUILD)/hermod
	bench/imap-fetch --search $(BUILD)/hermod
	bench/imap-mixed $(BUILD)/hermod
	bench/csv-import $(BUILD)/hermod
	bench/api-list $(BUILD)/hermod
	bench/pop3-retr $(BUILD)/hermod

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
