/*
 * fuzz_api_rate.c - crm-api's rate setting and token buckets
 * (api/api_rate.c) on arbitrary input.  The input up to its first NUL is
 * parsed as an [api] rate value; what follows drives a limiter with that
 * rate (or 1/s when the value was refused or 0): each 3 bytes are a key
 * (one of 8 tokens) and a time step in ms.  Invariants: no crash; a
 * refusal leaves the outputs alone and says why; a period is 1, 60 or
 * 3600 s; a refused request waits at least 1 ms and at most one
 * request's worth; time that only moves forward with no requests refills
 * a bucket to its burst; the table never holds more than its slots.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_rate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(e) do { if (!(e)) abort(); } while (0)
#define SLOTS 4

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t vlen = nul != NULL ? (size_t)(nul - data) : size;
	char value[64], err[160], key[8];
	unsigned n = 7, secs = 7, burst;
	struct api_rate *r;
	uint64_t now = 0;
	int rc;

	if (vlen >= sizeof(value))
		return 0;
	memcpy(value, data, vlen);
	value[vlen] = '\0';
	err[0] = '\0';
	rc = api_rate_parse(value, &n, &secs, err, sizeof(err));
	if (rc != 0) {
		FUZZ_CHECK(n == 7 && secs == 7 && strncmp(err, "rate ", 5) == 0);
		n = 1;
		secs = 1;
	} else {
		FUZZ_CHECK(secs == 1 || secs == 60 || secs == 3600);
		FUZZ_CHECK(n <= API_RATE_N_MAX);
		if (n == 0)
			n = 1;
	}
	burst = 1 + (unsigned)(vlen % 5);
	r = api_rate_new(n, secs, burst, SLOTS);
	FUZZ_CHECK(r != NULL);
	for (size_t i = vlen + 1; i + 3 <= size; i += 3) {
		uint64_t wait;

		snprintf(key, sizeof(key), "t%u", data[i] & 7);
		now += (uint64_t)data[i + 1] << (data[i + 2] & 15);
		wait = api_rate_take(r, key, now);
		FUZZ_CHECK(wait <= ((uint64_t)secs * 1000 + n - 1) / n);
		FUZZ_CHECK(api_rate_used(r) <= SLOTS);
	}
	/* a pause long enough for any bucket: the whole burst is back */
	now += (uint64_t)secs * 1000 * burst;
	for (unsigned i = 0; i < burst; i++)
		FUZZ_CHECK(api_rate_take(r, "t0", now) == 0);
	FUZZ_CHECK(api_rate_take(r, "t0", now) >= 1);
	api_rate_free(&r);
	return 0;
}
