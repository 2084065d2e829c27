/*
 * textutil.h - small pure text helpers for enrichment: UTF-8 repair (so
 * PostgreSQL never rejects a value), subject normalisation for thread
 * fallback, address canonicalisation.  No library but libc; linked into
 * unit tests and fuzzers (PURE_OBJS).
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
 * Subject for thread matching: reply/forward prefixes removed ("Re:",
 * "RE[2]:", "Fwd:", "FW:", "AW:", "WG:", "SV:", "VS:", "Antw:", "TR:",
 * "[tag]" list tags in front), blanks collapsed, ASCII lower-cased.
 * *had_prefix_r is set when a reply/forward prefix was removed.  Caller
 * frees.
 */
char *text_subject_norm(const char *subject, bool *had_prefix_r);

/*
 * Lower-cases an addr-spec and checks its shape (one '@', non-empty local
 * part and domain, no blanks or controls, at most 320 bytes).  Returns a
 * new string, or NULL when it is not an address.  *domain_r points into
 * the result, after the '@'.
 */
char *text_address_canon(const char *addr, const char **domain_r);

#endif
