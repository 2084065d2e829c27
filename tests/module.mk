# tests/: unit tests (cmocka), fuzz targets (libFuzzer; replayed by `make
# test` through a plain driver so a gcc build catches regressions),
# integration scenarios and benchmarks.
#
# Conventions for other modules:
#   PURE_OBJS   objects with no library dependencies (parsers); every unit
#               test and fuzz target may link them.
#   A unit test tests/unit/test_<x>.c that needs more adds, in its module.mk:
#     $(B)/tests/unit/test_<x>: <objs>      and
#     $(B)/tests/unit/test_<x>: TEST_LIBS += <libs>
#   A fuzz target tests/fuzz/fuzz_<x>.c links PURE_OBJS + lib; seeds live in
#   tests/fuzz/corpus/<x>/, a dictionary (optional) in tests/fuzz/<x>.dict.

CMOCKA_LIBS := $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null)

UNIT_SRCS  := $(wildcard tests/unit/test_*.c)
UNIT_TESTS := $(UNIT_SRCS:%.c=$(B)/%)

FUZZ_SRCS  := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES := $(FUZZ_SRCS:tests/fuzz/fuzz_%.c=%)
FUZZ_REPLAY := $(FUZZ_NAMES:%=$(B)/tests/fuzz/replay_%)

$(B)/tests/unit/test_%: $(B)/tests/unit/test_%.o $(PURE_OBJS) $(LIB_A)
	$(CC) $(LDFLAGS_ALL) -o $@ $(filter %.o,$^) $(filter %.a,$^) $(TEST_LIBS) $(CMOCKA_LIBS)

$(B)/tests/fuzz/replay_%: $(B)/tests/fuzz/fuzz_%.o $(B)/tests/fuzz/replay_main.o $(PURE_OBJS) $(LIB_A)
	$(CC) $(LDFLAGS_ALL) -o $@ $(filter %.o,$^) $(filter %.a,$^) $(TEST_LIBS)

.PHONY: unit-tests fuzz-replay integration
tests: $(UNIT_TESTS) $(FUZZ_REPLAY)

# The whole suite; the runner prints "N passed, N failed" last.
test: all $(UNIT_TESTS) $(FUZZ_REPLAY)
	B=$(B) tests/run.sh $(TESTS)

unit: $(UNIT_TESTS) $(FUZZ_REPLAY)
	B=$(B) tests/run.sh unit fuzz-replay

# Same suite, ASan+UBSan, separate build dir so objects never mix.
check-asan:
	CRM_SANITIZED=1 $(MAKE) B=build-asan OPT="-O1 -g" \
	    SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	    test

# The daemons' scenarios with every crm-* program under valgrind memcheck:
# fails on any memory error or definite/indirect leak (tests/valgrind.sh).
# Only scenarios without timing bounds (search_index, enrich_e2e and the
# latency scenarios time out under memcheck; index_lifecycle is crm-index
# on few messages for this); VALGRIND_SCENARIOS overrides.
VALGRIND_SCENARIOS ?= imap_plain imap_reload imap_badinput smtp_submission \
    certs_tool caldav_http tap_capture imip_capture enrich_kafka \
    enrich_badinput index_lifecycle api_rest
check-valgrind:
	$(MAKE) B=build-vg OPT="-O1 -g" all
	tests/valgrind.sh build-vg $(VALGRIND_SCENARIOS)

# The threaded parts under ThreadSanitizer: the staged spool writer's
# thread and its ring (unit/test_spool, with every other unit test) and
# crm-api's workers sharing the rate table (api_rest).  Any report stops
# the program (halt_on_error), so the scenario fails.  Only these: the
# proxy's workers are processes, and librdkafka's threads (C11 thrd_create,
# which this TSan does not intercept) crash crm-capture and crm-enrich
# under it.  -Wno-tsan: TSan cannot model the CalDAV tap's seqlock fence,
# a cross-process table that no two threads of one process share.
TSAN_SCENARIOS ?= unit api_rest
check-tsan:
	$(MAKE) B=build-tsan OPT="-O1 -g" CFLAGS="-Wno-tsan $(CFLAGS)" \
	    SAN="-fsanitize=thread -fno-omit-frame-pointer" all tests
	TSAN_OPTIONS="halt_on_error=1 exitcode=66 $(TSAN_OPTIONS)" \
	    B=build-tsan tests/run.sh $(TSAN_SCENARIOS)

# libFuzzer + ASan/UBSan with clang; FUZZ_SECONDS per target (default 60).
FUZZ_SECONDS ?= 60
FUZZ_CC ?= clang-14
fuzz:
	$(MAKE) B=build-fuzz CC=$(FUZZ_CC) OPT="-O1 -g" \
	    CFLAGS="-Wno-unknown-warning-option $(CFLAGS)" \
	    SAN="-fsanitize=address,undefined,fuzzer-no-link -fno-omit-frame-pointer" \
	    fuzz-build
	FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh build-fuzz $(FUZZ_NAMES)

FUZZ_BINS := $(FUZZ_NAMES:%=$(B)/tests/fuzz/fuzz_%)
fuzz-build: $(FUZZ_BINS)
$(B)/tests/fuzz/fuzz_%: $(B)/tests/fuzz/fuzz_%.o $(PURE_OBJS) $(LIB_A)
	$(CC) $(LDFLAGS_ALL) -fsanitize=fuzzer -o $@ $(filter %.o,$^) $(filter %.a,$^) $(TEST_LIBS)

bench: all
	B=$(B) tests/bench/run.sh
