# enrich/scrub/: libscrub, HTML to text (libgumbo) and the line classifier
# that separates new content from quotes, signatures and disclaimers
# (scrub.h).  It shares the UTF-8 buffer helpers of enrich/mime/.
#
# crm-scrub-eval measures the classifier against the labelled corpus in
# tests/fixtures/scrub/ (tests/integration/scrub_eval.sh runs it).
SCRUB_PKGS   := gumbo
SCRUB_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(SCRUB_PKGS))
SCRUB_LIBS   := $(shell $(PKG_CONFIG) --libs $(SCRUB_PKGS))

SCRUB_SRCS := enrich/scrub/scrub_html.c enrich/scrub/scrub_text.c \
              enrich/scrub/lex.c enrich/scrub/scrub_sig.c
SCRUB_OBJS := $(SCRUB_SRCS:%.c=$(B)/%.o)
SCRUB_A    := $(B)/enrich/scrub/libscrub.a

$(SCRUB_OBJS): PKG_CFLAGS += $(SCRUB_CFLAGS)

$(SCRUB_A): $(SCRUB_OBJS)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

SCRUB_EVAL := $(B)/enrich/crm-scrub-eval
$(SCRUB_EVAL): $(B)/enrich/scrub/crm-scrub-eval.o $(SCRUB_A) $(MIME_A) \
    $(IDENT_A) \
    $(LIB_A)
	$(CC) $(LDFLAGS_ALL) -o $@ $(filter %.o,$^) $(filter %.a,$^) $(SCRUB_LIBS) \
	    $(MIME_LIBS)

SCRUB_TESTS := $(B)/tests/unit/test_scrub $(B)/tests/fuzz/fuzz_scrub_html \
               $(B)/tests/fuzz/replay_scrub_html
$(SCRUB_TESTS): $(SCRUB_A) $(MIME_A) $(IDENT_A)
$(SCRUB_TESTS): TEST_LIBS += $(SCRUB_A) $(MIME_A) $(LIB_A) $(SCRUB_LIBS) \
    $(MIME_LIBS)

all tests unit test: $(SCRUB_EVAL)
