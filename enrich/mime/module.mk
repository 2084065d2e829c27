# enrich/mime/: libmime, a raw message into decoded header fields, bodies,
# attachments and calendar parts (mime.h).  libetpan gives field grammar
# and transfer decoding, libcrypto the attachment SHA-256.
#
# libetpan.pc leaks -specs=.../no-pie-link.specs into its Libs; the
# Makefile's -pie (LDFLAGS_ALL) comes first and wins, so binaries stay PIE.
MIME_PKGS   := libetpan libcrypto
MIME_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(MIME_PKGS))
# Message ids are tokenized by enrich/ident (ident_msgid_list), so
# everything that links libmime links libident after it.
MIME_LIBS   := $(IDENT_A) $(shell $(PKG_CONFIG) --libs $(MIME_PKGS)) \
    $(IDENT_LIBS)

MIME_SRCS := enrich/mime/mime.c enrich/mime/mime_header.c \
             enrich/mime/mime_charset.c
MIME_OBJS := $(MIME_SRCS:%.c=$(B)/%.o)
MIME_A    := $(B)/enrich/mime/libmime.a

$(MIME_OBJS): PKG_CFLAGS += $(MIME_CFLAGS)

$(MIME_A): $(MIME_OBJS)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

MIME_TESTS := $(B)/tests/unit/test_mime $(B)/tests/fuzz/fuzz_mime \
              $(B)/tests/fuzz/replay_mime
$(MIME_TESTS): $(MIME_A) $(IDENT_A)
$(MIME_TESTS): TEST_LIBS += $(MIME_A) $(LIB_A) $(MIME_LIBS)

tests unit test: $(MIME_A)
