# proxy/: crm-proxy, the IMAP proxy daemon.
# The parsers link alone (no libevent/OpenSSL) into unit tests and fuzzers.
PROXY_PURE_SRCS := $(wildcard proxy/imap_parse.c proxy/sasl.c proxy/proxy_proto.c \
	proxy/smtp_parse.c proxy/http_parse.c \
	proxy/imap_caps.c)
PROXY_PURE_OBJS := $(PROXY_PURE_SRCS:%.c=$(B)/%.o)
PURE_OBJS += $(PROXY_PURE_OBJS)

PROXY_SRCS := $(filter-out $(PROXY_PURE_SRCS),$(wildcard proxy/*.c))
PROXY_OBJS := $(PROXY_SRCS:%.c=$(B)/%.o)
PROXY_LIBS := $(shell $(PKG_CONFIG) --libs libevent_openssl libevent openssl)

# CalDAV: the tap reads multistatus answers with libxml2 (zlib for
# gzip'ed ones) and iCalendar with libical (capture/ical_meta.c).
PROXY_LIBS += $(shell $(PKG_CONFIG) --libs libxml-2.0 zlib libical libcrypto)
$(B)/proxy/caldav_tap.o: PKG_CFLAGS += $(shell $(PKG_CONFIG) --cflags libxml-2.0)

# The tap writes through the capture spool (capture/module.mk).
$(B)/crm-proxy: $(PROXY_OBJS) $(PROXY_PURE_OBJS) $(CAPTURE_PURE_OBJS) \
    $(CAPTURE_EVENT_OBJS) $(B)/capture/ical_meta.o $(LIB_A)
	$(CC) $(LDFLAGS_ALL) -o $@ $(filter %.o %.a,$^) $(PROXY_LIBS)

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
