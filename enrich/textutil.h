/*
 * textutil.h - small pure text helpers for enrichment: UTF-8 repair (so
 * PostgreSQL never rejects a value) and the shape check of the envelope's
 * user address.  No library but libc; linked into unit tests and fuzzers
 * (PURE_OBJS).
 */
#ifndef CRM_ENRICH_TEXTUTIL_H
#define CRM_ENRICH_TEXTUTIL_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Returns a NUL-terminated copy of (p, len) that is valid UTF-8 without
 * NUL bytes or other C0 controls except TAB/LF/CR: invalid sequences and
 * NULs become U+FFFD.  At most max_out bytes of input are kept (cut on a
 * character boundary).  Caller frees.
 */
char *text_utf8_clean(const char *p, size_t len, size_t max_out);

/*
 * Lower-cases an addr-spec and checks its shape (one '@', non-empty local
 * part and domain, no blanks or controls, at most 320 bytes).  Returns a
 * new string, or NULL when it is not an address.  *domain_r points into
 * the result, after the '@'.
 */
char *text_address_canon(const char *addr, const char **domain_r);

#endif
