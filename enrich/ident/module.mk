# enrich/ident/: identity resolution helpers (libident.a) for crm-enrich:
# canonical addresses and names, registrable domains (libpsl, loading the
# Public Suffix List file of Debian's `publicsuffix` package), free-mail and
# automated-sender verdicts, thread keys, phone numbers.
# IDN conversion uses libidn2.  Not PURE_OBJS: it needs libpsl and libidn2.
IDENT_PKGS := libpsl libidn2
IDENT_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(IDENT_PKGS))
IDENT_LIBS := $(shell $(PKG_CONFIG) --libs $(IDENT_PKGS))

IDENT_SRCS := enrich/ident/ident_addr.c enrich/ident/ident_name.c \
              enrich/ident/ident_domain.c enrich/ident/ident_auto.c \
              enrich/ident/ident_thread.c enrich/ident/ident_phone.c
IDENT_OBJS := $(IDENT_SRCS:%.c=$(B)/%.o)
IDENT_A    := $(B)/enrich/ident/libident.a

$(IDENT_OBJS): PKG_CFLAGS += $(IDENT_CFLAGS)

$(IDENT_A): $(IDENT_OBJS)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

all: $(IDENT_A)

IDENT_TESTS := $(B)/tests/unit/test_ident $(B)/tests/fuzz/replay_ident_addr \
               $(B)/tests/fuzz/fuzz_ident_addr
$(IDENT_TESTS): $(IDENT_A)
$(IDENT_TESTS): TEST_LIBS += $(IDENT_A) $(LIB_A) $(IDENT_LIBS)

# The free-mail list is data the daemon loads at start.
install: install-ident
.PHONY: install-ident
install-ident:
	install -d $(DESTDIR)$(PREFIX)/share/crm-proxy
	install -m 644 enrich/ident/freemail.txt \
	    $(DESTDIR)$(PREFIX)/share/crm-proxy/freemail.txt
