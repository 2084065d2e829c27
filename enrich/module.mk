# enrich/: crm-migrate (schema migrations), crm-enrich (Kafka -> PostgreSQL)
# and crm-admin (purge).  libpq everywhere; crm-enrich adds librdkafka and
# the enrichment libraries: enrich/mime (MIME), enrich/scrub (bodies),
# enrich/ident (addresses, domains, threads) and enrich/cal (calendar).
PQ_CFLAGS := $(shell $(PKG_CONFIG) --cflags libpq)
PQ_LIBS   := $(shell $(PKG_CONFIG) --libs libpq)
ENRICH_SQL_DIR ?= $(PREFIX)/share/crm-proxy/sql

$(B)/enrich/migrate/%.o: PKG_CFLAGS += $(PQ_CFLAGS) \
    -DCRM_SQL_DIR='"$(ENRICH_SQL_DIR)"'

$(B)/crm-migrate: $(B)/enrich/migrate/crm-migrate.o $(LIB_A)
	$(CC) $(LDFLAGS_ALL) -o $@ $(filter %.o,$^) $(filter %.a,$^) $(PQ_LIBS) \
	    $(shell $(PKG_CONFIG) --libs libcrypto)

BINS += $(B)/crm-migrate

# Pure helpers: unit tests and fuzzers may link them.
ENRICH_PURE_OBJS := $(B)/enrich/textutil.o
PURE_OBJS += $(ENRICH_PURE_OBJS)

ENRICH_PKGS   := libpq rdkafka jansson gumbo libetpan libcrypto libpsl \
    libidn2 libical
ENRICH_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(ENRICH_PKGS))
# libetpan.pc (under MIME_LIBS) leaks a no-PIE specs file into its Libs;
# the Makefile's -pie comes first and wins.
# (enrich/*/module.mk are read after this file: the archives by name.)
ENRICH_LIB_A  := $(B)/enrich/scrub/libscrub.a $(B)/enrich/mime/libmime.a \
    $(B)/enrich/ident/libident.a $(B)/enrich/cal/libcal.a
ENRICH_LIBS   := $(ENRICH_LIB_A) $(LIB_A) \
    $(filter-out -specs=%,$(shell $(PKG_CONFIG) --libs $(ENRICH_PKGS)))

# Parsers and the store: shared by crm-enrich, crm-admin and the tests.
ENRICH_CORE_SRCS := enrich/mail_parse.c enrich/resolve.c enrich/store.c \
    enrich/store_cal.c
ENRICH_CORE_OBJS := $(ENRICH_CORE_SRCS:%.c=$(B)/%.o)
ENRICH_SRCS := enrich/crm-enrich.c enrich/enrich_conf.c
ENRICH_OBJS := $(ENRICH_SRCS:%.c=$(B)/%.o)

$(ENRICH_CORE_OBJS) $(ENRICH_OBJS): PKG_CFLAGS += $(ENRICH_CFLAGS) \
    -DCRM_FREEMAIL_PATH='"$(PREFIX)/share/crm-proxy/freemail.txt"'

$(B)/crm-enrich: $(ENRICH_OBJS) $(ENRICH_CORE_OBJS) $(ENRICH_PURE_OBJS) \
    $(ENRICH_LIB_A) $(LIB_KAFKA_O) $(LIB_A)
	$(CC) $(LDFLAGS_ALL) -o $@ $(filter %.o,$^) $(filter %.a,$^) $(ENRICH_LIBS)

BINS += $(B)/crm-enrich

$(B)/enrich/admin/%.o: PKG_CFLAGS += $(PQ_CFLAGS)
$(B)/crm-admin: $(B)/enrich/admin/crm-admin.o $(LIB_A)
	$(CC) $(LDFLAGS_ALL) -o $@ $(filter %.o,$^) $(filter %.a,$^) $(PQ_LIBS) \
	    $(shell $(PKG_CONFIG) --libs libcrypto)

BINS += $(B)/crm-admin

# Unit tests and the fuzz target over mail_parse and resolve_party: the
# core objects, then the libraries they are built on.
ENRICH_PARSE_TESTS := $(B)/tests/unit/test_enrich_parse \
    $(B)/tests/fuzz/replay_mail_parse $(B)/tests/fuzz/fuzz_mail_parse
$(ENRICH_PARSE_TESTS): $(ENRICH_CORE_OBJS) $(ENRICH_LIB_A)
$(ENRICH_PARSE_TESTS): TEST_LIBS += $(ENRICH_LIBS)

install: install-enrich
.PHONY: install-enrich
install-enrich: $(B)/crm-enrich $(B)/crm-migrate $(B)/crm-admin
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(ENRICH_SQL_DIR) \
	    $(DESTDIR)$(PREFIX)/share/man/man8 \
	    $(DESTDIR)$(PREFIX)/share/doc/crm-proxy
	install -m 755 $(B)/crm-enrich $(B)/crm-migrate $(B)/crm-admin \
	    $(DESTDIR)$(PREFIX)/sbin/
	install -m 644 enrich/sql/*.sql $(DESTDIR)$(ENRICH_SQL_DIR)/
	install -m 644 man/crm-enrich.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 644 enrich/crm-enrich.conf.example \
	    $(DESTDIR)$(PREFIX)/share/doc/crm-proxy/

# Test producer for the enrichment benchmark (tests/bench/enrich_bench.sh)
# and the enrich_batch scenario.
$(B)/tests/tools/manifest_produce.o: PKG_CFLAGS += $(RDKAFKA_CFLAGS)
$(B)/tests/tools/manifest-produce: $(B)/tests/tools/manifest_produce.o
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(RDKAFKA_LIBS)
tests: $(B)/tests/tools/manifest-produce
test: $(B)/tests/tools/manifest-produce
bench: $(B)/tests/tools/manifest-produce $(B)/crm-enrich
