/*
 * fuzz_vec_qdrant_resp.c - the Qdrant backend's response parsers over
 * arbitrary bytes: whatever a server (or something pretending to be
 * one) answers, parsing must stay in bounds, cap hits at k, and leave
 * every hit's strings within the payload limits.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "enrich/vec/vec_qdrant.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	struct vec_result r;
	char err[256];
	uint64_t n;
	bool b;
	size_t k = size > 0 ? (size_t)(data[0] % 8) + 1 : 1;

	(void)vec_qdrant_parse_ok(body, size, err, sizeof(err));
	(void)vec_qdrant_parse_exists(body, size, &b, err, sizeof(err));
	(void)vec_qdrant_parse_count(body, size, &n, err, sizeof(err));
	if (vec_qdrant_parse_query(body, size, k, &r, err, sizeof(err)) == 0) {
		if (r.count > k)
			abort();
		for (size_t i = 0; i < r.count; i++) {
			const struct vec_payload *p = &r.hits[i].payload;

			if (strlen(p->account_id) > VEC_KEY_MAX ||
			    strlen(p->contact_id) > VEC_KEY_MAX ||
			    strlen(p->message_ref) > VEC_REF_MAX)
				abort();
		}
		vec_result_fini(&r);
	}
	return 0;
}
