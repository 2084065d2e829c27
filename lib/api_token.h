/*
 * api_token.h - the bearer tokens of crm-api (docs/api.md): made by
 * crm-admin, shown once, kept only as a SHA-256 in api_tokens.
 *
 * A token is "crm_" and 43 base64url characters: 256 random bits from
 * getrandom(2).  The form is checked before any lookup, so a header of
 * the wrong shape never reaches the database.
 */
#ifndef CRM_API_TOKEN_H
#define CRM_API_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

#define API_TOKEN_PREFIX "crm_"
#define API_TOKEN_LEN 47	/* "crm_" + 43 */

/* Writes a new token and its NUL into out.  Returns 0, or -1 when the
 * kernel has no randomness to give (errno). */
int api_token_new(char out[API_TOKEN_LEN + 1]);

/* Whether s (len bytes, not NUL-terminated) has a token's form. */
bool api_token_form_ok(const char *s, size_t len);

/* The SHA-256 of the token's len bytes as PostgreSQL's bytea input,
 * "\\x" and 64 hex digits.  Returns 0, or -1 if OpenSSL fails. */
int api_token_hash(const char *s, size_t len, char out[67]);

#endif
