/* textutil.c - see textutil.h. */
#include "enrich/textutil.h"

#include <ctype.h>
#include <string.h>

#include "lib/xmalloc.h"

/* Length of the valid UTF-8 sequence at p (1-4), or 0 (RFC 3629: no
 * overlongs, no surrogates, nothing above U+10FFFF). */
static size_t
utf8_seq(const unsigned char *p, size_t avail)
{
	unsigned char c = p[0];
	size_t n;
	unsigned lo = 0x80, hi = 0xbf;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (avail < n)
		return 0;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

char *
text_utf8_clean(const char *s, size_t len, size_t max_out)
{
	const unsigned char *p = (const unsigned char *)s;
	/* Worst case every byte becomes a 3-byte U+FFFD. */
	size_t cap = (len < max_out ? len : max_out) * 3 + 1, o = 0;
	char *out = xmalloc(cap);

	for (size_t i = 0; i < len;) {
		size_t n = utf8_seq(p + i, len - i);
		bool bad = n == 0 || (n == 1 && p[i] < 0x20 && p[i] != '\t' &&
		    p[i] != '\n' && p[i] != '\r') || p[i] == 0x7f;

		if (bad) {
			if (o + 3 > max_out)
				break;
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i += n ? n : 1;
			continue;
		}
		if (o + n > max_out)
			break;
		memcpy(out + o, p + i, n);
		o += n;
		i += n;
	}
	out[o] = '\0';
	return out;
}

char *
text_address_canon(const char *addr, const char **domain_r)
{
	size_t len = strlen(addr);
	const char *at = strrchr(addr, '@');
	char *out;

	if (len == 0 || len > 320 || at == NULL || at == addr ||
	    at[1] == '\0' || strchr(addr, '@') != at)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)addr[i];
		if (c <= 0x20 || c == 0x7f || c == '<' || c == '>')
			return NULL;
	}
	out = xstrdup(addr);
	for (size_t i = 0; i < len; i++)
		out[i] = (char)tolower((unsigned char)out[i]);
	*domain_r = out + (at - addr) + 1;
	return out;
}
