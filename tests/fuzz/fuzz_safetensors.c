/*
 * fuzz_safetensors.c - the safetensors header parser on arbitrary file
 * images.  Every tensor a successful parse returns is read end to end, so
 * ASan catches a byte range the validation let past the buffer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "enrich/embed/embed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint8_t sink;	/* keeps the reads */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct embed_safetensors *st;
	const char *errstr;
	uint8_t *copy, sum = 0;

	/* An exact-size copy, so reading one byte past the end is caught. */
	copy = malloc(size ? size : 1);
	if (copy == NULL)
		return 0;
	if (size > 0)
		memcpy(copy, data, size);
	if (embed_safetensors_parse(copy, size, &st, &errstr) == 0) {
		for (size_t i = 0; i < embed_safetensors_count(st); i++) {
			const struct embed_tensor *t =
			    embed_safetensors_at(st, i);
			const uint8_t *p = t->data;

			for (size_t k = 0; k < t->nbytes; k++)
				sum ^= p[k];
			if (embed_safetensors_find(st, t->name) == NULL)
				abort();
		}
		embed_safetensors_free(&st);
	}
	free(copy);
	sink = sum;
	return 0;
}
