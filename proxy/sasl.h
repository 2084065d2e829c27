/*
 * sasl.h - decoding the SASL initial responses the proxy must look inside
 * before login: it needs the user name to route, nothing else.  The
 * credential itself is passed upstream unchanged.
 *
 * Mechanisms: PLAIN (RFC 4616), XOAUTH2 (Google/Microsoft), OAUTHBEARER
 * (RFC 7628).  Pure functions over (ptr, len); no allocation; no logging.
 */
#ifndef CRM_SASL_H
#define CRM_SASL_H

#include <stddef.h>

#define SASL_USER_MAX 255
#define SASL_RESPONSE_MAX 16384	/* decoded initial response */

enum sasl_mech {
	SASL_MECH_UNKNOWN,
	SASL_MECH_PLAIN,
	SASL_MECH_XOAUTH2,
	SASL_MECH_OAUTHBEARER,
};

/* Case-insensitive mechanism name -> enum. */
enum sasl_mech sasl_mech_parse(const char *name, size_t len);
const char *sasl_mech_name(enum sasl_mech mech);

/*
 * Decodes base64 (RFC 4648, padding required, no whitespace) from in..inlen
 * into out (out_size >= inlen / 4 * 3 is enough).  "=" alone (the empty
 * response of RFC 4959) decodes to zero bytes.
 * Returns the decoded length, or -1 if the input is not valid base64 or the
 * output does not fit.
 */
long sasl_base64_decode(const char *in, size_t inlen, unsigned char *out,
    size_t out_size);
/* Encodes; returns the length written (without NUL; out is NUL-terminated),
 * or -1 if out_size < 4 * ceil(inlen / 3) + 1. */
long sasl_base64_encode(const unsigned char *in, size_t inlen, char *out,
    size_t out_size);

/*
 * Extracts the user the client authenticates as from a decoded initial
 * response (PLAIN: authzid if present, else authcid; XOAUTH2: "user=";
 * OAUTHBEARER: gs2 "a=" with "=2C"/"=3D" unescaped).  Copies it,
 * NUL-terminated, into user_r (user_size > SASL_USER_MAX).
 * Returns 0, or -1 with *errstr_r when the response is malformed or the user
 * is missing, empty, too long or contains a NUL/CR/LF.  For OAUTHBEARER
 * without "a=" returns 0 with user_r = "".
 */
int sasl_response_user(enum sasl_mech mech, const unsigned char *resp,
    size_t len, char *user_r, size_t user_size, const char **errstr_r);

#endif
