/*
 * hex.h - the value of one hexadecimal digit, for the decoders that take
 * %XX escapes and hex strings (HTTP targets, query strings, vector ids).
 */
#ifndef CRM_HEX_H
#define CRM_HEX_H

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

#endif
