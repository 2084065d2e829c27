/*
 * ident_int.h - helpers shared by the libident sources; not part of the
 * public interface.
 */
#ifndef CRM_IDENT_INT_H
#define CRM_IDENT_INT_H

#include <stdbool.h>
#include <stddef.h>

/* utf8_seq_len() and utf8_valid(): strict UTF-8 (lib/utf8.h). */
#include "lib/utf8.h"

/* Same as ident_domain_normalize(); *idn_r says whether U-labels were
 * converted. */
int ident_domain_norm_ex(const char *in, size_t len, char *out, size_t outsz,
    bool *idn_r, const char **errstr_r);

static inline bool
ident_is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static inline unsigned char
ident_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

#endif
