# fuzz.mk - fuzzing targets (included by the top-level Makefile).
#
#   make fuzz [FUZZ_SECONDS=600] [FUZZ_TARGETS="options report_json"]   long runs
#   make check-fuzz                short run of every harness (CI: 20 s each)
#   make check-fuzz-replay         replay seed corpora + every past crash (part of check)
#
# Every tests/fuzz/fuzz_NAME.c is a libFuzzer harness (LLVMFuzzerTestOneInput).  For
# fuzzing it is built with clang -fsanitize=fuzzer,address,undefined against the
# guard/ + report/ sources compiled the same way into build-fuzz/.  For replay it is
# built with $(CC) (and SANITIZER=..., if set) against tests/fuzz/replay.c and the
# normal core objects, so `make check` needs no clang.
FUZZ_DIR     ?= build-fuzz
FUZZ_SECONDS ?= 600
FUZZ_CC      ?= $(shell command -v clang-14 || command -v clang || echo clang)
FUZZ_NAMES   := $(patsubst tests/fuzz/fuzz_%.c,%,$(sort $(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_TARGETS ?= $(FUZZ_NAMES)
FUZZ_BINS    := $(FUZZ_NAMES:%=$(FUZZ_DIR)/fuzz_%)
FUZZ_OBJ     := $(CORE_SRC:%.c=$(FUZZ_DIR)/obj/%.o) $(CORE_ASM:%.S=$(FUZZ_DIR)/obj/%.o) \
                $(PPROF_OBJ:$(BUILD)/obj/%=$(FUZZ_DIR)/obj/%)
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS  := -g -O1 $(FUZZ_SAN) -fsanitize=fuzzer-no-link
REPLAY_BINS  := $(FUZZ_NAMES:%=$(BUILD)/fuzz/replay_%)

$(FUZZ_DIR)/.deps: tools/deps.sh
	$(Q)tools/deps.sh fuzz
	$(Q)mkdir -p $(@D) && touch $@

$(FUZZ_DIR)/obj/%.o: %.c $(FUZZ_DIR)/.deps $(BUILD)/.deps $(GEN_HDR)
	$(call say,FUZZCC,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) $(BGFLAGS) -MMD -MP -c $< -o $@

$(FUZZ_DIR)/obj/%.o: %.S
	$(Q)mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(BGFLAGS) -c $< -o $@

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJ)
	$(call say,FUZZLD,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) $(BGFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJ) $(PPROF_LIBS) $(LDLIBS) $(JANSSON_LIBS)

$(BUILD)/fuzz/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(CORE_OBJ) $(PPROF_OBJ)
	$(call say,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(BGFLAGS) $(SANLDFLAGS) -o $@ $< tests/fuzz/replay.c $(CORE_OBJ) \
	    $(PPROF_OBJ) $(PPROF_LIBS) $(LDLIBS) $(JANSSON_LIBS)

$(FUZZ_DIR)/obj/report/pprof/pprof.o: $(BUILD)/gen/profile.pb-c.h
.SECONDARY: $(FUZZ_OBJ)
.PHONY: fuzz check-fuzz check-fuzz-replay fuzz-build
fuzz-build: $(FUZZ_BINS)

fuzz: $(FUZZ_BINS)
	$(Q)FUZZ_DIR=$(FUZZ_DIR) FUZZ_SECONDS=$(FUZZ_SECONDS) sh tests/fuzz/run.sh $(FUZZ_TARGETS)

check-fuzz: $(FUZZ_BINS)
	$(Q)FUZZ_DIR=$(FUZZ_DIR) FUZZ_SECONDS=$(or $(CHECK_FUZZ_SECONDS),20) sh tests/fuzz/run.sh $(FUZZ_TARGETS)

check-fuzz-replay: $(REPLAY_BINS)
	$(Q)fail=0; for n in $(FUZZ_NAMES); do \
	  $(BUILD)/fuzz/replay_$$n tests/fuzz/corpus/$$n tests/fuzz/regress/$$n 2>$(BUILD)/fuzz/replay_$$n.log \
	    || { echo "  FAIL  replay_$$n (log: $(BUILD)/fuzz/replay_$$n.log)"; tail -n 20 $(BUILD)/fuzz/replay_$$n.log; fail=1; }; \
	done; exit $$fail

-include $(shell find $(FUZZ_DIR)/obj -name '*.d' 2>/dev/null)
