/*
 * fuzz_vec_log.c - the local vector store's log reader over arbitrary
 * bytes: it must never read out of bounds, loop without end, or apply a
 * record that does not check out.  The callbacks re-check what the
 * reader promises (string bounds, finite vectors) so a broken promise
 * shows up as a crash rather than a silent pass.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "enrich/vec/vec_log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
on_upsert(void *ctx, const struct vec_point *p)
{
	uint32_t dim = *(const uint32_t *)ctx;

	if (strlen(p->payload.account_id) > VEC_KEY_MAX ||
	    strlen(p->payload.contact_id) > VEC_KEY_MAX ||
	    strlen(p->payload.message_ref) > VEC_REF_MAX ||
	    p->payload.direction > VEC_DIR_DRAFT)
		abort();
	for (uint32_t i = 0; i < dim; i++)
		if (!isfinite(p->vector[i]))
			abort();
	return 0;
}

static int
on_delete(void *ctx, const struct vec_id *id)
{
	(void)ctx;
	if (id->kind != VEC_ID_NUM && id->kind != VEC_ID_UUID)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static float scratch[VEC_DIM_MAX];
	struct vec_log_sink sink = { on_upsert, on_delete };
	struct vec_log_stats st;
	const char *err;
	uint32_t dim = 0;

	if (vec_log_replay(data, size, 0, &dim, scratch, &sink, &dim, &st,
	    &err) != 0)
		return 0;
	if (st.valid_end > size || st.valid_end + st.torn_bytes != size)
		abort();
	return 0;
}
