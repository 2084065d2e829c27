/*
 * hex.h - the value of one hexadecimal digit, for the decoders that take
 * %XX escapes and hex strings (HTTP targets, query strings, vector ids),
 * and lower-case hex of a byte string (digests).
 */
#ifndef CRM_HEX_H
#define CRM_HEX_H

#include <stddef.h>

/* 0-15 for [0-9a-fA-F], else -1. */
static inline int
hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Writes 2 * n lower-case hex digits of d and a NUL to out (2 * n + 1
 * bytes). */
static inline void
hex_encode(const unsigned char *d, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[d[i] >> 4];
		out[2 * i + 1] = digits[d[i] & 15];
	}
	out[2 * n] = '\0';
}

#endif
