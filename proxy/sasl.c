/*
 * sasl.c - the few SASL decodings the proxy needs before login: base64 and
 * the user name inside PLAIN, XOAUTH2 and OAUTHBEARER initial responses.
 *
 * The decoders are strict: a response another implementation might read
 * differently (stray padding, non-zero pad bits, a missing separator) is
 * refused rather than interpreted, because the user found here decides
 * which upstream the credential is sent to.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "proxy/sasl.h"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static const char *const mech_names[] = {
	[SASL_MECH_UNKNOWN] = "UNKNOWN",
	[SASL_MECH_PLAIN] = "PLAIN",
	[SASL_MECH_XOAUTH2] = "XOAUTH2",
	[SASL_MECH_OAUTHBEARER] = "OAUTHBEARER",
};

static bool
ascii_case_equal(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);

	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++) {
		unsigned char c = (unsigned char)a[i];

		if (c >= 'a' && c <= 'z')
			c = (unsigned char)(c - 'a' + 'A');
		if (c != (unsigned char)b[i])
			return false;
	}
	return true;
}

enum sasl_mech
sasl_mech_parse(const char *name, size_t len)
{
	for (size_t m = SASL_MECH_PLAIN; m <= SASL_MECH_OAUTHBEARER; m++) {
		if (ascii_case_equal(name, len, mech_names[m]))
			return (enum sasl_mech)m;
	}
	return SASL_MECH_UNKNOWN;
}

const char *
sasl_mech_name(enum sasl_mech mech)
{
	if ((unsigned)mech > SASL_MECH_OAUTHBEARER)
		return mech_names[SASL_MECH_UNKNOWN];
	return mech_names[mech];
}

static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

long
sasl_base64_decode(const char *in, size_t inlen, unsigned char *out,
    size_t out_size)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t pad = 0, need, o = 0;

	/* RFC 4959 section 3: "=" is the empty initial response. */
	if (inlen == 0 || (inlen == 1 && in[0] == '='))
		return 0;
	if (inlen % 4 != 0)
		return -1;
	if (s[inlen - 1] == '=')
		pad = s[inlen - 2] == '=' ? 2 : 1;
	need = inlen / 4 * 3 - pad;
	if (need > out_size || need > (size_t)INT32_MAX)
		return -1;
	for (size_t i = 0; i < inlen; i += 4) {
		bool last = i + 4 == inlen;
		int v[4];
		uint32_t q;

		for (int k = 0; k < 4; k++) {
			v[k] = b64_value(s[i + (size_t)k]);
			/* "=" only at the end, only where pad says so */
			if (v[k] < 0 && !(last && s[i + (size_t)k] == '=' &&
			    k >= 4 - (int)pad))
				return -1;
		}
		q = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12;
		if (!last || pad < 2)
			q |= (uint32_t)v[2] << 6;
		if (!last || pad < 1)
			q |= (uint32_t)v[3];
		out[o++] = (unsigned char)(q >> 16);
		if (last && pad == 2) {
			/* RFC 4648 3.5: the unused bits must be zero */
			if ((q & 0xffff) != 0)
				return -1;
			break;
		}
		out[o++] = (unsigned char)(q >> 8);
		if (last && pad == 1) {
			if ((q & 0xff) != 0)
				return -1;
			break;
		}
		out[o++] = (unsigned char)q;
	}
	return (long)o;
}

long
sasl_base64_encode(const unsigned char *in, size_t inlen, char *out,
    size_t out_size)
{
	size_t need, o = 0, i;

	if (inlen > (SIZE_MAX / 4 - 1) * 3 || inlen > (size_t)INT32_MAX)
		return -1;
	need = (inlen + 2) / 3 * 4 + 1;
	if (out_size < need)
		return -1;
	for (i = 0; i + 3 <= inlen; i += 3) {
		uint32_t q = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
		    in[i + 2];

		out[o++] = b64_alphabet[q >> 18 & 63];
		out[o++] = b64_alphabet[q >> 12 & 63];
		out[o++] = b64_alphabet[q >> 6 & 63];
		out[o++] = b64_alphabet[q & 63];
	}
	if (i < inlen) {
		uint32_t q = (uint32_t)in[i] << 16;

		if (i + 1 < inlen)
			q |= (uint32_t)in[i + 1] << 8;
		out[o++] = b64_alphabet[q >> 18 & 63];
		out[o++] = b64_alphabet[q >> 12 & 63];
		out[o++] = i + 1 < inlen ? b64_alphabet[q >> 6 & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
	return (long)o;
}

/* Copies a user name, refusing what could split a log line or a command. */
static int
user_copy(const unsigned char *u, size_t len, char *user_r,
    size_t user_size, const char **errstr_r)
{
	if (len == 0) {
		*errstr_r = "empty user name";
		return -1;
	}
	if (len > SASL_USER_MAX || len >= user_size) {
		*errstr_r = "user name too long";
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		if (u[i] == '\0' || u[i] == '\r' || u[i] == '\n') {
			*errstr_r = "user name contains NUL, CR or LF";
			return -1;
		}
	}
	memcpy(user_r, u, len);
	user_r[len] = '\0';
	return 0;
}

/* RFC 4616: [authzid] NUL authcid NUL passwd */
static int
plain_user(const unsigned char *r, size_t len, char *user_r,
    size_t user_size, const char **errstr_r)
{
	const unsigned char *nul1, *nul2;

	nul1 = memchr(r, '\0', len);
	nul2 = nul1 == NULL ? NULL :
	    memchr(nul1 + 1, '\0', len - (size_t)(nul1 + 1 - r));
	if (nul2 == NULL ||
	    memchr(nul2 + 1, '\0', len - (size_t)(nul2 + 1 - r)) != NULL) {
		*errstr_r = "PLAIN: expected authzid NUL authcid NUL passwd";
		return -1;
	}
	if (nul1 > r)
		return user_copy(r, (size_t)(nul1 - r), user_r, user_size,
		    errstr_r);
	return user_copy(nul1 + 1, (size_t)(nul2 - nul1 - 1), user_r,
	    user_size, errstr_r);
}

/*
 * Key/value pairs "key=value" ^A ... ^A ^A, as XOAUTH2 and RFC 7628 3.1
 * share them.  Finds want (may be NULL) and checks an "auth" key exists.
 */
static int
kvpairs_find(const unsigned char *s, size_t len, const char *want,
    const unsigned char **val_r, size_t *val_len_r, const char **errstr_r)
{
	size_t wlen = want != NULL ? strlen(want) : 0, i = 0;
	bool have_auth = false;

	*val_r = NULL;
	*val_len_r = 0;
	for (;;) {
		const unsigned char *f = s + i, *sep;
		size_t flen;

		sep = memchr(f, 0x01, len - i);
		if (sep == NULL) {
			*errstr_r = "key/value list not terminated";
			return -1;
		}
		flen = (size_t)(sep - f);
		i += flen + 1;
		if (flen == 0)
			break;
		if (memchr(f, '=', flen) == NULL) {
			*errstr_r = "key/value pair without '='";
			return -1;
		}
		if (flen > 5 && memcmp(f, "auth=", 5) == 0)
			have_auth = true;
		if (want != NULL && *val_r == NULL && flen > wlen &&
		    memcmp(f, want, wlen) == 0 && f[wlen] == '=') {
			*val_r = f + wlen + 1;
			*val_len_r = flen - wlen - 1;
		}
	}
	if (i != len) {
		*errstr_r = "data after key/value list";
		return -1;
	}
	if (!have_auth) {
		*errstr_r = "missing auth=";
		return -1;
	}
	return 0;
}

static int
xoauth2_user(const unsigned char *r, size_t len, char *user_r,
    size_t user_size, const char **errstr_r)
{
	const unsigned char *u;
	size_t ulen;

	if (kvpairs_find(r, len, "user", &u, &ulen, errstr_r) != 0)
		return -1;
	if (u == NULL) {
		*errstr_r = "XOAUTH2: missing user=";
		return -1;
	}
	return user_copy(u, ulen, user_r, user_size, errstr_r);
}

/* RFC 7628 3.1: gs2-header "n,a=user," then ^A kvpairs ^A */
static int
oauthbearer_user(const unsigned char *r, size_t len, char *user_r,
    size_t user_size, const char **errstr_r)
{
	unsigned char user[SASL_USER_MAX + 1];
	size_t i = 0, ulen = 0;
	const unsigned char *v;
	size_t vlen;

	/* gs2-cbind-flag: "n" / "y" / "p=" cb-name */
	if (len >= 2 && (r[0] == 'n' || r[0] == 'y') && r[1] == ',')
		i = 2;
	else if (len >= 2 && r[0] == 'p' && r[1] == '=') {
		for (i = 2; i < len && r[i] != ','; i++)
			;
		if (i >= len || i == 2) {
			*errstr_r = "OAUTHBEARER: bad channel binding flag";
			return -1;
		}
		i++;
	} else {
		*errstr_r = "OAUTHBEARER: bad gs2 header";
		return -1;
	}
	if (i + 1 < len && r[i] == 'a' && r[i + 1] == '=') {
		/* RFC 5801 saslname: "," and "=" travel as =2C and =3D */
		for (i += 2; i < len && r[i] != ','; i++) {
			unsigned char c = r[i];

			if (c == '=') {
				if (i + 2 >= len) {
					*errstr_r = "OAUTHBEARER: bad escape";
					return -1;
				}
				if (r[i + 1] == '2' && r[i + 2] == 'C')
					c = ',';
				else if (r[i + 1] == '3' && r[i + 2] == 'D')
					c = '=';
				else {
					*errstr_r = "OAUTHBEARER: bad escape";
					return -1;
				}
				i += 2;
			}
			if (ulen >= sizeof(user) - 1) {
				*errstr_r = "user name too long";
				return -1;
			}
			user[ulen++] = c;
		}
		if (ulen == 0) {
			*errstr_r = "empty user name";
			return -1;
		}
	}
	if (i >= len || r[i] != ',') {
		*errstr_r = "OAUTHBEARER: gs2 header not terminated";
		return -1;
	}
	i++;
	if (i >= len || r[i] != 0x01) {
		*errstr_r = "OAUTHBEARER: missing ^A after gs2 header";
		return -1;
	}
	i++;
	if (kvpairs_find(r + i, len - i, NULL, &v, &vlen, errstr_r) != 0)
		return -1;
	if (ulen == 0) {
		if (user_size > 0)
			user_r[0] = '\0';
		return 0;
	}
	return user_copy(user, ulen, user_r, user_size, errstr_r);
}

int
sasl_response_user(enum sasl_mech mech, const unsigned char *resp,
    size_t len, char *user_r, size_t user_size, const char **errstr_r)
{
	if (user_size <= SASL_USER_MAX) {
		*errstr_r = "user buffer too small";
		return -1;
	}
	user_r[0] = '\0';
	if (len > SASL_RESPONSE_MAX) {
		*errstr_r = "initial response too long";
		return -1;
	}
	if (len == 0) {
		*errstr_r = "empty initial response";
		return -1;
	}
	switch (mech) {
	case SASL_MECH_PLAIN:
		return plain_user(resp, len, user_r, user_size, errstr_r);
	case SASL_MECH_XOAUTH2:
		return xoauth2_user(resp, len, user_r, user_size, errstr_r);
	case SASL_MECH_OAUTHBEARER:
		return oauthbearer_user(resp, len, user_r, user_size,
		    errstr_r);
	default:
		*errstr_r = "unsupported mechanism";
		return -1;
	}
}
