# proxy/: crm-proxy, the IMAP proxy daemon.
# The parsers link alone (no libevent/OpenSSL) into unit tests and fuzzers.
PROXY_PURE_SRCS := $(wildcard proxy/imap_parse.c proxy/sasl.c proxy/proxy_proto.c \
	proxy/smtp_parse.c proxy/http_parse.c \
	proxy/imap_caps.c proxy/tap_policy.c proxy/config_tenant.c)
PROXY_PURE_OBJS := $(PROXY_PURE_SRCS:%.c=$(B)/%.o)
PURE_OBJS += $(PROXY_PURE_OBJS)

PROXY_SRCS := $(filter-out $(PROXY_PURE_SRCS),$(wildcard proxy/*.c))
PROXY_OBJS := $(PROXY_SRCS:%.c=$(B)/%.o)
PROXY_LIBS := $(shell $(PKG_CONFIG) --libs libevent_openssl libevent openssl)

# CalDAV: the tap reads multistatus answers with libxml2 (zlib for
# gzip'ed ones) and iCalendar with libical (capture/ical_meta.c).
PROXY_LIBS += $(shell $(PKG_CONFIG) --libs libxml-2.0 zlib libical libcrypto)
$(B)/proxy/caldav_tap.o: PKG_CFLAGS += $(shell $(PKG_CONFIG) --cflags libxml-2.0)

# The tap writes through the capture spool (capture/module.mk).  The IMAP
# tap's imap_tap.o and tap_spool.o are pure C too, but need the spool and
# event.o (libcrypto's SHA-256), so they are listed apart from PURE_OBJS for
# whoever links them: crm-proxy, test_imap_tap, fuzz_imap_tap.
PROXY_TAP_SRCS := proxy/imap_tap.c proxy/tap_spool.c
PROXY_TAP_OBJS := $(PROXY_TAP_SRCS:%.c=$(B)/%.o) $(CAPTURE_EVENT_OBJS) \
	$(CAPTURE_PURE_OBJS)
PROXY_SRCS := $(filter-out $(PROXY_TAP_SRCS),$(PROXY_SRCS))
PROXY_OBJS := $(PROXY_SRCS:%.c=$(B)/%.o)

$(B)/crm-proxy: $(PROXY_OBJS) $(PROXY_PURE_OBJS) $(PROXY_TAP_OBJS) \
    $(B)/capture/ical_meta.o $(LIB_A)
	$(CC) $(LDFLAGS_ALL) -o $@ $(filter %.o,$^) $(filter %.a,$^) $(PROXY_LIBS)

$(B)/tests/unit/test_imap_tap: $(PROXY_TAP_OBJS)
$(B)/tests/unit/test_imap_tap: TEST_LIBS += $(CAPTURE_EVENT_LIBS)
$(B)/tests/fuzz/replay_imap_tap $(B)/tests/fuzz/fuzz_imap_tap: $(PROXY_TAP_OBJS)
$(B)/tests/fuzz/replay_imap_tap $(B)/tests/fuzz/fuzz_imap_tap: TEST_LIBS += $(CAPTURE_EVENT_LIBS)

BINS += $(B)/crm-proxy

install: install-proxy
.PHONY: install-proxy
install-proxy: $(B)/crm-proxy
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/share/man/man8 \
	    $(DESTDIR)$(PREFIX)/share/doc/crm-proxy
	install -m 755 $(B)/crm-proxy $(DESTDIR)$(PREFIX)/sbin/crm-proxy
	install -m 644 man/crm-proxy.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 644 proxy/crm-proxy.conf.example \
	    $(DESTDIR)$(PREFIX)/share/doc/crm-proxy/

.PHONY: demo demo-stop
demo: all
	B=$(B) packaging/demo.sh start
demo-stop:
	packaging/demo.sh stop

# The CalDAV tap's multistatus reader, fuzzed with everything behind it.
CALDAV_TAP_TEST_OBJS := $(B)/proxy/caldav_tap.o $(B)/capture/event.o \
	$(B)/capture/ical_meta.o
CALDAV_TAP_TEST_LIBS := $(shell $(PKG_CONFIG) --libs libxml-2.0 zlib libical libcrypto)
$(B)/tests/fuzz/fuzz_caldav_report $(B)/tests/fuzz/replay_caldav_report: \
    $(CALDAV_TAP_TEST_OBJS)
$(B)/tests/fuzz/fuzz_caldav_report $(B)/tests/fuzz/replay_caldav_report: \
    TEST_LIBS += $(CALDAV_TAP_TEST_LIBS)
