/*
 * fuzz_embedder_resp.c - the remote embedder's response and error parsers
 * over arbitrary bytes: whatever an endpoint answers, parsing stays in
 * bounds, writes only inside the n * dim output, and a success means
 * every value written is finite.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "enrich/embed/embedder.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	size_t n = size > 0 ? (size_t)(data[0] % 4) + 1 : 1;
	size_t dim = size > 1 ? (size_t)(data[1] % 4) + 1 : 3;
	float *out = malloc(n * dim * sizeof(*out));
	char err[EMBEDDER_ERR_MAX];

	for (size_t i = 0; i < n * dim; i++)
		out[i] = NAN;
	if (embedder_parse_response(body, size, n, dim, out, err,
	    sizeof(err)) == 0)
		for (size_t i = 0; i < n * dim; i++)
			if (!isfinite(out[i]))
				abort();
	if (embedder_parse_error(body, size, err, sizeof(err)) == 0 &&
	    strlen(err) >= sizeof(err))
		abort();
	free(out);
	return 0;
}
