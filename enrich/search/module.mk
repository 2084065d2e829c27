# enrich/search/: hybrid search (search.h) and its tools: crm-search (the
# query CLI), crm-search-ingest (index JSON Lines messages) and
# crm-search-eval (recall and MRR on a labelled set).
SEARCH_SRCS := enrich/search/search.c enrich/search/search_ingest.c \
               enrich/search/search_json.c \
               enrich/search/search_util.c enrich/search/search_synonyms.c
SEARCH_OBJS := $(SEARCH_SRCS:%.c=$(B)/%.o)
SEARCH_A    := $(B)/enrich/search/libsearch.a
SEARCH_PKGS := libpq libcrypto jansson libcurl
# enrich/vec/module.mk is read after this file: name its archive directly
# and expand VEC_LIBS late (=, not :=).
SEARCH_LIBS = $(shell $(PKG_CONFIG) --libs $(SEARCH_PKGS)) $(VEC_LIBS) \
              $(EMBEDDER_LIBS)

$(SEARCH_OBJS) $(B)/enrich/search/crm-search.o \
    $(B)/enrich/search/crm-search-ingest.o \
    $(B)/enrich/search/crm-search-eval.o: \
    PKG_CFLAGS += $(shell $(PKG_CONFIG) --cflags $(SEARCH_PKGS))

$(SEARCH_A): $(SEARCH_OBJS)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

SEARCH_DEPS := $(SEARCH_A) $(B)/enrich/vec/libvec.a $(EMBEDDER_A) $(EMBED_A) $(LIB_A)

$(B)/crm-search: $(B)/enrich/search/crm-search.o $(SEARCH_DEPS)
	$(CC) $(LDFLAGS_ALL) -o $@ $(filter %.o,$^) $(filter %.a,$^) $(SEARCH_LIBS)
$(B)/crm-search-ingest: $(B)/enrich/search/crm-search-ingest.o $(SEARCH_DEPS)
	$(CC) $(LDFLAGS_ALL) -o $@ $(filter %.o,$^) $(filter %.a,$^) $(SEARCH_LIBS)
$(B)/crm-search-eval: $(B)/enrich/search/crm-search-eval.o $(SEARCH_DEPS)
	$(CC) $(LDFLAGS_ALL) -o $@ $(filter %.o,$^) $(filter %.a,$^) $(SEARCH_LIBS)

BINS += $(B)/crm-search $(B)/crm-search-ingest $(B)/crm-search-eval

# search_util.c has no library dependencies: time parsing, the "any word"
# query and reciprocal rank fusion.
$(B)/tests/unit/test_search_util: $(B)/enrich/search/search_util.o \
    $(B)/enrich/search/search_synonyms.o

install: install-search
.PHONY: install-search
install-search: $(B)/crm-search $(B)/crm-search-ingest $(B)/crm-search-eval
	install -d $(DESTDIR)$(PREFIX)/bin \
	    $(DESTDIR)$(PREFIX)/share/doc/crm-proxy \
	    $(DESTDIR)$(PREFIX)/share/crm-proxy/sql
	install -m 755 $(B)/crm-search $(B)/crm-search-ingest \
	    $(B)/crm-search-eval $(DESTDIR)$(PREFIX)/bin/
	install -m 644 enrich/search/crm-search.conf.example \
	    $(DESTDIR)$(PREFIX)/share/doc/crm-proxy/
	install -m 644 enrich/sql/0010_search.sql \
	    $(DESTDIR)$(PREFIX)/share/crm-proxy/sql/

# The query builders (any word, synonyms, time phrase) under the fuzzer.
SEARCH_FUZZ := $(B)/tests/fuzz/fuzz_search_query \
    $(B)/tests/fuzz/replay_search_query
$(SEARCH_FUZZ): $(B)/enrich/search/search_util.o \
    $(B)/enrich/search/search_synonyms.o
