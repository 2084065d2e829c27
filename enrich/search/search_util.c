/*
 * search_util.c - the parts of search with no library dependencies: time
 * arguments, the "any word" full-text query, and reciprocal rank fusion.
 */
#include "enrich/search/search.h"

#include <ctype.h>
#include <strings.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/civil.h"
#include "lib/xmalloc.h"

static int
parse_uint(const char **sp, unsigned width_min, unsigned width_max,
    long *v_r)
{
	const char *s = *sp;
	long v = 0;
	unsigned n = 0;

	while (isdigit((unsigned char)*s) && n < width_max) {
		v = v * 10 + (*s++ - '0');
		n++;
	}
	if (n < width_min)
		return -1;
	*sp = s;
	*v_r = v;
	return 0;
}

int
search_parse_time(const char *s, int64_t now, bool until_end, int64_t *t_r)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };
	const char *p = s;
	long y, mo, d, h = 0, mi = 0, se = 0, n;
	int64_t t;

	if (s == NULL || *s == '\0' || strlen(s) > 32)
		return -1;
	/* relative: digits then one unit */
	if (parse_uint(&p, 1, 6, &n) == 0 && p[0] != '\0' && p[1] == '\0' &&
	    strchr("mhdw", p[0]) != NULL) {
		int64_t unit = p[0] == 'm' ? 60 : p[0] == 'h' ? 3600 :
		    p[0] == 'd' ? 86400 : 7 * 86400;

		*t_r = now - (int64_t)n * unit;
		return 0;
	}
	p = s;
	if (parse_uint(&p, 4, 4, &y) != 0 || *p++ != '-' ||
	    parse_uint(&p, 2, 2, &mo) != 0 || *p++ != '-' ||
	    parse_uint(&p, 2, 2, &d) != 0)
		return -1;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
	    (mo == 2 && d == 29 && !(y % 4 == 0 &&
	    (y % 100 != 0 || y % 400 == 0))))
		return -1;
	if (*p == '\0') {
		t = civil_days(y, mo, d) * 86400;
		*t_r = until_end ? t + 86399 : t;
		return 0;
	}
	if ((*p != 'T' && *p != ' ') || (p++, parse_uint(&p, 2, 2, &h)) != 0 ||
	    *p++ != ':' || parse_uint(&p, 2, 2, &mi) != 0)
		return -1;
	if (*p == ':' && (p++, parse_uint(&p, 2, 2, &se)) != 0)
		return -1;
	if (*p == 'Z')
		p++;
	if (*p != '\0' || h > 23 || mi > 59 || se > 60)
		return -1;
	*t_r = civil_days(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
	return 0;
}

static bool
word_at(const char *q, size_t i, size_t len, size_t n)
{
	return (i == 0 || !isalnum((unsigned char)q[i - 1])) &&
	    (i + n >= len || !isalnum((unsigned char)q[i + n]));
}

static const struct {
	const char *phrase;
	char start;	/* d, Y, w, m, q, y: a calendar start; 0: BACK */
	int64_t back;	/* seconds before now */
} fixed_phrases[] = {
	{ "today", 'd', 0 },
	{ "yesterday", 'Y', 0 },
	{ "this week", 'w', 0 },
	{ "last week", 0, 7 * 86400 },
	{ "past week", 0, 7 * 86400 },
	{ "this month", 'm', 0 },
	{ "last month", 0, 30 * 86400 },
	{ "past month", 0, 30 * 86400 },
	{ "this quarter", 'q', 0 },
	{ "last quarter", 0, 90 * 86400 },
	{ "past quarter", 0, 90 * 86400 },
	{ "this year", 'y', 0 },
	{ "last year", 0, 365 * 86400 },
	{ "past year", 0, 365 * 86400 },
};

static const struct {
	const char *word;
	int64_t seconds;
} units[] = {
	{ "days", 86400 }, { "day", 86400 },
	{ "weeks", 7 * 86400 }, { "week", 7 * 86400 },
	{ "months", 30 * 86400 }, { "month", 30 * 86400 },
};

/* Start of a fixed phrase's range. */
static int64_t
phrase_since(char start, int64_t back, int64_t now)
{
	int64_t day = now - ((now % 86400) + 86400) % 86400;
	time_t tt = (time_t)now;
	struct tm tm;

	gmtime_r(&tt, &tm);
	switch (start) {
	case 'd':
		return day;
	case 'Y':
		return day - 86400;
	case 'w':	/* weeks start on Monday */
		return day - (int64_t)((tm.tm_wday + 6) % 7) * 86400;
	case 'm':
		return day - (int64_t)(tm.tm_mday - 1) * 86400;
	case 'q':
		return civil_days(tm.tm_year + 1900,
		    tm.tm_mon / 3 * 3 + 1, 1) * 86400;
	case 'y':
		return civil_days(tm.tm_year + 1900, 1, 1) * 86400;
	default:
		return now - back;
	}
}

/* "last|past N days|weeks|months" at Q + I: its length, or 0. */
static size_t
phrase_n_units(const char *q, size_t i, size_t len, int64_t now,
    int64_t *since_r)
{
	const char *p = q + i + 5;
	long v;

	if ((strncasecmp(q + i, "last ", 5) != 0 &&
	    strncasecmp(q + i, "past ", 5) != 0) || !word_at(q, i, len, 4) ||
	    parse_uint(&p, 1, 4, &v) != 0 || *p++ != ' ' || v == 0)
		return 0;
	for (size_t k = 0; k < sizeof(units) / sizeof(units[0]); k++) {
		size_t wl = strlen(units[k].word);

		if (strncasecmp(p, units[k].word, wl) == 0 &&
		    word_at(q, (size_t)(p - q), len, wl)) {
			*since_r = now - (int64_t)v * units[k].seconds;
			return (size_t)(p - (q + i)) + wl;
		}
	}
	return 0;
}

/* QUERY without [START, END), blanks squeezed, into OUT. */
static void
cut_phrase(const char *query, size_t len, size_t start, size_t end,
    char *out)
{
	static const char *const preps[] = { "in ", "from ", "over ",
	    "during ", "since ", "within " };
	size_t o = 0;

	/* "in the past 3 days", "over the last week": the words that lead
	 * into the phrase go with it */
	if (start >= 4 && strncasecmp(query + start - 4, "the ", 4) == 0 &&
	    word_at(query, start - 4, len, 3))
		start -= 4;
	for (size_t k = 0; k < sizeof(preps) / sizeof(preps[0]); k++) {
		size_t pl = strlen(preps[k]);

		if (start >= pl && strncasecmp(query + start - pl, preps[k],
		    pl) == 0 && word_at(query, start - pl, len, pl - 1)) {
			start -= pl;
			break;
		}
	}
	for (size_t i = 0; i < len; i++) {
		if (i >= start && i < end)
			continue;
		if (query[i] == ' ' && (o == 0 || out[o - 1] == ' '))
			continue;
		out[o++] = query[i];
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
}

int
search_time_phrase(const char *query, int64_t now, char *stripped,
    int64_t *since_r, bool *has_until_r, int64_t *until_r)
{
	size_t len = strlen(query);

	for (size_t i = 0; i < len; i++) {
		size_t n = 0;
		int64_t since = 0;
		bool until = false;

		for (size_t f = 0; f < sizeof(fixed_phrases) /
		    sizeof(fixed_phrases[0]) && n == 0; f++) {
			size_t pl = strlen(fixed_phrases[f].phrase);

			if (strncasecmp(query + i, fixed_phrases[f].phrase,
			    pl) != 0 || !word_at(query, i, len, pl))
				continue;
			n = pl;
			since = phrase_since(fixed_phrases[f].start,
			    fixed_phrases[f].back, now);
			until = fixed_phrases[f].start == 'Y';
		}
		if (n == 0)
			n = phrase_n_units(query, i, len, now, &since);
		if (n == 0)
			continue;
		cut_phrase(query, len, i, i + n, stripped);
		*since_r = since;
		*has_until_r = until;
		if (until)
			*until_r = since + 86399;	/* all of yesterday */
		return 1;
	}
	memcpy(stripped, query, len + 1);
	return 0;
}

/* Bytes in the UTF-8 sequence starting at P (1 for stray bytes). */
static size_t
seq_len(const unsigned char *p)
{
	size_t n = *p < 0xc0 ? 1 : *p < 0xe0 ? 2 : *p < 0xf0 ? 3 : 4;

	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 1;
	return n;
}

static bool
word_byte(unsigned char c)
{
	return isalnum(c) || c >= 0x80;
}

char *
search_fts_any(const char *query)
{
	const unsigned char *p = (const unsigned char *)query;
	size_t o = 0;
	char *out = xmalloc(SEARCH_QUERY_MAX + 1);
	bool full = false;

	while (*p != '\0' && !full) {
		size_t start = o;

		while (*p != '\0' && !word_byte(*p))
			p++;
		if (*p == '\0')
			break;
		if (o > 0) {
			if (o + 4 > SEARCH_QUERY_MAX)
				break;
			memcpy(out + o, " or ", 4);
			o += 4;
		}
		while (*p != '\0' && word_byte(*p)) {
			size_t n = seq_len(p);

			if (o + n > SEARCH_QUERY_MAX) {
				full = true;
				break;
			}
			memcpy(out + o, p, n);
			o += n;
			p += n;
		}
		if (full && o == start + (start > 0 ? 4 : 0))
			o = start;	/* no room for any of the word */
	}
	out[o] = '\0';
	return out;
}

static int
fused_cmp(const void *x, const void *y)
{
	const struct search_fused *a = x, *b = y;

	if (a->score != b->score)
		return a->score < b->score ? 1 : -1;
	return 0;
}

size_t
search_rrf(const struct search_ranked *a, size_t na,
    const struct search_ranked *b, size_t nb, unsigned k,
    struct search_fused *out)
{
	return search_rrf_weighted(a, na, b, nb, k, 1.0, 1.0, out);
}

size_t
search_rrf_weighted(const struct search_ranked *a, size_t na,
    const struct search_ranked *b, size_t nb, unsigned k, double wa,
    double wb, struct search_fused *out)
{
	return search_rrf3(a, na, b, nb, NULL, 0, k, wa, wb, 0, out);
}

/* Index of KEY in L (N entries), or SIZE_MAX. */
static size_t
ranked_find(const struct search_ranked *l, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(l[i].key, key) == 0)
			return i;
	return SIZE_MAX;
}

static unsigned
rank_of(const struct search_ranked *l, size_t i)
{
	return i != SIZE_MAX ? l[i].rank : UINT32_MAX;
}

/*
 * Among equal scores: the better best single rank first, then the better
 * rank in A, then in B, then in C.
 */
static bool
tie_before(const struct search_fused *x, const struct search_fused *y,
    const struct search_ranked *a, const struct search_ranked *b,
    const struct search_ranked *c)
{
	unsigned xr[3] = { rank_of(a, x->a), rank_of(b, x->b),
	    rank_of(c, x->c) };
	unsigned yr[3] = { rank_of(a, y->a), rank_of(b, y->b),
	    rank_of(c, y->c) };
	unsigned xb = xr[0], yb = yr[0];

	for (size_t i = 1; i < 3; i++) {
		xb = xr[i] < xb ? xr[i] : xb;
		yb = yr[i] < yb ? yr[i] : yb;
	}
	if (xb != yb)
		return xb < yb;
	for (size_t i = 0; i < 3; i++)
		if (xr[i] != yr[i])
			return xr[i] < yr[i];
	return false;
}

/* What entry I of list L adds to a fused score. */
struct fuse_list {
	const struct search_ranked *l;
	size_t n;
	double w;
	double min, span;	/* score fusion: 0..1 = (s - min) / span */
};

static double
fuse_part(const struct fuse_list *fl, size_t i, bool by_score, unsigned k)
{
	if (i == SIZE_MAX)
		return 0;
	if (!by_score)
		return fl->w / (k + fl->l[i].rank);
	return fl->span > 0 ? fl->w * (fl->l[i].score - fl->min) / fl->span :
	    fl->w;
}

static size_t
fuse3(struct fuse_list fl[3], bool by_score, unsigned k,
    struct search_fused *out)
{
	const struct search_ranked *a = fl[0].l, *b = fl[1].l, *c = fl[2].l;
	size_t na = fl[0].n, nb = fl[1].n, nc = fl[2].n, n = 0;

	for (size_t l = 0; by_score && l < 3; l++) {
		double lo = 0, hi = 0;

		for (size_t i = 0; i < fl[l].n; i++) {
			double v = fl[l].l[i].score;

			lo = i == 0 || v < lo ? v : lo;
			hi = i == 0 || v > hi ? v : hi;
		}
		fl[l].min = lo;
		fl[l].span = hi - lo;
	}
	/* every distinct key once, in list order A, B, C */
	for (size_t l = 0; l < 3; l++) {
		for (size_t i = 0; i < fl[l].n; i++) {
			const char *key = fl[l].l[i].key;
			struct search_fused *f;

			if ((l > 0 && ranked_find(a, na, key) != SIZE_MAX) ||
			    (l > 1 && ranked_find(b, nb, key) != SIZE_MAX))
				continue;
			f = &out[n++];
			f->a = l == 0 ? i : SIZE_MAX;
			f->b = l == 1 ? i : l < 1 ? ranked_find(b, nb, key) :
			    SIZE_MAX;
			f->c = l == 2 ? i : ranked_find(c, nc, key);
			f->score = fuse_part(&fl[0], f->a, by_score, k) +
			    fuse_part(&fl[1], f->b, by_score, k) +
			    fuse_part(&fl[2], f->c, by_score, k);
		}
	}
	/*
	 * Ties: qsort is not stable, so runs of equal scores are ordered
	 * explicitly (tie_before) by insertion.
	 */
	qsort(out, n, sizeof(*out), fused_cmp);
	for (size_t i = 1; i < n; i++) {
		size_t j = i;

		while (j > 0 && out[j - 1].score == out[j].score &&
		    tie_before(&out[j], &out[j - 1], a, b, c)) {
			struct search_fused t = out[j];

			out[j] = out[j - 1];
			out[j - 1] = t;
			j--;
		}
	}
	return n;
}

size_t
search_rrf3(const struct search_ranked *a, size_t na,
    const struct search_ranked *b, size_t nb,
    const struct search_ranked *c, size_t nc, unsigned k, double wa,
    double wb, double wc, struct search_fused *out)
{
	struct fuse_list fl[3] = { { a, na, wa, 0, 0 }, { b, nb, wb, 0, 0 },
	    { c, nc, wc, 0, 0 } };

	return fuse3(fl, false, k, out);
}

size_t
search_score3(const struct search_ranked *a, size_t na,
    const struct search_ranked *b, size_t nb,
    const struct search_ranked *c, size_t nc, double wa, double wb,
    double wc, struct search_fused *out)
{
	struct fuse_list fl[3] = { { a, na, wa, 0, 0 }, { b, nb, wb, 0, 0 },
	    { c, nc, wc, 0, 0 } };

	return fuse3(fl, true, 0, out);
}

bool
search_query_dates(char *query, int64_t now, struct search_opts *o)
{
	size_t len = strlen(query);
	char *stripped;
	bool taken = false;

	if (o->has_since || o->has_until)
		return false;
	stripped = xmalloc(len + 1);
	if (search_time_phrase(query, now, stripped, &o->since,
	    &o->has_until, &o->until) == 1 && *stripped != '\0') {
		o->has_since = true;
		memcpy(query, stripped, strlen(stripped) + 1);
		taken = true;
	}
	if (!o->has_since)
		o->has_until = false;
	free(stripped);
	return taken;
}
