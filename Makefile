# crm-proxy: one non-recursive GNU Makefile.  Each part contributes a
# module.mk fragment that appends to the lists below; everything builds into
# $(B)/ (build/ by default, build-asan/ for check-asan).
#
#   make               daemons and tools
#   make test          unit tests (cmocka), fuzz-corpus replay, integration
#   make check-asan    the same suite under ASan+UBSan
#   make check-valgrind  the daemons' scenarios under valgrind memcheck
#   make check-tsan    the threaded parts under ThreadSanitizer
#   make fuzz          libFuzzer targets, FUZZ_SECONDS each (clang)
#   make bench         benchmarks; prints ratio tables
#   make install       DESTDIR/PREFIX honoured
#   make demo          Dovecot with demo mail, crm-proxy, the capture pipeline

PREFIX   ?= /usr/local
DESTDIR  ?=
B        ?= build
CC       ?= cc
PKG_CONFIG ?= pkg-config

WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wconversion \
        -Wno-sign-conversion -Wstrict-prototypes -Wmissing-prototypes \
        -Wpointer-arith -Wvla -Wimplicit-fallthrough \
        -Wno-format-truncation
CSTD := -std=c11 -D_GNU_SOURCE
OPT  ?= -O2 -g
SAN  ?=
CFLAGS_ALL = $(CSTD) $(OPT) $(WARN) $(SAN) -fPIE -fstack-protector-strong \
             -D_FORTIFY_SOURCE=2 -I. -MMD -MP $(CFLAGS)
LDFLAGS_ALL = -pie -Wl,-z,relro,-z,now $(SAN) $(LDFLAGS)

PKG_MODULES := libevent libevent_openssl openssl
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKG_MODULES))

# Every module appends here.
BINS        :=
UNIT_TESTS  :=
FUZZ_TARGETS :=
OBJS        :=

.PHONY: all test unit check-asan check-valgrind check-tsan fuzz bench install demo clean
all:

# Objects reached only through pattern rules (tests/unit/test_x.o) are
# "intermediate" to make, which deletes them after each link; keep them so
# -MMD dependency files stay useful and rebuilds stay incremental.
.SECONDARY:

include lib/module.mk
include $(filter-out lib/module.mk tests/module.mk,$(wildcard */module.mk */*/module.mk))
include tests/module.mk

all: $(BINS)

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(PKG_CFLAGS) -c -o $@ $<

-include $(shell find $(B) -name '*.d' 2>/dev/null)

clean:
	rm -rf build build-asan build-fuzz build-vg build-tsan
