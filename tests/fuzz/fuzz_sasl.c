/*
 * fuzz_sasl.c - base64 and SASL initial-response user extraction.
 *
 * Input: byte 0 picks the mechanism; the rest is read both as a base64
 * initial response (decoded, then re-encoded: a strict decoder accepts
 * only canonical text, so the round trip must be exact) and as a decoded
 * response.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/sasl.h"

#define FUZZ_CHECK(e) do { if (!(e)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_user(enum sasl_mech mech, const unsigned char *resp, size_t len)
{
	char user[SASL_USER_MAX + 2];
	const char *err = NULL;
	size_t n;
	int r;

	memset(user, 'X', sizeof(user));
	r = sasl_response_user(mech, resp, len, user, sizeof(user), &err);
	FUZZ_CHECK(r == 0 || r == -1);
	n = strnlen(user, sizeof(user));
	FUZZ_CHECK(n <= SASL_USER_MAX);
	if (r != 0) {
		FUZZ_CHECK(err != NULL && n == 0);
		return;
	}
	FUZZ_CHECK(n > 0 || mech == SASL_MECH_OAUTHBEARER);
	FUZZ_CHECK(strpbrk(user, "\r\n") == NULL);
	FUZZ_CHECK(memmem(resp, len, user, n) != NULL ||
	    mech == SASL_MECH_OAUTHBEARER);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum sasl_mech mech;
	unsigned char *dec;
	char *enc;
	long n, e;

	if (size < 1)
		return 0;
	mech = (enum sasl_mech)(data[0] % 4);
	data++;
	size--;
	FUZZ_CHECK(sasl_mech_parse((const char *)data, size) <=
	    SASL_MECH_OAUTHBEARER);
	FUZZ_CHECK(sasl_mech_name(mech) != NULL);
	check_user(mech, data, size);

	dec = malloc(size / 4 * 3 + 1);
	FUZZ_CHECK(dec != NULL);
	n = sasl_base64_decode((const char *)data, size, dec, size / 4 * 3);
	FUZZ_CHECK(n >= -1 && n <= (long)(size / 4 * 3));
	if (n >= 0) {
		enc = malloc(size + 2);
		FUZZ_CHECK(enc != NULL);
		e = sasl_base64_encode(dec, (size_t)n, enc, size + 2);
		if (size == 1)		/* "=": the empty response */
			FUZZ_CHECK(e == 0);
		else
			FUZZ_CHECK(e == (long)size &&
			    memcmp(enc, data, size) == 0);
		free(enc);
		check_user(mech, dec, (size_t)n);
	}
	free(dec);
	return 0;
}
