# transparency.mk - CPython's regression tests with and without the shim (included by
# the top-level Makefile; the driver is tests/transparency/run.py).
#
#   make check-transparency                       the CI set, threads=auto:mode=report,
#                                                 then test_concurrent_futures with no
#                                                 options under LD_PRELOAD and `blockguard run`
#   make check-transparency TRANSPARENCY_MODES="threads=auto:mode=report threads=all:mode=report"
#     (every child interpreter then has guarded threads; the exit summary goes to a
#     terminal only, never into a child's stderr pipe: docs/design.md "log_path")
#   make check-transparency TRANSPARENCY_MODULES="test_socket test_os"
#   make check-transparency-more                  the longer set (TRANSPARENCY_MORE)
#
# Needs CPython's test suite: Debian's python3 ships only its skeleton, the modules
# are in libpython3.X-testsuite (tools/deps.sh trust installs it).
TRANSPARENCY_MODULES ?= test_socket test_select test_selectors test_subprocess test_os \
                        test_signal test_threading test_asyncio test_fileio test_poll
TRANSPARENCY_MODES   ?= threads=auto:mode=report
TRANSPARENCY_JOBS    ?= 2
# Must pass identically under LD_PRELOAD with no options at all and under `blockguard
# run` (issue 10: the exit summary on a child's stderr broke test_interpreter_shutdown).
TRANSPARENCY_DEFAULTS_MODULES ?= test_concurrent_futures
TRANSPARENCY_DEFAULTS_MODES   ?= default cli:default
# Further modules that exercise wrapped calls, too long for every CI run (see
# docs/trust.md for their runtimes).
TRANSPARENCY_MORE    ?= test_epoll test_fcntl test_file test_io test_pty test_socketserver \
                        test_ssl test_httplib test_urllib2_localnet test_queue \
                        test_concurrent_futures test_multiprocessing_forkserver test_time \
                        test_sched test_mmap test_shutil test_tempfile test_logging

$(BUILD)/.deps-trust: tools/deps.sh
	$(Q)tools/deps.sh trust
	$(Q)mkdir -p $(@D) && touch $@

.PHONY: check-transparency check-transparency-more
check-transparency: all $(BUILD)/.deps-trust
	$(Q)SHIM=$(BUILD)/libblockguard.so OUT=$(BUILD)/transparency \
	  MODULES="$(TRANSPARENCY_MODULES)" MODES="$(TRANSPARENCY_MODES)" JOBS=$(TRANSPARENCY_JOBS) \
	  python3 tests/transparency/run.py
	$(Q)[ -z "$(TRANSPARENCY_DEFAULTS_MODULES)" ] || SHIM=$(BUILD)/libblockguard.so \
	  OUT=$(BUILD)/transparency MODULES="$(TRANSPARENCY_DEFAULTS_MODULES)" \
	  MODES="$(TRANSPARENCY_DEFAULTS_MODES)" JOBS=$(TRANSPARENCY_JOBS) python3 tests/transparency/run.py

check-transparency-more:
	$(Q)$(MAKE) --no-print-directory check-transparency TRANSPARENCY_MODULES="$(TRANSPARENCY_MORE)" \
	  TRANSPARENCY_DEFAULTS_MODULES=
