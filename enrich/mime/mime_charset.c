/*
 * mime_charset.c - bytes in a declared charset to clean UTF-8.
 *
 * Mail lies about its charset all the time: "us-ascii" bodies full of
 * UTF-8, "iso-8859-1" that is really Windows-1252, names iconv has never
 * heard of.  Following the WHATWG Encoding Standard, ISO-8859-1 and
 * US-ASCII are read as Windows-1252, and anything unknown is kept when it
 * is valid UTF-8, else read as Windows-1252.  The output is always valid
 * UTF-8 without NUL bytes, so callers can treat it as a C string.
 */
#include <ctype.h>
#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "enrich/mime/mime_int.h"
#include "lib/xmalloc.h"

void
mbuf_init(struct mbuf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

bool
mbuf_add(struct mbuf *b, const void *data, size_t n)
{
	if (n > b->max - b->len) {
		b->trunc = true;
		return false;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;

		while (cap < b->len + n + 1)
			cap *= 2;
		if (cap > b->max + 1)
			cap = b->max + 1;
		b->p = xreallocarray(b->p, cap, 1);
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	return true;
}

bool
mbuf_addc(struct mbuf *b, char c)
{
	return mbuf_add(b, &c, 1);
}

bool
mbuf_add_cp(struct mbuf *b, unsigned cp)
{
	unsigned char u[4];
	size_t n;

	if (cp >= 0xd800 && cp <= 0xdfff)
		cp = 0xfffd;
	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (unsigned char)(0xc0 | (cp >> 6));
		u[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (unsigned char)(0xe0 | (cp >> 12));
		u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	} else if (cp < 0x110000) {
		u[0] = (unsigned char)(0xf0 | (cp >> 18));
		u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	} else {
		return mbuf_add_cp(b, 0xfffd);
	}
	return mbuf_add(b, u, n);
}

char *
mbuf_finish(struct mbuf *b, size_t *len_r)
{
	char *p;

	if (b->p == NULL) {
		b->p = xmalloc(1);
		b->cap = 1;
	}
	b->p[b->len] = '\0';
	p = b->p;
	if (len_r != NULL)
		*len_r = b->len;
	b->p = NULL;
	b->len = b->cap = 0;
	return p;
}

void
mbuf_fini(struct mbuf *b)
{
	x_free(&b->p);
	b->len = b->cap = 0;
}

bool
mime_ieq(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);

	return alen == blen && strncasecmp(a, b, alen) == 0;
}

char *
mime_lower_dup(const char *s)
{
	char *d = xstrdup(s);

	for (char *p = d; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return d;
}

/* Windows-1252 0x80-0x9f; 0 = undefined. */
static const unsigned short cp1252_hi[32] = {
	0x20ac, 0, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
	0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017d, 0,
	0, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
	0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0, 0x017e, 0x0178,
};

static void
from_cp1252(struct mbuf *b, const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n && !b->trunc; i++) {
		unsigned c = s[i];

		if (c == 0)
			c = 0xfffd;
		else if (c >= 0x80 && c < 0xa0)
			c = cp1252_hi[c - 0x80] ? cp1252_hi[c - 0x80] : 0xfffd;
		mbuf_add_cp(b, c);
	}
}

/* Valid UTF-8 copied, invalid bytes and NUL become U+FFFD. */
static bool
from_utf8(struct mbuf *b, const unsigned char *s, size_t n)
{
	bool bad = false;
	size_t i = 0, k;

	while (i < n && !b->trunc) {
		k = utf8_seq_len(s + i, n - i);
		if (k == 0 || s[i] == 0) {
			mbuf_add_cp(b, 0xfffd);
			bad = bad || s[i] != 0;
			i++;
			continue;
		}
		mbuf_add(b, s + i, k);
		i += k;
	}
	return bad;
}

enum cs_kind { CS_UTF8, CS_CP1252, CS_SNIFF, CS_ICONV };

/* Maps a declared charset to how it is read; *name_r for iconv. */
static enum cs_kind
charset_kind(const char *cs, char *name, size_t namesz)
{
	size_t n = 0;

	if (cs == NULL)
		return CS_SNIFF;
	while (*cs == ' ' || *cs == '"' || *cs == '\'')
		cs++;
	for (; *cs && *cs != '"' && *cs != '\'' && *cs != ' ' &&
	    n + 1 < namesz; cs++)
		name[n++] = (char)tolower((unsigned char)*cs);
	name[n] = '\0';
	if (n == 0)
		return CS_SNIFF;
	if (!strcmp(name, "utf-8") || !strcmp(name, "utf8"))
		return CS_UTF8;
	if (!strcmp(name, "us-ascii") || !strcmp(name, "ascii") ||
	    !strcmp(name, "ansi_x3.4-1968"))
		return CS_SNIFF;
	if (!strcmp(name, "iso-8859-1") || !strcmp(name, "iso8859-1") ||
	    !strcmp(name, "latin1") || !strcmp(name, "windows-1252") ||
	    !strcmp(name, "cp1252") || !strcmp(name, "iso_8859-1"))
		return CS_CP1252;
	if (!strcmp(name, "ks_c_5601-1987"))
		snprintf(name, namesz, "cp949");
	else if (!strcmp(name, "gb2312") || !strcmp(name, "gbk"))
		snprintf(name, namesz, "gb18030");
	else if (!strcmp(name, "unicode-1-1-utf-7"))
		snprintf(name, namesz, "utf-7");
	return CS_ICONV;
}

/* Returns true if bytes were replaced. */
static bool
via_iconv(struct mbuf *b, iconv_t cd, const char *in, size_t len)
{
	char out[4096];
	char *ip = (char *)(uintptr_t)in;
	size_t il = len;
	bool bad = false, done = false;

	while (!done && !b->trunc) {
		char *op = out;
		size_t ol = sizeof(out);
		size_t r;

		if (il > 0)
			r = iconv(cd, &ip, &il, &op, &ol);
		else {
			r = iconv(cd, NULL, NULL, &op, &ol);
			done = true;
		}
		/* iconv's UTF-8 output is valid; from_utf8 drops NULs */
		bad |= from_utf8(b, (const unsigned char *)out,
		    (size_t)(op - out));
		if (r != (size_t)-1 || done)
			continue;
		if (errno == E2BIG)
			continue;
		/* EILSEQ or a truncated sequence at the end (EINVAL) */
		bad = true;
		mbuf_add_cp(b, 0xfffd);
		if (errno == EINVAL || il == 0) {
			il = 0;
			continue;
		}
		ip++;
		il--;
	}
	return bad;
}

char *
mime_to_utf8(const char *in, size_t len, const char *charset, size_t max,
    size_t *out_len_r, bool *bad_r, bool *trunc_r)
{
	const unsigned char *s = (const unsigned char *)in;
	struct mbuf b;
	char name[64];
	bool bad = false;
	iconv_t cd;

	mbuf_init(&b, max);
	switch (charset_kind(charset, name, sizeof(name))) {
	case CS_UTF8:
		bad = from_utf8(&b, s, len);
		break;
	case CS_CP1252:
		from_cp1252(&b, s, len);
		break;
	case CS_SNIFF:
		if (utf8_valid(in, len))
			from_utf8(&b, s, len);
		else
			from_cp1252(&b, s, len);
		break;
	case CS_ICONV:
		cd = iconv_open("UTF-8", name);
		if (cd == (iconv_t)-1) {
			bad = true;
			if (utf8_valid(in, len))
				from_utf8(&b, s, len);
			else
				from_cp1252(&b, s, len);
			break;
		}
		bad = via_iconv(&b, cd, in, len);
		iconv_close(cd);
		break;
	}
	if (bad_r != NULL && bad)
		*bad_r = true;
	if (trunc_r != NULL && b.trunc)
		*trunc_r = true;
	return mbuf_finish(&b, out_len_r);
}
