/*
 * ident_phone.c - phone numbers from signatures into E.164 form.
 *
 * This is a cleanup, not libphonenumber: it knows the international
 * prefixes ("+", "00", North America's "011"), the trunk "0" of most
 * national plans and the "(0)" that Europeans write after their country
 * code, and it checks E.164's length (at most 15 digits).  It does not
 * know per-country number plans, so a number that looks plausible but
 * does not exist passes.
 */
#include <string.h>
#include <strings.h>

#include "enrich/ident/ident.h"
#include "enrich/ident/ident_int.h"

#define PHONE_IN_MAX 64

int
ident_phone_e164(const char *in, size_t len, const char *default_cc,
    char *out, size_t outsz, const char **errstr_r)
{
	char d[PHONE_IN_MAX + 1];
	size_t n = 0, i = 0, cc_len = 0;
	bool plus = false;

	if (outsz > 0)
		out[0] = '\0';
	if (outsz < IDENT_PHONE_MAX + 1) {
		*errstr_r = "output buffer too small";
		return -1;
	}
	while (i < len && ident_is_space((unsigned char)in[i]))
		i++;
	if (len - i >= 4 && strncasecmp(in + i, "tel:", 4) == 0)
		i += 4;
	if (len - i > PHONE_IN_MAX) {
		*errstr_r = "phone number too long";
		return -1;
	}
	for (; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c >= '0' && c <= '9') {
			d[n++] = (char)c;
			continue;
		}
		if (c == '+' && n == 0 && !plus) {
			plus = true;
			continue;
		}
		/* "(0)" after a country code: the trunk prefix, never dialled
		 * from abroad */
		if (c == '(' && i + 2 < len && in[i + 1] == '0' &&
		    in[i + 2] == ')' && (plus || n > 0)) {
			i += 2;
			continue;
		}
		if (c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' ||
		    c == '/' || c == '\t')
			continue;
		/* extension: "x12", "ext. 12", "#12", ";ext=12" (RFC 3966) */
		if (c == 'x' || c == 'X' || c == 'e' || c == 'E' || c == '#' ||
		    c == ';' || c == ',')
			break;
		*errstr_r = "unexpected character in phone number";
		return -1;
	}
	d[n] = '\0';
	if (n == 0) {
		*errstr_r = "no digits";
		return -1;
	}
	if (!plus) {
		if (n > 2 && d[0] == '0' && d[1] == '0') {
			memmove(d, d + 2, n - 1);
			n -= 2;
		} else if (default_cc != NULL && strcmp(default_cc, "1") == 0 &&
		    n > 3 && memcmp(d, "011", 3) == 0) {
			memmove(d, d + 3, n - 2);
			n -= 3;
		} else {
			char tmp[PHONE_IN_MAX + 8];

			if (default_cc == NULL || (cc_len = strlen(default_cc))
			    == 0 || cc_len > 3 ||
			    strspn(default_cc, "0123456789") != cc_len) {
				*errstr_r = "national number without a country";
				return -1;
			}
			/* trunk prefix: "020 7946 0018" in the UK */
			if (d[0] == '0' && strcmp(default_cc, "39") != 0) {
				memmove(d, d + 1, n);
				n--;
			}
			/* a North American number written with its "1" */
			if (strcmp(default_cc, "1") == 0 && n == 11 &&
			    d[0] == '1') {
				memmove(d, d + 1, n);
				n--;
			}
			memcpy(tmp, default_cc, cc_len);
			memcpy(tmp + cc_len, d, n + 1);
			n += cc_len;
			if (n > PHONE_IN_MAX) {
				*errstr_r = "phone number too long";
				return -1;
			}
			memcpy(d, tmp, n + 1);
		}
	}
	if (d[0] == '0') {
		*errstr_r = "country code cannot start with 0";
		return -1;
	}
	/* North American Numbering Plan: "1" + exactly 10 digits */
	if (d[0] == '1' && n != 11) {
		*errstr_r = "+1 numbers have 10 digits after the 1";
		return -1;
	}
	if (n < 8 || n > 15) {
		*errstr_r = "not 8 to 15 digits";
		return -1;
	}
	out[0] = '+';
	memcpy(out + 1, d, n + 1);
	return 0;
}
