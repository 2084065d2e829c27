# enrich/vec/: the vector store (vec.h) with its embedded and Qdrant
# backends, and crm-vec, the admin/benchmark tool.
#
# Everything but crm_vec.c goes into libvec.a.  Unit tests link it with
# target-specific TEST_LIBS; the fuzz target needs only the log reader
# (vec_log.o), which has no library dependencies.
VEC_SRCS := enrich/vec/vec.c enrich/vec/vec_log.c enrich/vec/vec_kernel.c \
            enrich/vec/vec_local.c enrich/vec/vec_local_search.c enrich/vec/vec_local_ivf.c \
            enrich/vec/vec_qdrant.c enrich/vec/vec_qdrant_json.c \
            enrich/vec/vec_qdrant_curl.c
VEC_OBJS := $(VEC_SRCS:%.c=$(B)/%.o)
VEC_A    := $(B)/enrich/vec/libvec.a
VEC_PKGS := libcurl jansson
VEC_LIBS := $(shell $(PKG_CONFIG) --libs $(VEC_PKGS)) -lm -lpthread

$(VEC_OBJS) $(B)/enrich/vec/crm_vec.o: \
    CFLAGS += $(shell $(PKG_CONFIG) --cflags $(VEC_PKGS))

$(VEC_A): $(VEC_OBJS)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(B)/crm-vec: $(B)/enrich/vec/crm_vec.o $(VEC_A) $(LIB_A)
	$(CC) $(LDFLAGS_ALL) -o $@ $(filter %.o,$^) $(filter %.a,$^) $(VEC_LIBS)

BINS += $(B)/crm-vec

VEC_UNIT := $(B)/tests/unit/test_vec_local $(B)/tests/unit/test_vec_qdrant
$(VEC_UNIT): $(VEC_A)
$(VEC_UNIT): TEST_LIBS += $(VEC_A) $(LIB_A) $(VEC_LIBS)

# The Qdrant schema check drives this capture program (not a unit test:
# tests/integration/vec_qdrant_schema.sh validates what it writes).
$(B)/tests/vec_qdrant_capture: $(B)/tests/integration/vec_qdrant_capture.o \
    $(VEC_A) $(LIB_A)
	$(CC) $(LDFLAGS_ALL) -o $@ $(filter %.o,$^) $(filter %.a,$^) $(VEC_LIBS)
$(B)/tests/integration/vec_qdrant_capture.o: \
    CFLAGS += $(shell $(PKG_CONFIG) --cflags $(VEC_PKGS))

VEC_FUZZ := $(B)/tests/fuzz/fuzz_vec_log $(B)/tests/fuzz/replay_vec_log
$(VEC_FUZZ): $(B)/enrich/vec/vec_log.o
$(VEC_FUZZ): TEST_LIBS += -lm -lpthread

# The Qdrant response parsers (jansson); they come with the library.
VEC_FUZZ_RESP := $(B)/tests/fuzz/fuzz_vec_qdrant_resp \
    $(B)/tests/fuzz/replay_vec_qdrant_resp
$(VEC_FUZZ_RESP): $(VEC_A)
$(VEC_FUZZ_RESP): TEST_LIBS += $(VEC_A) $(LIB_A) $(VEC_LIBS)

tests: $(B)/tests/vec_qdrant_capture
test unit: $(B)/tests/vec_qdrant_capture $(B)/crm-vec
