# enrich/cal/: iCalendar objects for crm-enrich (libcal.a): libical parses,
# this module bounds, resolves time zones to UTC and expands recurrences.
CAL_PKGS := libical
CAL_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(CAL_PKGS))
CAL_LIBS := $(shell $(PKG_CONFIG) --libs $(CAL_PKGS))

CAL_SRCS := enrich/cal/cal.c enrich/cal/cal_expand.c
CAL_OBJS := $(CAL_SRCS:%.c=$(B)/%.o)
CAL_A    := $(B)/enrich/cal/libcal.a

$(CAL_OBJS): PKG_CFLAGS += $(CAL_CFLAGS)

$(CAL_A): $(CAL_OBJS)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

all: $(CAL_A)

CAL_TESTS := $(B)/tests/unit/test_cal $(B)/tests/fuzz/replay_cal \
             $(B)/tests/fuzz/fuzz_cal
$(CAL_TESTS): $(CAL_A)
$(CAL_TESTS): TEST_LIBS += $(CAL_A) $(LIB_A) $(CAL_LIBS)
$(B)/tests/unit/test_cal.o $(B)/tests/fuzz/fuzz_cal.o: PKG_CFLAGS += $(CAL_CFLAGS)
