# api/: crm-api, the managers' REST API (docs/api.md).  api_req.c is its
# request-target parser: pure, so it links alone into the unit test and
# the fuzz target (with search_util.c's time parsing); api_rate.c, the
# per-token rate limit, is pure too.
API_PKGS := libevent libevent_openssl libevent_pthreads openssl libpq jansson
API_REQ_OBJS := $(B)/api/api_req.o $(B)/enrich/search/search_util.o \
    $(B)/enrich/search/search_synonyms.o

$(B)/api/crm-api.o: PKG_CFLAGS += $(shell $(PKG_CONFIG) --cflags \
    $(API_PKGS) libcurl)

# The search archives are named here directly: enrich/*/module.mk are
# read after this file.  Their link flags (SEARCH_LIBS) expand late.
$(B)/crm-api: $(B)/api/crm-api.o $(B)/api/api_req.o $(B)/api/api_rate.o \
    $(B)/enrich/search/libsearch.a $(B)/enrich/vec/libvec.a \
    $(B)/enrich/embed/libembedder.a $(B)/enrich/embed/libembed.a $(LIB_A)
	$(CC) $(LDFLAGS_ALL) -o $@ $(filter %.o,$^) $(filter %.a,$^) \
	    $(SEARCH_LIBS) $(shell $(PKG_CONFIG) --libs $(API_PKGS))

BINS += $(B)/crm-api

$(B)/tests/unit/test_api_req: $(API_REQ_OBJS)
$(B)/tests/unit/test_api_rate: $(B)/api/api_rate.o
$(B)/tests/fuzz/replay_api_rate: $(B)/api/api_rate.o
$(B)/tests/fuzz/fuzz_api_rate: $(B)/api/api_rate.o
$(B)/tests/unit/test_api_req: TEST_LIBS += $(shell $(PKG_CONFIG) --libs libcrypto)
$(B)/tests/fuzz/replay_api_req: $(API_REQ_OBJS)
$(B)/tests/fuzz/fuzz_api_req: $(API_REQ_OBJS)

install: install-api
.PHONY: install-api
install-api: $(B)/crm-api
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/share/man/man8 \
	    $(DESTDIR)$(PREFIX)/share/doc/crm-proxy
	install -m 755 $(B)/crm-api $(DESTDIR)$(PREFIX)/sbin/crm-api
	install -m 644 man/crm-api.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 644 api/crm-api.conf.example \
	    $(DESTDIR)$(PREFIX)/share/doc/crm-proxy/
