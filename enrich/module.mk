# enrich/: crm-migrate (schema migrations), crm-enrich (Kafka -> PostgreSQL)
# and crm-admin (purge).  libpq everywhere; crm-enrich adds librdkafka,
# libetpan (mail headers, MIME) and libical (calendar).
PQ_CFLAGS := $(shell $(PKG_CONFIG) --cflags libpq)
PQ_LIBS   := $(shell $(PKG_CONFIG) --libs libpq)
ENRICH_SQL_DIR ?= $(PREFIX)/share/crm-proxy/sql

$(B)/enrich/migrate/%.o: PKG_CFLAGS += $(PQ_CFLAGS) \
    -DCRM_SQL_DIR='"$(ENRICH_SQL_DIR)"'

$(B)/crm-migrate: $(B)/enrich/migrate/crm-migrate.o $(LIB_A)
	$(CC) $(LDFLAGS_ALL) -o $@ $(filter %.o %.a,$^) $(PQ_LIBS) \
	    $(shell $(PKG_CONFIG) --libs libcrypto)

BINS += $(B)/crm-migrate
