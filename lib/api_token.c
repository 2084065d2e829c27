/* api_token.c - see api_token.h. */
#include "lib/api_token.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/evp.h>

#include "lib/hex.h"

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int
api_token_new(char out[API_TOKEN_LEN + 1])
{
	unsigned char r[33];	/* 256 bits, and one to round to 44 chars */
	size_t o = sizeof(API_TOKEN_PREFIX) - 1;
	ssize_t n;

	do
		n = getrandom(r, 32, 0);
	while (n < 0 && errno == EINTR);
	if (n != 32)
		return -1;
	r[32] = 0;
	memcpy(out, API_TOKEN_PREFIX, o);
	for (size_t i = 0; i < 33; i += 3) {
		unsigned v = (unsigned)r[i] << 16 | (unsigned)r[i + 1] << 8 |
		    r[i + 2];

		for (int k = 18; k >= 0 && o < API_TOKEN_LEN; k -= 6)
			out[o++] = b64url[(v >> k) & 63];
	}
	out[o] = '\0';
	return 0;
}

bool
api_token_form_ok(const char *s, size_t len)
{
	size_t p = sizeof(API_TOKEN_PREFIX) - 1;

	if (len != API_TOKEN_LEN || memcmp(s, API_TOKEN_PREFIX, p) != 0)
		return false;
	for (; p < len; p++)
		if (memchr(b64url, s[p], sizeof(b64url) - 1) == NULL ||
		    s[p] == '\0')
			return false;
	return true;
}

int
api_token_hash(const char *s, size_t len, char out[67])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (EVP_Digest(s, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != 32)
		return -1;
	out[0] = '\\';
	out[1] = 'x';
	hex_encode(md, 32, out + 2);
	return 0;
}
