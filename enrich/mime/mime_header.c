/*
 * mime_header.c - header sections: splitting, RFC 2047 encoded words,
 * RFC 2231 parameters, and the envelope fields through libetpan's
 * grammar (with a forgiving fallback when a sender broke the grammar).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libetpan/libetpan.h>

#include "enrich/ident/ident.h"
#include "enrich/mime/mime_int.h"
#include "lib/civil.h"
#include "lib/xmalloc.h"

size_t
mime_header_end(const char *p, size_t len, size_t *body_off_r)
{
	size_t i = 0;

	/* A message may start with its empty line: no header at all. */
	if (len >= 2 && p[0] == '\r' && p[1] == '\n') {
		*body_off_r = 2;
		return 0;
	}
	if (len >= 1 && p[0] == '\n') {
		*body_off_r = 1;
		return 0;
	}
	while (i < len) {
		const char *nl = memchr(p + i, '\n', len - i);

		if (nl == NULL)
			break;
		i = (size_t)(nl - p) + 1;
		if (i < len && p[i] == '\n') {
			*body_off_r = i + 1;
			return i;
		}
		if (i + 1 < len && p[i] == '\r' && p[i + 1] == '\n') {
			*body_off_r = i + 2;
			return i;
		}
	}
	*body_off_r = len;
	return len;
}

size_t
mime_fields_split(const char *h, size_t hlen, struct mime_field *f,
    size_t maxf, bool *over_r)
{
	size_t i = 0, n = 0;
	bool cur = false;	/* the last line started a field we keep */

	while (i < hlen) {
		const char *line = h + i, *nl, *colon;
		size_t ll;

		nl = memchr(line, '\n', hlen - i);
		ll = nl ? (size_t)(nl - line) + 1 : hlen - i;
		i += ll;
		if (line[0] == ' ' || line[0] == '\t') {
			if (cur)	/* continuation (folded) line */
				f[n - 1].vlen =
				    (size_t)(line + ll - f[n - 1].val);
			continue;
		}
		cur = false;
		colon = memchr(line, ':', ll);
		if (colon == NULL || colon == line)
			continue;
		/* field-name: printable ASCII, no space (RFC 5322 3.6.8) */
		for (const char *c = line; c < colon; c++)
			if (*c <= ' ' || *c > '~')
				goto next;
		if (n == maxf) {
			*over_r = true;
			continue;
		}
		f[n].name = line;
		f[n].nlen = (size_t)(colon - line);
		f[n].val = colon + 1;
		f[n].vlen = (size_t)(line + ll - (colon + 1));
		n++;
		cur = true;
next:
		;
	}
	return n;
}

const struct mime_field *
mime_field_find(const struct mime_field *f, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (mime_ieq(f[i].name, f[i].nlen, name))
			return &f[i];
	return NULL;
}

char *
mime_unfold(const char *v, size_t vlen)
{
	char *d = xmalloc(vlen + 1);
	size_t n = 0;

	for (size_t i = 0; i < vlen; i++) {
		char c = v[i];

		if (c == '\r' || c == '\n')
			continue;
		if (c == '\t' || c == '\0')
			c = ' ';
		d[n++] = c;
	}
	while (n > 0 && d[n - 1] == ' ')
		n--;
	d[n] = '\0';
	size_t lead = strspn(d, " ");
	memmove(d, d + lead, n - lead + 1);
	return d;
}

/* ---- RFC 2047 ---- */

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int
b64val(int c)
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

/* Appends the decoded bytes of an encoded word's text to raw. */
static void
ew_decode(struct mbuf *raw, char enc, const char *t, size_t n)
{
	if (enc == 'q' || enc == 'Q') {
		for (size_t i = 0; i < n; i++) {
			int h, l;

			if (t[i] == '_')
				mbuf_addc(raw, ' ');
			else if (t[i] == '=' && i + 2 < n &&
			    (h = hexval((unsigned char)t[i + 1])) >= 0 &&
			    (l = hexval((unsigned char)t[i + 2])) >= 0) {
				mbuf_addc(raw, (char)(h * 16 + l));
				i += 2;
			} else
				mbuf_addc(raw, t[i]);
		}
		return;
	}
	unsigned acc = 0;
	int bits = 0;

	for (size_t i = 0; i < n; i++) {
		int v = b64val((unsigned char)t[i]);

		if (t[i] == '=')
			break;
		if (v < 0)
			continue;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			mbuf_addc(raw, (char)((acc >> bits) & 0xff));
		}
	}
}

/*
 * Recognises "=?charset?enc?text?=" at s (no white space inside, RFC 2047
 * section 5); returns its length or 0.
 */
static size_t
ew_parse(const char *s, size_t n, char *cs, size_t cssz, char *enc,
    const char **text_r, size_t *tlen_r)
{
	size_t i = 2, c0, t0;

	if (n < 8 || s[0] != '=' || s[1] != '?')
		return 0;
	c0 = i;
	while (i < n && s[i] != '?' && s[i] > ' ' && s[i] < 127)
		i++;
	if (i >= n || s[i] != '?' || i == c0 || i - c0 >= cssz)
		return 0;
	memcpy(cs, s + c0, i - c0);
	cs[i - c0] = '\0';
	char *star = strchr(cs, '*');	/* RFC 2231 language suffix */
	if (star != NULL)
		*star = '\0';
	i++;
	if (i + 1 >= n || strchr("qQbB", s[i]) == NULL || s[i + 1] != '?')
		return 0;
	*enc = s[i];
	i += 2;
	t0 = i;
	while (i + 1 < n && !(s[i] == '?' && s[i + 1] == '=')) {
		if (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' ||
		    s[i] == '\n')
			return 0;
		i++;
	}
	if (i + 1 >= n)
		return 0;
	*text_r = s + t0;
	*tlen_r = i - t0;
	return i + 2;
}

static void
flush_raw(struct mbuf *out, struct mbuf *raw, const char *cs, bool *bad)
{
	char *u;
	size_t ul;

	if (raw->len == 0)
		return;
	u = mime_to_utf8(raw->p, raw->len, cs, out->max, &ul, bad, NULL);
	mbuf_add(out, u, ul);
	free(u);
	raw->len = 0;
	raw->trunc = false;
}

char *
mime_decode_header(const char *s, size_t len, size_t max, bool *bad_r)
{
	struct mbuf out, raw, ws;
	char cs[64], pend_cs[64] = "";
	bool last_ew = false, bad = false;
	size_t i = 0;

	mbuf_init(&out, max);
	mbuf_init(&raw, len + 1);
	mbuf_init(&ws, len + 1);
	while (i < len && !out.trunc) {
		const char *text;
		size_t tlen, k;
		char enc;

		if ((k = ew_parse(s + i, len - i, cs, sizeof(cs), &enc,
		    &text, &tlen)) > 0) {
			/* white space between two encoded words vanishes */
			if (!last_ew && ws.len > 0) {
				flush_raw(&out, &raw, pend_cs, &bad);
				mbuf_add(&out, ws.p, ws.len);
			}
			ws.len = 0;
			if (strcasecmp(cs, pend_cs) != 0) {
				flush_raw(&out, &raw, pend_cs, &bad);
				snprintf(pend_cs, sizeof(pend_cs), "%s", cs);
			}
			ew_decode(&raw, enc, text, tlen);
			last_ew = true;
			i += k;
			continue;
		}
		if (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' ||
		    s[i] == '\n') {
			if (s[i] == ' ' || s[i] == '\t')
				mbuf_addc(&ws, ' ');
			i++;
			continue;
		}
		/* a run of literal text up to white space or "=?" */
		flush_raw(&out, &raw, pend_cs, &bad);
		pend_cs[0] = '\0';
		if (ws.len > 0)
			mbuf_add(&out, ws.p, ws.len);
		ws.len = 0;
		size_t j = i + 1;
		while (j < len && s[j] != ' ' && s[j] != '\t' &&
		    s[j] != '\r' && s[j] != '\n' &&
		    !(s[j] == '=' && j + 1 < len && s[j + 1] == '?'))
			j++;
		mbuf_add(&raw, s + i, j - i);
		flush_raw(&out, &raw, NULL, &bad);
		last_ew = false;
		i = j;
	}
	flush_raw(&out, &raw, pend_cs, &bad);
	mbuf_fini(&raw);
	mbuf_fini(&ws);

	/* control characters out, trim */
	size_t n;
	char *r = mbuf_finish(&out, &n), *d = r;
	for (size_t j = 0; j < n; j++)
		if ((unsigned char)r[j] < 0x20 || r[j] == 0x7f)
			r[j] = ' ';
	while (n > 0 && r[n - 1] == ' ')
		r[--n] = '\0';
	while (*d == ' ')
		d++;
	memmove(r, d, strlen(d) + 1);
	if (bad && bad_r != NULL)
		*bad_r = true;
	return r;
}

/* ---- RFC 2231 ---- */

static void
pct_decode(struct mbuf *raw, const char *v)
{
	for (; *v; v++) {
		int h, l;

		if (*v == '%' && (h = hexval((unsigned char)v[1])) >= 0 &&
		    (l = hexval((unsigned char)v[2])) >= 0) {
			mbuf_addc(raw, (char)(h * 16 + l));
			v += 2;
		} else
			mbuf_addc(raw, *v);
	}
}

static const char *
param_get(const char *const *attrs, const char *const *vals, size_t n,
    const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(attrs[i], name) == 0)
			return vals[i];
	return NULL;
}

/* "charset'lang'rest": copies charset, returns rest (or v unchanged). */
static const char *
split_ext(const char *v, char *cs, size_t cssz)
{
	const char *q1 = strchr(v, '\''), *q2;

	cs[0] = '\0';
	if (q1 == NULL || (q2 = strchr(q1 + 1, '\'')) == NULL)
		return v;
	snprintf(cs, cssz, "%.*s", (int)(q1 - v), v);
	return q2 + 1;
}

char *
mime_param_2231(const char *const *attrs, const char *const *vals,
    size_t n, const char *name, size_t max, bool *bad_r)
{
	char key[128], cs[64] = "";
	const char *v;
	struct mbuf raw;
	char *r;

	snprintf(key, sizeof(key), "%s*", name);
	if ((v = param_get(attrs, vals, n, key)) != NULL) {
		mbuf_init(&raw, max);
		pct_decode(&raw, split_ext(v, cs, sizeof(cs)));
		r = mime_to_utf8(raw.p ? raw.p : "", raw.len, cs, max, NULL,
		    bad_r, NULL);
		mbuf_fini(&raw);
		return r;
	}
	mbuf_init(&raw, max);
	for (unsigned k = 0; k < 100; k++) {
		snprintf(key, sizeof(key), "%s*%u*", name, k);
		if ((v = param_get(attrs, vals, n, key)) != NULL) {
			if (k == 0)
				v = split_ext(v, cs, sizeof(cs));
			pct_decode(&raw, v);
			continue;
		}
		snprintf(key, sizeof(key), "%s*%u", name, k);
		if ((v = param_get(attrs, vals, n, key)) == NULL)
			break;
		mbuf_add(&raw, v, strlen(v));
	}
	if (raw.len > 0) {
		r = mime_to_utf8(raw.p, raw.len, cs[0] ? cs : NULL, max, NULL,
		    bad_r, NULL);
		mbuf_fini(&raw);
		return r;
	}
	mbuf_fini(&raw);
	/* plain name=, which some clients fill with RFC 2047 words */
	if ((v = param_get(attrs, vals, n, name)) != NULL)
		return mime_decode_header(v, strlen(v), max, bad_r);
	return NULL;
}

/* ---- addresses, dates, ids ---- */

#define NAME_MAX_BYTES 1024

static void
addr_push(struct mime_addr_list *out, const char *name, size_t nlen,
    const char *addr, size_t alen, unsigned max, unsigned *flags)
{
	bool bad = false;

	if (out->n >= max) {
		*flags |= MIME_F_ADDR_TRUNC;
		return;
	}
	out->v = xreallocarray(out->v, out->n + 1, sizeof(*out->v));
	out->v[out->n].name = mime_decode_header(name, nlen, NAME_MAX_BYTES,
	    &bad);
	out->v[out->n].addr = mime_to_utf8(addr, alen, NULL, NAME_MAX_BYTES,
	    NULL, &bad, NULL);
	out->n++;
	if (bad)
		*flags |= MIME_F_CHARSET;
}

static void
push_mailbox(struct mime_addr_list *out, const struct mailimf_mailbox *mb,
    unsigned max, unsigned *flags)
{
	const char *nm = mb->mb_display_name ? mb->mb_display_name : "";
	const char *ad = mb->mb_addr_spec ? mb->mb_addr_spec : "";

	addr_push(out, nm, strlen(nm), ad, strlen(ad), max, flags);
}

/*
 * Senders break RFC 5322 (raw 8-bit names, unbalanced quotes); rather
 * than lose the field, split on commas outside quotes and brackets and
 * take "<addr>" or a bare word with '@'.
 */
static void
addrs_fallback(const char *v, size_t n, unsigned max,
    struct mime_addr_list *out, unsigned *flags)
{
	size_t i = 0;

	while (i < n) {
		size_t s = i;
		bool q = false;
		int ang = 0;

		for (; i < n; i++) {
			if (v[i] == '"')
				q = !q;
			else if (!q && v[i] == '<')
				ang++;
			else if (!q && v[i] == '>' && ang > 0)
				ang--;
			else if (!q && ang == 0 && v[i] == ',')
				break;
		}
		const char *p = v + s, *lt, *gt;
		size_t pl = i - s;
		i++;
		lt = memchr(p, '<', pl);
		gt = lt ? memchr(lt, '>', pl - (size_t)(lt - p)) : NULL;
		if (lt != NULL && gt != NULL) {
			const char *ne = lt;
			const char *ns = p;

			while (ns < ne && (*ns == ' ' || *ns == '"'))
				ns++;
			while (ne > ns && (ne[-1] == ' ' || ne[-1] == '"'))
				ne--;
			addr_push(out, ns, (size_t)(ne - ns), lt + 1,
			    (size_t)(gt - lt - 1), max, flags);
		} else if (memchr(p, '@', pl) != NULL) {
			while (pl > 0 && *p == ' ') {
				p++;
				pl--;
			}
			while (pl > 0 && p[pl - 1] == ' ')
				pl--;
			addr_push(out, "", 0, p, pl, max, flags);
		}
	}
}

void
mime_parse_addrs(const char *v, size_t vlen, unsigned max,
    struct mime_addr_list *out, unsigned *flags)
{
	struct mailimf_address_list *al = NULL;
	char *u = mime_unfold(v, vlen);
	size_t idx = 0, ul = strlen(u);
	clistiter *it;

	if (ul == 0) {
		free(u);
		return;
	}
	if (mailimf_address_list_parse(u, ul, &idx, &al) != MAILIMF_NO_ERROR ||
	    idx < ul) {
		if (al != NULL)
			mailimf_address_list_free(al);
		*flags |= MIME_F_BAD_HEADER;
		addrs_fallback(u, ul, max, out, flags);
		free(u);
		return;
	}
	for (it = clist_begin(al->ad_list); it; it = clist_next(it)) {
		struct mailimf_address *a = clist_content(it);

		if (a->ad_type == MAILIMF_ADDRESS_MAILBOX &&
		    a->ad_data.ad_mailbox != NULL)
			push_mailbox(out, a->ad_data.ad_mailbox, max, flags);
		else if (a->ad_type == MAILIMF_ADDRESS_GROUP &&
		    a->ad_data.ad_group != NULL &&
		    a->ad_data.ad_group->grp_mb_list != NULL) {
			clistiter *g;

			for (g = clist_begin(a->ad_data.ad_group->grp_mb_list->
			    mb_list); g; g = clist_next(g))
				push_mailbox(out, clist_content(g), max, flags);
		}
	}
	mailimf_address_list_free(al);
	free(u);
}

bool
mime_parse_date(const char *v, size_t vlen, int64_t *utc_r, int *tz_min_r)
{
	struct mailimf_date_time *dt = NULL;
	char *u = mime_unfold(v, vlen);
	size_t idx = 0;
	bool ok = false;

	if (mailimf_date_time_parse(u, strlen(u), &idx, &dt) ==
	    MAILIMF_NO_ERROR && dt != NULL) {
		int z = dt->dt_zone, az = z < 0 ? -z : z;
		int tz = (az / 100) * 60 + az % 100;
		int year = dt->dt_year;

		if (year < 50)		/* RFC 5322 4.3 obsolete years */
			year += 2000;
		else if (year < 1000)
			year += 1900;
		if (z < 0)
			tz = -tz;
		if (dt->dt_month >= 1 && dt->dt_month <= 12 &&
		    dt->dt_day >= 1 && dt->dt_day <= 31 &&
		    dt->dt_hour >= 0 && dt->dt_hour <= 23 &&
		    dt->dt_min >= 0 && dt->dt_min <= 59 &&
		    dt->dt_sec >= 0 && dt->dt_sec <= 60 &&
		    year >= 1900 && year <= 9999 && az % 100 < 60 &&
		    az <= 2359) {
			int64_t days = civil_days(year,
			    (unsigned)dt->dt_month, (unsigned)dt->dt_day);

			*utc_r = days * 86400 + dt->dt_hour * 3600 +
			    dt->dt_min * 60 + dt->dt_sec - (int64_t)tz * 60;
			*tz_min_r = tz;
			ok = true;
		}
	}
	if (dt != NULL)
		mailimf_date_time_free(dt);
	free(u);
	return ok;
}

static void
id_push(char ***v, size_t *n, const char *s, size_t len, unsigned max,
    unsigned *flags)
{
	if (len == 0 || len > 998)
		return;
	if (*n >= max) {
		*flags |= MIME_F_ADDR_TRUNC;
		return;
	}
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	(*v)[(*n)++] = mime_to_utf8(s, len, NULL, 998, NULL, NULL, NULL);
}

/*
 * Message ids of a Message-ID / In-Reply-To / References value: the
 * project's one tokenizer, ident_msgid_list() (comments and folding
 * skipped, malformed and duplicate ids dropped; over max, the first and
 * the newest max - 1 kept).
 */
char **
mime_parse_ids(const char *v, size_t vlen, unsigned max, size_t *n_r,
    unsigned *flags)
{
	struct ident_slice *sl;
	size_t n = 0, got;
	char **ids = NULL;

	*n_r = 0;
	if (max == 0)
		return NULL;
	sl = xcalloc((size_t)max + 1, sizeof(*sl));
	got = ident_msgid_list(v, vlen, sl, (size_t)max + 1);
	if (got > max) {
		/* the root and the newest max - 1: drop the oldest parent */
		*flags |= MIME_F_ADDR_TRUNC;
		memmove(&sl[1], &sl[2], (got - 2) * sizeof(*sl));
		got--;
	}
	for (size_t i = 0; i < got; i++)
		id_push(&ids, &n, sl[i].ptr, sl[i].len, max, flags);
	free(sl);
	*n_r = n;
	return ids;
}
