/*
 * api_req.c - see api_req.h.
 *
 * The query string is decoded here rather than by libevent so that what
 * the handlers see has passed one set of rules, the same in the fuzz
 * target as in the daemon: application/x-www-form-urlencoded ('+' is a
 * space, %XX a byte), every name known to the endpoint and given once,
 * every value within its own bound, and text that is valid UTF-8 without
 * control bytes (it reaches SQL, the tokenizer and the JSON answer).
 */
#include "api/api_req.h"

#include <string.h>

#include "enrich/search/search.h"
#include "lib/hex.h"
#include "lib/utf8.h"

#define VALUE_MAX 64	/* every value but q */

struct param {
	const char *name;
	size_t max;		/* decoded bytes */
};

static const struct param search_params[] = {
	{ "q", API_QUERY_MAX }, { "since", VALUE_MAX },
	{ "until", VALUE_MAX }, { "account", VALUE_MAX },
	{ "limit", VALUE_MAX }, { "dates", VALUE_MAX }, { NULL, 0 },
};
static const struct param accounts_params[] = {
	{ "limit", VALUE_MAX }, { NULL, 0 },
};
static const struct param no_params[] = { { NULL, 0 } };

/* Decodes s[0..n) into out (room for max + 1); -1 if malformed or long. */
static int
form_decode(const char *s, size_t n, char *out, size_t max, size_t *len_r)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int hi, lo;
		char c = s[i];

		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			if (n - i < 3 || (hi = hex_value(s[i + 1])) < 0 ||
			    (lo = hex_value(s[i + 2])) < 0)
				return -1;
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		if (o == max)
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	*len_r = o;
	return 0;
}

/* Text a person typed: valid UTF-8, no control bytes (NUL included). */
static bool
text_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return utf8_valid(s, n);
}

/* A decimal number 0..max, digits only. */
static bool
number(const char *s, int64_t max, int64_t *v_r)
{
	int64_t v = 0;

	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9' || v > (max - (*s - '0')) / 10)
			return false;
		v = v * 10 + (*s - '0');
	}
	*v_r = v;
	return true;
}

static int
set_param(struct api_req *r, const char *name, const char *v, size_t vlen,
    int64_t now, const char **errstr_r)
{
	int64_t n;

	if (strcmp(name, "limit") == 0) {
		if (!number(v, API_LIMIT_MAX, &n) || n < 1) {
			*errstr_r = "limit: a whole number from 1 to 100";
			return -1;
		}
		r->limit = (unsigned)n;
	} else if (strcmp(name, "q") == 0) {
		if (!text_ok(v, vlen)) {
			*errstr_r = "q: UTF-8 text without control characters";
			return -1;
		}
		memcpy(r->q, v, vlen + 1);
	} else if (strcmp(name, "account") == 0) {
		if (!number(v, INT64_MAX, &n)) {
			*errstr_r = "account: an account id (digits)";
			return -1;
		}
		r->account = n;
	} else if (strcmp(name, "since") == 0) {
		if (search_parse_time(v, now, false, &r->since) != 0) {
			*errstr_r = "since: 30d, 12h, 2w, 90m, 2026-10-01 or "
			    "2026-10-01T09:00:00Z";
			return -1;
		}
		r->has_since = true;
	} else if (strcmp(name, "until") == 0) {
		if (search_parse_time(v, now, true, &r->until) != 0) {
			*errstr_r = "until: 30d, 12h, 2w, 90m, 2026-10-01 or "
			    "2026-10-01T09:00:00Z";
			return -1;
		}
		r->has_until = true;
	} else if (strcmp(name, "dates") == 0) {
		if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0) {
			*errstr_r = "dates: 0 or 1";
			return -1;
		}
		r->dates = v[0] == '1';
	}
	return 0;
}

int
api_req_parse(const char *target, size_t len, int64_t now,
    struct api_req *r, const char **errstr_r)
{
	const struct param *known = no_params;
	const char *qs, *end = target + len;
	unsigned seen = 0;
	size_t plen;

	memset(r, 0, sizeof(*r));
	r->limit = API_LIMIT_DEFAULT;
	r->account = -1;
	r->dates = true;
	if (len > API_TARGET_MAX || memchr(target, '\0', len) != NULL) {
		*errstr_r = "request target too long";
		return -1;
	}
	qs = memchr(target, '?', len);
	plen = qs != NULL ? (size_t)(qs - target) : len;
	if (plen == 10 && memcmp(target, "/v1/health", 10) == 0) {
		r->route = API_ROUTE_HEALTH;
	} else if (plen == 12 && memcmp(target, "/v1/accounts", 12) == 0) {
		r->route = API_ROUTE_ACCOUNTS;
		known = accounts_params;
	} else if (plen == 10 && memcmp(target, "/v1/search", 10) == 0) {
		r->route = API_ROUTE_SEARCH;
		known = search_params;
	} else {
		r->route = API_ROUTE_NONE;
		return 0;
	}
	for (const char *p = qs != NULL ? qs + 1 : end; p < end;) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *pe = amp != NULL ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(pe - p));
		const char *ne = eq != NULL ? eq : pe;
		char name[16], value[API_QUERY_MAX + 1];
		size_t nlen, vlen;
		unsigned k;

		if (pe == p) {		/* "a=1&&b=2": an empty pair */
			p = pe + 1;
			continue;
		}
		if (form_decode(p, (size_t)(ne - p), name, sizeof(name) - 1,
		    &nlen) != 0) {
			*errstr_r = "unknown parameter";
			return -1;
		}
		for (k = 0; known[k].name != NULL; k++)
			if (strlen(known[k].name) == nlen &&
			    memcmp(known[k].name, name, nlen) == 0)
				break;
		if (known[k].name == NULL) {
			*errstr_r = "unknown parameter";
			return -1;
		}
		if ((seen & 1u << k) != 0) {
			*errstr_r = "a parameter given twice";
			return -1;
		}
		seen |= 1u << k;
		if (form_decode(eq != NULL ? eq + 1 : pe, eq != NULL ?
		    (size_t)(pe - eq - 1) : 0, value, known[k].max, &vlen) !=
		    0) {
			*errstr_r = known[k].max == API_QUERY_MAX ?
			    "q: at most 2048 bytes, %-escapes well formed" :
			    "a parameter value too long or badly escaped";
			return -1;
		}
		if (memchr(value, '\0', vlen) != NULL) {
			*errstr_r = "a parameter value holds a NUL";
			return -1;
		}
		if (set_param(r, name, value, vlen, now, errstr_r) != 0)
			return -1;
		if (amp == NULL)
			break;
		p = amp + 1;
	}
	if (r->route == API_ROUTE_SEARCH) {
		const char *s = r->q;

		while (*s == ' ')
			s++;
		if (*s == '\0') {
			*errstr_r = "q: the search text is missing";
			return -1;
		}
	}
	return 0;
}
