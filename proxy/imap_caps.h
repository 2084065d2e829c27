/*
 * imap_caps.h - looking at and editing capability lists in server lines.
 *
 * Works on one complete line ("* CAPABILITY ..." or a status response with
 * a "[CAPABILITY ...]" code).  Pure functions over (ptr, len); no
 * allocation.
 */
#ifndef CRM_IMAP_CAPS_H
#define CRM_IMAP_CAPS_H

#include <stdbool.h>
#include <stddef.h>

/* True if the line's capability list holds token (case-insensitive, whole
 * token, e.g. "SASL-IR", "AUTH=PLAIN"). */
bool imap_caps_has(const char *line, size_t len, const char *token);

/*
 * Removes every capability in drop[] (NULL-terminated, at most
 * IMAP_CAPS_DROP_MAX entries, case-insensitive, whole tokens) from the
 * capability list in line, in place.  Only the list
 * is edited: after "* CAPABILITY" up to CRLF, or inside "[CAPABILITY ...]".
 * Returns the new length (<= len).
 */
#define IMAP_CAPS_DROP_MAX 8
size_t imap_caps_filter(char *line, size_t len, const char *const *drop);

#endif
