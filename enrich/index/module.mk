# enrich/index/: crm-index, the daemon that keeps the search index (chunk
# rows + vectors, enrich/search) in step with the messages table through
# index_queue (enrich/sql/0011) and LISTEN/NOTIFY.
INDEX_OBJS := $(B)/enrich/index/crm-index.o $(B)/enrich/index/index_conf.o

$(INDEX_OBJS) $(B)/tests/unit/test_index_conf.o: \
    PKG_CFLAGS += $(shell $(PKG_CONFIG) --cflags libpq jansson libcurl)

# enrich/search and enrich/vec are read after this file: their archives
# by name here; SEARCH_LIBS is expanded late (in the recipe).
INDEX_DEPS := $(B)/enrich/search/libsearch.a $(B)/enrich/vec/libvec.a \
    $(B)/enrich/embed/libembedder.a $(B)/enrich/embed/libembed.a $(LIB_A)
$(B)/crm-index: $(INDEX_OBJS) $(INDEX_DEPS)
	$(CC) $(LDFLAGS_ALL) -o $@ $(filter %.o,$^) $(filter %.a,$^) $(SEARCH_LIBS)

BINS += $(B)/crm-index

# The configuration reader against good and bad files (file:line).
$(B)/tests/unit/test_index_conf: $(B)/enrich/index/index_conf.o \
    $(INDEX_DEPS)
$(B)/tests/unit/test_index_conf: TEST_LIBS += $(SEARCH_LIBS) $(LIB_A)

install: install-index
.PHONY: install-index
install-index: $(B)/crm-index
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man8 \
	    $(DESTDIR)$(PREFIX)/share/doc/crm-proxy \
	    $(DESTDIR)$(PREFIX)/share/crm-proxy/sql
	install -m 755 $(B)/crm-index $(DESTDIR)$(PREFIX)/bin/
	install -m 644 man/crm-index.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 644 enrich/index/crm-index.conf.example \
	    $(DESTDIR)$(PREFIX)/share/doc/crm-proxy/
	install -m 644 enrich/sql/0011_index_queue.sql \
	    $(DESTDIR)$(PREFIX)/share/crm-proxy/sql/
