/*
 * ident_thread.c - message-id lists and the base subject used when a
 * message carries no usable In-Reply-To / References (RFC 5256 2.1 gives
 * the idea; the prefix list here is wider because real clients localize
 * "Re:" and "Fwd:").
 */
#include <string.h>
#include <strings.h>

#include "enrich/ident/ident.h"
#include "enrich/ident/ident_int.h"

/* Cap on the subject bytes looked at; subjects longer than this are
 * thread-keyed on their first SUBJECT_IN_MAX bytes. */
#define SUBJECT_IN_MAX	2048
#define MSGID_SCAN_MAX	(64 * 1024)

static bool
id_ok(const char *p, size_t n)
{
	if (n == 0 || n > IDENT_MSGID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c <= ' ' || c == 0x7f || c == '<' || c == '>')
			return false;
	}
	return true;
}

static void
push_id(struct ident_slice *ids, size_t max, size_t *n, const char *p,
    size_t len)
{
	for (size_t i = 0; i < *n; i++)
		if (ids[i].len == len && memcmp(ids[i].ptr, p, len) == 0)
			return;
	if (*n < max) {
		ids[(*n)++] = (struct ident_slice){ p, len };
		return;
	}
	/* Full: keep ids[0] (the root), slide the rest, append. */
	if (max >= 2)
		memmove(&ids[1], &ids[2], (max - 2) * sizeof(*ids));
	ids[max - 1] = (struct ident_slice){ p, len };
}

size_t
ident_msgid_list(const char *in, size_t len, struct ident_slice *ids,
    size_t max)
{
	size_t n = 0, depth = 0;
	bool any_lt = false;

	if (max == 0)
		return 0;
	if (len > MSGID_SCAN_MAX)
		len = MSGID_SCAN_MAX;
	for (size_t i = 0; i < len; i++) {
		if (depth > 0) {
			/* comment (RFC 5322 3.2.2) */
			if (in[i] == '\\')
				i++;
			else if (in[i] == '(')
				depth++;
			else if (in[i] == ')')
				depth--;
			continue;
		}
		if (in[i] == '(') {
			depth = 1;
			continue;
		}
		if (in[i] != '<')
			continue;
		any_lt = true;
		{
			const char *s = in + i + 1;
			const char *e = memchr(s, '>', len - i - 1);
			const char *lt2;

			if (e == NULL)
				break;
			/* "<a <b@c>": restart at the inner '<' */
			lt2 = memrchr(s, '<', (size_t)(e - s));
			if (lt2 != NULL)
				s = lt2 + 1;
			if (id_ok(s, (size_t)(e - s)))
				push_id(ids, max, &n, s, (size_t)(e - s));
			i = (size_t)(e - in);
		}
	}
	if (!any_lt) {
		size_t a = 0, b = len;

		while (a < b && ident_is_space((unsigned char)in[a]))
			a++;
		while (b > a && ident_is_space((unsigned char)in[b - 1]))
			b--;
		if (b > a && memchr(in + a, '@', b - a) != NULL &&
		    memchr(in + a, '(', b - a) == NULL &&
		    id_ok(in + a, b - a))
			push_id(ids, max, &n, in + a, b - a);
	}
	return n;
}

/* ---- subjects --------------------------------------------------------- */

/* Reply/forward prefixes, matched case-insensitively (ASCII) before a
 * colon.  Sources: the localized strings of Outlook, Thunderbird, Apple
 * Mail, Gmail and Lotus Notes. */
static const char *const prefixes[] = {
	/* English, and what most clients send whatever the language */
	"re", "fwd", "fw",
	/* German, Dutch, Scandinavian, Finnish, French, Spanish, Italian */
	"aw", "wg", "antw", "antwort", "doorst", "sv", "vs", "vb", "vl",
	"tr", "rv", "enc", "rif", "r", "ref", "réf", "Réf", "RÉF", "res",
	/* Polish, Czech, Turkish, Hungarian, Latvian, Croatian; strncasecmp
	 * folds ASCII only, so non-ASCII initials are listed as written */
	"odp", "pd", "ynt", "ilt", "İLT", "İlt", "válasz", "Válasz", "VÁLASZ",
	"továbbítás", "Továbbítás", "TOVÁBBÍTÁS", "atb", "odg",
	/* Greek (upper case, as clients write it), Hebrew, Russian */
	"ΑΠ", "ΣΧΕΤ", "ΠΡΘ", "השב", "הועבר", "ответ", "Ответ", "ОТВЕТ",
	"пересл", "Пересл", "ПЕРЕСЛ",
	/* Chinese (simplified, traditional), Japanese, Korean */
	"答复", "回复", "转发", "回覆", "轉寄", "轉發", "返信", "転送",
	"회신", "전달",
};

static size_t
skip_space(const char *s, size_t i, size_t n)
{
	while (i < n) {
		if (ident_is_space((unsigned char)s[i]))
			i++;
		else if (i + 2 < n && (unsigned char)s[i] == 0xe3 &&
		    (unsigned char)s[i + 1] == 0x80 &&
		    (unsigned char)s[i + 2] == 0x80)
			i += 3;		/* U+3000 ideographic space */
		else if (i + 1 < n && (unsigned char)s[i] == 0xc2 &&
		    (unsigned char)s[i + 1] == 0xa0)
			i += 2;		/* U+00A0 */
		else
			break;
	}
	return i;
}

/* Length of a colon at s[i]: ':' or U+FF1A '：', else 0. */
static size_t
colon_at(const char *s, size_t i, size_t n)
{
	if (i < n && s[i] == ':')
		return 1;
	if (i + 2 < n && (unsigned char)s[i] == 0xef &&
	    (unsigned char)s[i + 1] == 0xbc && (unsigned char)s[i + 2] == 0x9a)
		return 3;
	return 0;
}

/* Lower-cases ASCII letters only; the non-ASCII prefixes in the table
 * are caseless or spelled in the case clients use. */
static bool
prefix_eq(const char *s, size_t n, const char *p)
{
	size_t pn = strlen(p);

	return pn == n && strncasecmp(s, p, n) == 0;
}

/* If s[i..) starts with a reply/forward prefix, returns the index after
 * it (and its colon), else i. */
static size_t
strip_prefix(const char *s, size_t i, size_t n)
{
	size_t w = i, c;

	/* the word: up to a colon, a counter, or space */
	while (w < n && w - i < 32 && !colon_at(s, w, n) && s[w] != '[' &&
	    s[w] != '(' && s[w] != '^' && !ident_is_space((unsigned char)s[w]))
		w++;
	if (w == i)
		return i;
	{
		bool known = false;

		for (size_t k = 0; k < sizeof(prefixes) / sizeof(*prefixes);
		    k++)
			if (prefix_eq(s + i, w - i, prefixes[k])) {
				known = true;
				break;
			}
		if (!known)
			return i;
	}
	/* optional counter: "Re[2]:", "Re(3):", "Re^2:" */
	if (w < n && (s[w] == '[' || s[w] == '(')) {
		char close = s[w] == '[' ? ']' : ')';
		size_t k = w + 1;

		while (k < n && k - w <= 4 && s[k] >= '0' && s[k] <= '9')
			k++;
		if (k > w + 1 && k < n && s[k] == close)
			w = k + 1;
	} else if (w < n && s[w] == '^') {
		size_t k = w + 1;

		while (k < n && k - w <= 4 && s[k] >= '0' && s[k] <= '9')
			k++;
		if (k > w + 1)
			w = k;
	}
	/* Some clients write "Re :" (French typography) */
	{
		size_t k = w;

		while (k < n && s[k] == ' ' && k - w < 2)
			k++;
		if ((c = colon_at(s, k, n)) == 0)
			return i;
		return k + c;
	}
}

/* "[list-name] ", "[EXTERNAL] ": a bracketed tag of at most 64 bytes */
static size_t
strip_tag(const char *s, size_t i, size_t n)
{
	const char *e;

	if (i >= n || s[i] != '[')
		return i;
	e = memchr(s + i, ']', n - i < 66 ? n - i : 66);
	if (e == NULL || e == s + i + 1)
		return i;
	return (size_t)(e - s) + 1;
}

size_t
ident_subject_base(const char *in, size_t len, bool fold, char *out,
    size_t outsz)
{
	size_t i = 0, n = len < SUBJECT_IN_MAX ? len : SUBJECT_IN_MAX;
	size_t o = 0, end;
	bool space = false;

	if (outsz == 0)
		return 0;
	for (;;) {
		size_t j;

		i = skip_space(in, i, n);
		j = strip_tag(in, i, n);
		if (j == i)
			j = strip_prefix(in, i, n);
		if (j == i)
			break;
		i = j;
	}
	/* trailing "(fwd)" (RFC 5256 subj-trailer) and spaces */
	end = n;
	for (;;) {
		size_t e = end;

		while (e > i && ident_is_space((unsigned char)in[e - 1]))
			e--;
		if (e >= i + 5 && strncasecmp(in + e - 5, "(fwd)", 5) == 0)
			e -= 5;
		if (e == end)
			break;
		end = e;
	}
	for (; i < end;) {
		unsigned char c = (unsigned char)in[i];
		size_t l;

		if (c < 0x20 || c == 0x7f || c == ' ') {
			space = true;
			i++;
			continue;
		}
		l = utf8_seq_len((const unsigned char *)in + i, end - i);
		if (l == 0) {
			i++;	/* broken UTF-8 byte: dropped */
			continue;
		}
		if (o + (space && o > 0) + l >= outsz)
			break;
		if (space && o > 0)
			out[o++] = ' ';
		space = false;
		if (fold)
			c = ident_lower(c);
		out[o] = (char)c;
		memcpy(out + o + 1, in + i + 1, l - 1);
		o += l;
		i += l;
	}
	out[o] = '\0';
	return o;
}
