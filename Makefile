# blockguard - top-level Makefile
#
# One flat Makefile on purpose (redis style): every source directory is picked up by
# wildcard, so adding a file never means editing this file.  Layers, bottom up:
#
#   report/   renderers + HTTP server          (knows nothing of guard/ or preload/)
#   guard/    options, threads, verdicts, sites (may use report/)
#   preload/  the LD_PRELOAD shim               (may use guard/)
#
# Outputs: build/libblockguard.so (shim), build/blockguard (CLI).  The CLI and the unit
# tests link guard/ + report/ objects directly; only the shim contains preload/.
#
#   make                 build shim and CLI
#   make check           unit + integration tests (installs missing Debian packages)
#   make demo            run the bundled event-loop demo under the shim
#   make demo-offload    coroutine server with legacy blocking calls: report vs offload
#   make check-tsan      coroutine, worker-pool and verdict unit tests under ThreadSanitizer
#   make bench           benchmark tables, docs/performance.md (tests/bench; ONLY=sec,...)
#   make check-browser   the dashboard in headless chromium (playwright-core from npm)
#   make bench-http      /api/report latency with 1,000 live sites
#   make expand          the code the call table expands into, readable: build/gen/*.expanded.c
#   make format          clang-format the files tools/format.list names; check-format checks
#   make install PREFIX=/usr/local DESTDIR=
#   SANITIZER=address|undefined|thread   sanitizer build into build-$(SANITIZER)/
#   V=1                  show full commands

CC      ?= cc
PREFIX  ?= /usr/local
DESTDIR ?=
V       ?= 0
SANITIZER ?=
VERSION := 0.2.0

comma := ,
ifeq ($(SANITIZER),)
BUILD ?= build
else
BUILD ?= build-$(subst $(comma),-,$(SANITIZER))
endif

Q := $(if $(filter 1,$(V)),,@)
say = $(if $(filter 1,$(V)),,@printf '  %-6s %s\n' $(1) $(2);)

PKGS      := libunwind libmicrohttpd jansson
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# Headers only: the shim links nothing but libc.  guard/unwind_lib.c dlopens libunwind
# when a thread is first guarded, report/mhd.c libmicrohttpd when a dashboard is asked
# for, report/jx.c jansson when JSON is first written or read, guard/symbolize.c libdw
# when a frame is first named: a program that needs none of them never maps them
# (docs/performance.md, start-up).
PKG_LIBS   =
# Tests and fuzzers that use jansson themselves link it.
JANSSON_LIBS = $(shell pkg-config --libs jansson 2>/dev/null || echo -ljansson)

WARN    := -Wall -Wextra -Wno-unused-parameter -Wshadow -Wstrict-prototypes
CFLAGS  ?= -O2 -g
BGFLAGS := -std=gnu11 $(WARN) -fPIC -pthread -fvisibility=hidden -fno-omit-frame-pointer \
           -Iinclude -I. -I$(BUILD)/gen -DBG_VERSION='"$(VERSION)"' $(PKG_CFLAGS)
ifneq ($(SANITIZER),)
BGFLAGS += -fsanitize=$(SANITIZER) -fno-sanitize-recover=all
SANLDFLAGS := -fsanitize=$(SANITIZER)
endif
LDLIBS  := $(PKG_LIBS) -ldl -lpthread -lm

CORE_SRC    := $(sort $(wildcard guard/*.c report/*.c))
CORE_ASM    := $(sort $(wildcard guard/*.S))
PRELOAD_SRC := $(sort $(wildcard preload/*.c))
CORE_OBJ    := $(CORE_SRC:%.c=$(BUILD)/obj/%.o) $(CORE_ASM:%.S=$(BUILD)/obj/%.o)
PRELOAD_OBJ := $(PRELOAD_SRC:%.c=$(BUILD)/obj/%.o)
GEN_HDR     := $(BUILD)/gen/bg_dashboard.h

SHIM := $(BUILD)/libblockguard.so
CLI  := $(BUILD)/blockguard
# pprof: report/pprof/pprof.c and the C code protoc-c generates from google/pprof's
# profile.proto (third_party/pprof) need libprotobuf-c and zlib.  So they are not in
# the shim: they make $(PPROF_SO), which the shim dlopens the first time it renders a
# profile (report/pprof_load.c).  The CLI and the unit tests link them in.
PPROF_SO   := $(BUILD)/libblockguard-pprof.so
PPROF_OBJ  := $(BUILD)/obj/report/pprof/pprof.o $(BUILD)/obj/$(BUILD)/gen/profile.pb-c.o
PPROF_LIBS := -lprotobuf-c -lz
UNIT_SRC  := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all deps check check-unit check-integration demo demo-offload check-tsan bench docs \
        check-docs install clean format check-format fuzz check-transparency check-browser bench-http \
        expand
all: $(BUILD)/.deps $(SHIM) $(CLI) $(PPROF_SO)

# Installs (as root) or names (otherwise) missing Debian packages; re-run when the
# script changes.
$(BUILD)/.deps: tools/deps.sh
	$(Q)tools/deps.sh build
	$(Q)mkdir -p $(@D) && touch $@

$(BUILD)/obj/%.o: %.c $(BUILD)/.deps $(GEN_HDR)
	$(call say,CC,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(BGFLAGS) -MMD -MP -c $< -o $@

# Symbol lookup runs inside the sanitizer runtimes' own start-up (ASan's interceptors
# call dlsym(RTLD_NEXT) before ASan is initialised): never instrumented.
NOSAN_SRC := preload/elfsym.c preload/resolve.c preload/dlsym.c
$(NOSAN_SRC:%.c=$(BUILD)/obj/%.o): BGFLAGS := $(filter-out -fsanitize=% -fno-sanitize-recover=%,$(BGFLAGS))

$(BUILD)/obj/%.o: %.S
	$(call say,AS,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(BGFLAGS) -c $< -o $@

# The dashboard page is embedded in the library as a C string (no external files at
# run time).  An empty page is generated while report/dashboard.html does not exist.
$(GEN_HDR): $(wildcard report/dashboard.html) tools/embed.sh
	$(Q)mkdir -p $(@D)
	$(Q)sh tools/embed.sh bg__dashboard_html report/dashboard.html > $@

$(BUILD)/gen/%.pb-c.c $(BUILD)/gen/%.pb-c.h: third_party/pprof/%.proto $(BUILD)/.deps
	$(call say,PROTOC,$<)
	$(Q)mkdir -p $(@D)
	$(Q)protoc-c --c_out=$(BUILD)/gen --proto_path=third_party/pprof $*.proto
$(BUILD)/obj/report/pprof/pprof.o: $(BUILD)/gen/profile.pb-c.h

$(PPROF_SO): $(PPROF_OBJ)
	$(call say,LD,$@)
	$(Q)$(CC) -shared $(SANLDFLAGS) -o $@ $^ $(PPROF_LIBS)

$(SHIM): $(PRELOAD_OBJ) $(CORE_OBJ)
	$(call say,LD,$@)
	$(Q)$(CC) -shared $(SANLDFLAGS) -Wl,-Bsymbolic-functions -Wl,--version-script=preload/exports.map \
	    -o $@ $^ $(LDLIBS)

CLI_SRC := tools/blockguard.c $(sort $(wildcard tools/cmd_*.c tools/cli_*.c))
$(CLI): $(CLI_SRC:%.c=$(BUILD)/obj/%.o) $(CORE_OBJ) $(PPROF_OBJ)
	$(call say,LD,$@)
	$(Q)$(CC) $(SANLDFLAGS) -o $@ $^ $(PPROF_LIBS) $(LDLIBS)

# --- tests --------------------------------------------------------------------------
$(BUILD)/tests/%: tests/unit/%.c $(CORE_OBJ) $(PPROF_OBJ) $(BUILD)/.deps-check
	$(call say,CC,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(BGFLAGS) -fvisibility=default $(SANLDFLAGS) -o $@ $< \
	    $(CORE_OBJ) $(PPROF_OBJ) $(PPROF_LIBS) $(LDLIBS) -lcmocka $(JANSSON_LIBS)

$(BUILD)/.deps-check: tools/deps.sh
	$(Q)tools/deps.sh check
	$(Q)mkdir -p $(@D) && touch $@

check: all $(BUILD)/.deps-check check-docs check-unit check-integration check-fuzz-replay

check-unit: $(UNIT_BIN)
	$(Q)sh tests/run-unit.sh $(UNIT_BIN)

check-integration: all $(BUILD)/.deps-check
	$(Q)BUILD=$(BUILD) CC="$(CC)" SANITIZER="$(SANITIZER)" sh tests/integration/run.sh

# The dashboard in a real browser: headless Debian chromium driven by playwright-core
# (npm, pinned by tests/browser/package-lock.json).  Screenshots: $(BUILD)/dashboard*.png
check-browser: all
	$(Q)tools/deps.sh browser
	$(Q)cd tests/browser && npm ci --no-audit --no-fund --loglevel=error
	$(Q)BUILD=$(BUILD) BG_ROOT=$(CURDIR) CC="$(CC)" node tests/browser/dashboard.test.mjs
	$(Q)BUILD=$(BUILD) BG_ROOT=$(CURDIR) CC="$(CC)" node tests/browser/speedscope.test.mjs
	$(Q)BUILD=$(BUILD) BG_ROOT=$(CURDIR) CC="$(CC)" node tests/browser/tree.test.mjs

# /api/report latency with 1,000 live sites (median/p90/max).
bench-http: all
	$(Q)BUILD=$(BUILD) CC="$(CC)" sh tests/bench/http/http_latency.sh

# docs/calls.md is generated from the call table; check fails when it is stale.
$(BUILD)/gencalls: tools/gencalls.c preload/calls.def preload/syscalls.def guard/guard.h
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(WARN) -I. -o $@ tools/gencalls.c

docs: $(BUILD)/gencalls $(CLI)
	$(Q)$(BUILD)/gencalls markdown > docs/calls.md
	$(Q)$(CLI) --help=markdown > docs/options.md
	$(Q)$(CLI) --help=formats > docs/formats.md

check-docs: $(BUILD)/gencalls $(CLI) $(BUILD)/gen/wrappers.expanded.c
	$(Q)grep -Eq '^/\* preload/calls.def:[0-9]+ \*/' $(BUILD)/gen/wrappers.expanded.c && \
	  grep -Eq 'ssize_t[[:space:]]+read\($$|ssize_t[[:space:]]+read\(int fd' $(BUILD)/gen/wrappers.expanded.c || \
	  { echo "make expand: no read wrapper in $(BUILD)/gen/wrappers.expanded.c"; exit 1; }
	$(Q)$(BUILD)/gencalls markdown | diff -u docs/calls.md - >/dev/null || \
	  { echo "docs/calls.md is stale: run 'make docs'"; exit 1; }
	$(Q)$(CLI) --help=markdown | diff -u docs/options.md - >/dev/null || \
	  { echo "docs/options.md is stale: run 'make docs'"; exit 1; }
	$(Q)$(CLI) --help=formats | diff -u docs/formats.md - >/dev/null || \
	  { echo "docs/formats.md is stale: run 'make docs'"; exit 1; }

# The wrappers, real-function pointers and offload code the shim's sources stamp out
# per row of preload/calls.def, preprocessed and clang-formatted into files one can
# open ("the read wrapper": build/gen/wrappers.expanded.c).  For reading, not built.
EXPAND_SRC := preload/wrappers.c preload/offload.c preload/offload_custom.c \
              $(sort $(wildcard preload/custom*.c))
EXPAND_OUT := $(EXPAND_SRC:preload/%.c=$(BUILD)/gen/%.expanded.c)
expand: $(EXPAND_OUT)
	$(Q)printf '  %s\n' $(EXPAND_OUT)
$(BUILD)/gen/%.expanded.c: preload/%.c preload/calls.def preload/syscalls.def tools/expand.sh \
                           $(BUILD)/.deps $(GEN_HDR)
	$(call say,EXPAND,$<)
	$(Q)CC="$(CC)" tools/expand.sh $< $(CFLAGS) $(BGFLAGS) > $@.tmp && mv $@.tmp $@

demo: all
	$(Q)$(MAKE) -s -C tests/demo BUILD=$(abspath $(BUILD)) run

demo-offload: all
	$(Q)$(MAKE) -s -C tests/demo/offload BUILD=$(abspath $(BUILD)) run

# The threaded unit tests of the coroutine runtime, offload pool, io_uring path, ledger
# and verdict core (a loop ended by another thread's close) under TSan.
TSAN_UNITS := test_co_ctx test_sched test_workers test_uring test_ledger test_verdict
check-tsan:
	$(Q)$(MAKE) SANITIZER=thread $(TSAN_UNITS:%=build-thread/tests/%)
	$(Q)sh tests/run-unit.sh $(TSAN_UNITS:%=build-thread/tests/%)

bench: all
	$(Q)tools/deps.sh bench
	$(Q)$(MAKE) -s -C tests/bench BUILD=$(abspath $(BUILD)) ONLY=$(ONLY) run

install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/include \
	  $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 $(SHIM) $(DESTDIR)$(PREFIX)/lib/libblockguard.so
	install -m 0755 $(PPROF_SO) $(DESTDIR)$(PREFIX)/lib/libblockguard-pprof.so
	install -m 0755 $(CLI) $(DESTDIR)$(PREFIX)/bin/blockguard
	install -m 0644 include/blockguard.h include/blockguard_st.h $(DESTDIR)$(PREFIX)/include/
	install -m 0644 docs/blockguard.1 $(DESTDIR)$(PREFIX)/share/man/man1/blockguard.1
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' tools/blockguard.pc.in \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/blockguard.pc

# The files tools/format.list names, held to .clang-format: `make format` rewrites them,
# `make check-format` fails when one differs (.ci/run).  The list grows a directory at a
# time (docs/hacking.md "Formatting"); the rest of the tree is not touched.
format:
	$(Q)tools/format.sh fix

check-format:
	$(Q)tools/format.sh check

clean:
	rm -rf build build-*

# make -s print-BGFLAGS: a variable's value (tests compile files with the build's flags).
print-%:
	@: $(info $($*))

# Trust targets: fuzzing (tests/fuzz/fuzz.mk), transparency against CPython's test suite
# (tests/transparency/transparency.mk).
include tests/fuzz/fuzz.mk
include tests/transparency/transparency.mk

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
