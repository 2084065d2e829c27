# enrich/embed/: the embedding engine (libembed) and the crm-embed CLI.
# Tokenizer and safetensors need jansson + utf8proc; the model adds OpenBLAS.
EMBED_PKGS   := jansson libutf8proc openblas
EMBED_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(EMBED_PKGS))
EMBED_LIBS   := $(shell $(PKG_CONFIG) --libs $(EMBED_PKGS)) -lm -pthread

EMBED_SRCS := enrich/embed/safetensors.c enrich/embed/wordpiece.c \
              enrich/embed/wordpiece_vocab.c enrich/embed/model.c \
              enrich/embed/chunk.c enrich/embed/embedder_parse.c
EMBED_OBJS := $(EMBED_SRCS:%.c=$(B)/%.o)
EMBED_A    := $(B)/enrich/embed/libembed.a

$(B)/enrich/embed/%.o: PKG_CFLAGS += $(EMBED_CFLAGS)

$(EMBED_A): $(EMBED_OBJS)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

# The embedder (embedder.h): local model or a remote OpenAI-compatible
# endpoint over libcurl.  Kept out of libembed.a so the parsers' tests and
# fuzzers do not need libcurl.
EMBEDDER_A    := $(B)/enrich/embed/libembedder.a
EMBEDDER_LIBS := $(shell $(PKG_CONFIG) --libs libcurl) $(EMBED_LIBS)
$(EMBEDDER_A): $(B)/enrich/embed/embedder.o
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^
$(B)/enrich/embed/embedder.o: PKG_CFLAGS += $(shell $(PKG_CONFIG) --cflags libcurl)

$(B)/crm-embed: $(B)/enrich/embed/crm-embed.o $(EMBEDDER_A) $(EMBED_A) $(LIB_A)
	$(CC) $(LDFLAGS_ALL) -o $@ $(filter %.o,$^) $(filter %.a,$^) $(EMBEDDER_LIBS)

BINS += $(B)/crm-embed

# Unit tests and fuzz targets that exercise this module.
EMBED_TESTS := $(B)/tests/unit/test_wordpiece $(B)/tests/unit/test_embed_chunk \
               $(B)/tests/fuzz/replay_wordpiece $(B)/tests/fuzz/fuzz_wordpiece \
               $(B)/tests/fuzz/replay_safetensors $(B)/tests/fuzz/fuzz_safetensors
$(EMBED_TESTS): $(EMBED_A)
# libembed.a lands after libcrm.a on the link line, so libcrm goes again.
$(EMBED_TESTS): TEST_LIBS += $(LIB_A) $(EMBED_LIBS)

# The remote response parser: unit test and fuzz target.
EMBEDDER_TESTS := $(B)/tests/unit/test_embedder_parse \
    $(B)/tests/fuzz/replay_embedder_resp $(B)/tests/fuzz/fuzz_embedder_resp
$(EMBEDDER_TESTS): $(B)/enrich/embed/embedder_parse.o
$(EMBEDDER_TESTS): TEST_LIBS += $(shell $(PKG_CONFIG) --libs jansson) -lm

# Micro-benchmark driver behind tests/bench/embed_bench.sh.
$(B)/tests/bench/embed_bench: $(B)/tests/bench/embed_bench.o $(EMBED_A) $(LIB_A)
	$(CC) $(LDFLAGS_ALL) -o $@ $(filter %.o,$^) $(filter %.a,$^) $(EMBED_LIBS)
$(B)/tests/bench/embed_bench.o: PKG_CFLAGS += $(EMBED_CFLAGS)

# The elementwise loops of the forward pass need -O3 to be vectorized.
# Reassociation (-ffast-math) stays off, so results do not depend on the
# vector width; model.c spells out its reductions in lanes instead.
$(B)/enrich/embed/model.o: OPT += -O3
