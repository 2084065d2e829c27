# enrich/imip/: crm-imip, iMIP invitations in captured mail (crm.mail.v1)
# onto crm.calendar.v1.  It sits with the enrichment daemons because it is
# one: a consumer group on a captured topic that reads mail with
# enrich/mime.  It needs no database; librdkafka, libetpan (through
# libmime), libical (capture/ical_meta.o) and libcrypto (SHA-256 keys).
IMIP_PKGS   := rdkafka libical libcrypto
IMIP_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(IMIP_PKGS))
IMIP_LIBS   := $(shell $(PKG_CONFIG) --libs $(IMIP_PKGS))
IMIP_MIME_LIBS := $(filter-out -specs=%,$(shell $(PKG_CONFIG) --libs libetpan libcrypto))

IMIP_CORE_OBJS := $(B)/enrich/imip/imip.o $(B)/capture/ical_meta.o \
    $(CAPTURE_EVENT_OBJS)
IMIP_OBJS := $(B)/enrich/imip/crm-imip.o $(B)/enrich/imip/imip_conf.o

$(B)/enrich/imip/%.o: PKG_CFLAGS += $(IMIP_CFLAGS)

# libmime's libetpan leaks a no-PIE specs file into its Libs; drop it.
# libmime takes Message-ID lists from libident, so that follows it.
$(B)/crm-imip: $(IMIP_OBJS) $(IMIP_CORE_OBJS) $(B)/enrich/mime/libmime.a \
    $(IDENT_A) $(LIB_KAFKA_O) $(LIB_A)
	$(CC) $(LDFLAGS_ALL) -o $@ $(filter %.o,$^) $(filter %.a,$^) $(IMIP_LIBS) \
	    $(IMIP_MIME_LIBS) $(IDENT_LIBS)

BINS += $(B)/crm-imip

IMIP_TESTS := $(B)/tests/unit/test_imip $(B)/tests/fuzz/replay_imip \
    $(B)/tests/fuzz/fuzz_imip
$(IMIP_TESTS): $(IMIP_CORE_OBJS) $(B)/enrich/mime/libmime.a $(IDENT_A)
$(IMIP_TESTS): TEST_LIBS += $(B)/enrich/mime/libmime.a $(IDENT_A) $(LIB_A) \
    $(IMIP_LIBS) $(IMIP_MIME_LIBS) $(IDENT_LIBS)

test: $(B)/crm-imip

install: install-imip
.PHONY: install-imip
install-imip: $(B)/crm-imip
	install -d $(DESTDIR)$(PREFIX)/sbin \
	    $(DESTDIR)$(PREFIX)/share/man/man8 \
	    $(DESTDIR)$(PREFIX)/share/doc/crm-proxy
	install -m 755 $(B)/crm-imip $(DESTDIR)$(PREFIX)/sbin/
	install -m 644 man/crm-imip.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 644 enrich/imip/crm-imip.conf.example \
	    $(DESTDIR)$(PREFIX)/share/doc/crm-proxy/
