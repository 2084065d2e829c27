/*
 * utf8.h - strict UTF-8 checks: no overlong forms, no surrogates, nothing
 * past U+10FFFF.  For the parsers that must refuse or repair what they
 * pass on (MIME text, API query strings).
 */
#ifndef CRM_UTF8_H
#define CRM_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length of the valid UTF-8 sequence at s (1-4; n > 0 bytes there), or 0
 * if it is not one. */
size_t utf8_seq_len(const unsigned char *s, size_t n);

/* Whether all n bytes at s are valid UTF-8. */
bool utf8_valid(const char *s, size_t n);

#endif
