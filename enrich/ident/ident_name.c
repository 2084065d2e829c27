/*
 * ident_name.c - display names and RFC 5322 address lists.
 *
 * Header values come from every mail client and mailing-list manager in
 * the world, so the list parser is lenient about what it accepts (bare
 * "Name a@b", unbalanced quotes) but strict about what it returns: only
 * mailboxes whose address passes ident_addr_parse(), names that are valid
 * UTF-8 without control characters.  Work is bounded by IDENT_HEADER_MAX
 * input bytes and a comment nesting depth.
 */
#include <string.h>
#include <strings.h>

#include "enrich/ident/ident.h"
#include "enrich/ident/ident_int.h"

/* Input looked at for one name: enough for any real name plus noise. */
#define NAME_IN_MAX	(4 * IDENT_NAME_MAX)
#define COMMENT_DEPTH	8

/* After-comma parts that are suffixes, not first names: "Smith, Jr." */
static const char *const name_suffixes[] = {
	"jr", "jr.", "sr", "sr.", "ii", "iii", "iv", "phd", "ph.d.", "md",
	"m.d.", "mba", "esq", "esq.", "cpa", "dds", "rn", "pe", "msc", "bsc",
	"ma", "ba", "dr", "dr.", "prof", "prof.",
};

static bool
is_suffix(const char *s, size_t n)
{
	for (size_t i = 0; i < sizeof(name_suffixes) / sizeof(*name_suffixes);
	    i++)
		if (strlen(name_suffixes[i]) == n &&
		    strncasecmp(name_suffixes[i], s, n) == 0)
			return true;
	return false;
}

static size_t
trim(char *s, size_t n)
{
	size_t a = 0;

	while (a < n && s[a] == ' ')
		a++;
	while (n > a && s[n - 1] == ' ')
		n--;
	memmove(s, s + a, n - a);
	s[n - a] = '\0';
	return n - a;
}

static size_t
count_words(const char *s, size_t n)
{
	size_t w = 0;

	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && (i == 0 || s[i - 1] == ' '))
			w++;
	return w;
}

static bool
has_digit(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] >= '0' && s[i] <= '9')
			return true;
	return false;
}

/* Removes a trailing "(...)" or "[...]" group; returns the new length. */
static size_t
strip_trailing_group(char *s, size_t n)
{
	char open, close;
	size_t depth = 0;

	if (n < 2)
		return n;
	close = s[n - 1];
	if (close != ')' && close != ']')
		return n;
	open = close == ')' ? '(' : '[';
	for (size_t i = n; i-- > 0;) {
		if (s[i] == close)
			depth++;
		else if (s[i] == open && --depth == 0) {
			if (i == 0)
				return n;	/* the whole name: keep it */
			s[i] = '\0';
			return trim(s, i);
		}
	}
	return n;
}

static size_t
strip_leading_tag(char *s, size_t n)
{
	char *end;

	if (n < 3 || s[0] != '[')
		return n;
	end = memchr(s, ']', n);
	if (end == NULL || (size_t)(end - s) > 24 || end + 1 == s + n)
		return n;
	memmove(s, end + 1, n - (size_t)(end + 1 - s));
	return trim(s, n - (size_t)(end + 1 - s));
}

static bool
looks_like_address(const char *s, size_t n)
{
	const char *at = memchr(s, '@', n);

	return at != NULL && at != s && at != s + n - 1 &&
	    memchr(s, ' ', n) == NULL;
}

size_t
ident_name_clean(const char *in, size_t len, const char *addr, char *out,
    size_t outsz)
{
	char w[NAME_IN_MAX + 1];
	size_t n = 0, limit;
	const char *comma;
	bool space = false;

	if (outsz == 0)
		return 0;
	out[0] = '\0';
	if (len > NAME_IN_MAX)
		len = NAME_IN_MAX;
	/* Unquote, unescape, drop controls and broken UTF-8, collapse space. */
	for (size_t i = 0; i < len;) {
		unsigned char c = (unsigned char)in[i];
		size_t l;

		if (c == '"') {
			i++;
			continue;
		}
		if (c == '\\' && i + 1 < len) {
			i++;
			c = (unsigned char)in[i];
		}
		if (c < 0x20 || c == 0x7f || c == ' ') {
			space = true;
			i++;
			continue;
		}
		l = utf8_seq_len((const unsigned char *)in + i, len - i);
		if (l == 0) {
			i++;
			continue;
		}
		/* U+00A0 no-break space counts as space */
		if (l == 2 && c == 0xc2 && (unsigned char)in[i + 1] == 0xa0) {
			space = true;
			i += 2;
			continue;
		}
		if (space && n > 0)
			w[n++] = ' ';
		space = false;
		memcpy(w + n, in + i, l);
		n += l;
		i += l;
	}
	w[n] = '\0';
	if (n >= 2 && w[0] == '\'' && w[n - 1] == '\'') {
		memmove(w, w + 1, n - 2);
		n = trim(w, n - 2);
	}

	for (int pass = 0; pass < 4; pass++) {
		size_t before = n;
		const char *lt;

		n = strip_leading_tag(w, n);
		/* "Jane Doe <jane@example.com>" typed into the name */
		if (n > 0 && w[n - 1] == '>' &&
		    (lt = memrchr(w, '<', n)) != NULL && lt != w) {
			n = trim(w, (size_t)(lt - w));
		}
		n = strip_trailing_group(w, n);
		/* "Jane Doe via LinkedIn", "Bob (via Google Docs)" */
		for (size_t i = n; i-- > 1;) {
			if (i + 5 <= n && strncasecmp(w + i, " via ", 5) == 0) {
				n = trim(w, i);
				break;
			}
		}
		if (n == before)
			break;
	}

	if (looks_like_address(w, n) ||
	    (addr != NULL && strlen(addr) == n && strncasecmp(addr, w, n) == 0))
		return 0;

	/* "Last, First" -> "First Last" */
	comma = memchr(w, ',', n);
	if (comma != NULL && memchr(comma + 1, ',', n - (size_t)(comma - w) - 1)
	    == NULL && !has_digit(w, n)) {
		char a[NAME_IN_MAX + 1], b[NAME_IN_MAX + 1];
		size_t la = (size_t)(comma - w), lb = n - la - 1;

		memcpy(a, w, la);
		la = trim(a, la);
		memcpy(b, comma + 1, lb);
		lb = trim(b, lb);
		if (la > 0 && lb > 0 && !is_suffix(b, lb) &&
		    count_words(a, la) <= 3 && count_words(b, lb) <= 3) {
			memcpy(w, b, lb);
			w[lb] = ' ';
			memcpy(w + lb + 1, a, la);
			n = la + lb + 1;
			w[n] = '\0';
		}
	}

	limit = outsz - 1 < IDENT_NAME_MAX ? outsz - 1 : IDENT_NAME_MAX;
	if (n > limit) {
		n = limit;
		/* back up to a UTF-8 sequence start */
		while (n > 0 && ((unsigned char)w[n] & 0xc0) == 0x80)
			n--;
		n = trim(w, n);
	}
	memcpy(out, w, n);
	out[n] = '\0';
	return n;
}

/* ---- titles ------------------------------------------------------------- */

/* Length of a separator at the start (or, with back, the end) of s[0..n). */
static size_t
title_sep(const char *s, size_t n, bool back)
{
	static const char *const seps[] = {
		" ", "|", "-", ",", "/", ";", ":", "*", "~",
		"\xe2\x80\x93", "\xe2\x80\x94", "\xe2\x80\xa2", "\xc2\xb7",
	};

	for (size_t i = 0; i < sizeof(seps) / sizeof(*seps); i++) {
		size_t l = strlen(seps[i]);

		if (l <= n && memcmp(back ? s + n - l : s, seps[i], l) == 0)
			return l;
	}
	return 0;
}

size_t
ident_title_clean(const char *in, size_t len, char *out, size_t outsz)
{
	char w[NAME_IN_MAX + 1];
	size_t n = 0, a = 0, l, digits = 0, limit;
	bool space = false;

	if (outsz == 0)
		return 0;
	out[0] = '\0';
	if (len > NAME_IN_MAX)
		len = NAME_IN_MAX;
	for (size_t i = 0; i < len;) {
		unsigned char c = (unsigned char)in[i];

		if (c < 0x20 || c == 0x7f || c == ' ') {
			space = true;
			i++;
			continue;
		}
		if ((l = utf8_seq_len((const unsigned char *)in + i,
		    len - i)) == 0) {
			i++;
			continue;
		}
		if (space && n > 0)
			w[n++] = ' ';
		space = false;
		if (c >= '0' && c <= '9')
			digits++;
		memcpy(w + n, in + i, l);
		n += l;
		i += l;
	}
	w[n] = '\0';
	if (digits >= 7 || memchr(w, '@', n) != NULL ||
	    strcasestr(w, "http") != NULL || strcasestr(w, "www.") != NULL)
		return 0;
	while (a < n && (l = title_sep(w + a, n - a, false)) > 0)
		a += l;
	while (n > a && (l = title_sep(w + a, n - a, true)) > 0)
		n -= l;
	n -= a;
	if (a > 0)
		memmove(w, w + a, n);
	limit = outsz - 1 < IDENT_TITLE_MAX ? outsz - 1 : IDENT_TITLE_MAX;
	if (n > limit) {
		n = limit;
		while (n > 0 && ((unsigned char)w[n] & 0xc0) == 0x80)
			n--;
		while (n > 0 && w[n - 1] == ' ')
			n--;
	}
	memcpy(out, w, n);
	out[n] = '\0';
	return n;
}

/* ---- address lists ---------------------------------------------------- */

struct seg {
	const char *p;
	size_t n;
};

/*
 * One mailbox: [s, e) of the header, top-level commas already split off.
 * Finds the angle-addr (outside quotes and comments) or else a bare
 * addr-spec, and the display name or comment.
 */
static int
mailbox_one(const char *s, size_t n, struct ident_mailbox *mb)
{
	const char *err;
	size_t lt = n, gt = n, depth = 0;
	size_t cstart = 0, cend = 0;	/* last top-level comment */
	bool q = false;

	memset(mb, 0, sizeof(*mb));
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (q) {
			if (c == '\\')
				i++;
			else if (c == '"')
				q = false;
			continue;
		}
		if (depth > 0) {
			if (c == '\\')
				i++;
			else if (c == '(' && depth < COMMENT_DEPTH)
				depth++;
			else if (c == ')' && --depth == 0)
				cend = i;
			continue;
		}
		if (lt < n) {
			if (c == '>') {
				gt = i;
				break;
			}
			continue;
		}
		if (c == '"')
			q = true;
		else if (c == '(') {
			depth = 1;
			cstart = i + 1;
		} else if (c == '<')
			lt = i;
	}

	if (lt < n) {
		const char *a = s + lt + 1;
		size_t an = (gt < n ? gt : n) - lt - 1;
		const char *colon;

		/* obsolete route "<@relay:user@host>" (RFC 5322 4.4) */
		if (an > 0 && a[0] == '@' &&
		    (colon = memchr(a, ':', an)) != NULL) {
			an -= (size_t)(colon + 1 - a);
			a = colon + 1;
		}
		if (ident_addr_parse(a, an, 0, &mb->addr, &err) != 0)
			return -1;
		ident_name_clean(s, lt, mb->addr.addr, mb->name,
		    sizeof(mb->name));
		return 0;
	}

	/* No angle brackets: "a@b", "a@b (Name)" or a bare "Name a@b". */
	{
		char buf[IDENT_ADDR_MAX + 2 * IDENT_LOCAL_MAX + 1];
		size_t bn = 0, tok = 0, tokn = 0, rest_end = 0;
		bool in_c = false;

		depth = 0;
		for (size_t i = 0; i < n; i++) {
			char c = s[i];

			if (in_c) {
				if (c == '(' && depth < COMMENT_DEPTH)
					depth++;
				else if (c == ')' && --depth == 0)
					in_c = false;
				continue;
			}
			if (c == '(') {
				in_c = true;
				depth = 1;
				continue;
			}
			if (ident_is_space((unsigned char)c)) {
				/* keep the last token that has an '@' */
				if (bn > 0 && memchr(buf, '@', bn) == NULL)
					bn = 0;
				continue;
			}
			if (bn == 0)
				tok = i;
			if (bn + 1 >= sizeof(buf))
				return -1;
			buf[bn++] = c;
			tokn = i + 1 - tok;
			if (memchr(buf, '@', bn) != NULL)
				rest_end = tok;
		}
		(void)tokn;
		if (bn == 0 || memchr(buf, '@', bn) == NULL)
			return -1;
		if (ident_addr_parse(buf, bn, 0, &mb->addr, &err) != 0)
			return -1;
		if (cend > cstart)
			ident_name_clean(s + cstart, cend - cstart,
			    mb->addr.addr, mb->name, sizeof(mb->name));
		else if (rest_end > 0)
			ident_name_clean(s, rest_end, mb->addr.addr, mb->name,
			    sizeof(mb->name));
		return 0;
	}
}

int
ident_mailbox_list_parse(const char *in, size_t len,
    struct ident_mailbox *out, size_t max, size_t *skipped_r,
    const char **errstr_r)
{
	size_t stored = 0, skipped = 0, start = 0, depth = 0;
	bool q = false, angle = false, lit = false;

	if (len > IDENT_HEADER_MAX) {
		*errstr_r = "header value too long";
		if (skipped_r != NULL)
			*skipped_r = 0;
		return -1;
	}
	for (size_t i = 0; i <= len; i++) {
		char c = i < len ? in[i] : ',';
		bool split = false;

		if (i < len && c == '\0')
			c = ' ';
		if (q) {
			if (c == '\\')
				i++;
			else if (c == '"')
				q = false;
			if (i < len)
				continue;
			split = true;	/* unterminated quote: end of input */
		} else if (depth > 0) {
			if (c == '\\')
				i++;
			else if (c == '(' && depth < COMMENT_DEPTH)
				depth++;
			else if (c == ')')
				depth--;
			if (i < len)
				continue;
			split = true;
		} else if (lit) {
			/* "[IPv6:...]" domain literal: its colons are not a
			 * group name */
			if (c == ']')
				lit = false;
			if (i < len)
				continue;
			split = true;
		} else if (c == '"')
			q = true;
		else if (c == '[')
			lit = true;
		else if (c == '(')
			depth = 1;
		else if (c == '<')
			angle = true;
		else if (c == '>')
			angle = false;
		else if (c == ':' && !angle) {
			/* group "name:" - its display name is not a person */
			start = i + 1;
		} else if ((c == ',' && !angle) || c == ';')
			split = true;
		if (i >= len)
			split = true;
		if (!split)
			continue;

		{
			size_t e = i < len ? i : len;
			bool blank = true;

			for (size_t k = start; k < e; k++)
				if (!ident_is_space((unsigned char)in[k]))
					blank = false;
			if (!blank) {
				if (stored >= max)
					skipped++;
				else if (mailbox_one(in + start, e - start,
				    &out[stored]) == 0)
					stored++;
				else
					skipped++;
			}
		}
		start = i + 1;
		q = false;
		depth = 0;
		angle = false;
		lit = false;
	}
	if (skipped_r != NULL)
		*skipped_r = skipped;
	return (int)stored;
}
