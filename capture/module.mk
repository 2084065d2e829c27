# capture/: the durable spool (linked into the proxy, tests and fuzzers) and
# crm-capture, the daemon that ships it to Kafka.  Only crm-capture's own
# files include rdkafka.h.
#
# spool*.o and crc32c.o are pure (no library but libc): PURE_OBJS.
# event.o needs OpenSSL's libcrypto (SHA-256), so it is listed separately
# for whoever links it: crm-capture, crm-proxy, test_event, spool-tool.
CAPTURE_PURE_SRCS := capture/crc32c.c capture/spool.c capture/spool_reader.c \
	capture/spool_stage.c
CAPTURE_PURE_OBJS := $(CAPTURE_PURE_SRCS:%.c=$(B)/%.o)
PURE_OBJS += $(CAPTURE_PURE_OBJS)

CAPTURE_EVENT_OBJS := $(B)/capture/event.o
CAPTURE_EVENT_LIBS := $(shell $(PKG_CONFIG) --libs libcrypto)

CAPTURE_SRCS := capture/crm-capture.c capture/shipper.c capture/producer.c \
	capture/capture_conf.c
CAPTURE_OBJS := $(CAPTURE_SRCS:%.c=$(B)/%.o)
RDKAFKA_CFLAGS := $(shell $(PKG_CONFIG) --cflags rdkafka)
RDKAFKA_LIBS := $(shell $(PKG_CONFIG) --libs rdkafka)

$(CAPTURE_OBJS): PKG_CFLAGS += $(RDKAFKA_CFLAGS)

$(B)/crm-capture: $(CAPTURE_OBJS) $(CAPTURE_EVENT_OBJS) \
    $(CAPTURE_PURE_OBJS) $(LIB_KAFKA_O) $(LIB_A)
	$(CC) $(LDFLAGS_ALL) -o $@ $(filter %.o,$^) $(filter %.a,$^) $(RDKAFKA_LIBS) \
	    $(CAPTURE_EVENT_LIBS)

BINS += $(B)/crm-capture

# Unit tests beyond PURE_OBJS.
$(B)/tests/unit/test_event: $(CAPTURE_EVENT_OBJS)
$(B)/tests/unit/test_event: TEST_LIBS += $(CAPTURE_EVENT_LIBS)

# The spool test writer/verifier the Kafka scenarios drive.
$(B)/tests/tools/spool-tool: $(B)/tests/tools/spool_tool.o \
    $(CAPTURE_EVENT_OBJS) $(CAPTURE_PURE_OBJS) $(LIB_A)
	$(CC) $(LDFLAGS_ALL) -o $@ $(filter %.o,$^) $(filter %.a,$^) $(CAPTURE_EVENT_LIBS)

tests: $(B)/tests/tools/spool-tool
test: $(B)/tests/tools/spool-tool $(B)/crm-capture

install: install-capture
.PHONY: install-capture
install-capture: $(B)/crm-capture
	install -d $(DESTDIR)$(PREFIX)/sbin \
	    $(DESTDIR)$(PREFIX)/share/doc/crm-proxy \
	    $(DESTDIR)$(PREFIX)/share/man/man8
	install -m 755 $(B)/crm-capture $(DESTDIR)$(PREFIX)/sbin/crm-capture
	install -m 644 man/crm-capture.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 644 capture/crm-capture.conf.example \
	    $(DESTDIR)$(PREFIX)/share/doc/crm-proxy/

# ical_meta.o: the iCalendar glue (libical), linked by crm-proxy's CalDAV
# tap and by whatever reads iMIP invitations from mail.
ICAL_LIBS := $(shell $(PKG_CONFIG) --libs libical)
$(B)/tests/unit/test_ical_meta $(B)/tests/fuzz/replay_ical_meta \
    $(B)/tests/fuzz/fuzz_ical_meta: $(B)/capture/ical_meta.o
$(B)/tests/unit/test_ical_meta $(B)/tests/fuzz/replay_ical_meta \
    $(B)/tests/fuzz/fuzz_ical_meta: TEST_LIBS += $(ICAL_LIBS)
