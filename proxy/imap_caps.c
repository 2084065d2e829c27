/* imap_caps.c - see imap_caps.h. */
#include "proxy/imap_caps.h"

#include <string.h>
#include <strings.h>

/* Whether [p, p + n) holds a line end (CR or a bare LF). */
static bool
imap_caps_eol(const char *p, size_t n)
{
	return memchr(p, '\r', n) != NULL || memchr(p, '\n', n) != NULL;
}

/* Finds the capability list: [*start, *end) holds space-separated tokens. */
static bool
imap_caps_span(const char *line, size_t len, size_t *start, size_t *end)
{
	static const char untagged[] = "* CAPABILITY";
	static const char code[] = "[CAPABILITY";
	const char *p;
	size_t i;

	if (len >= sizeof(untagged) - 1 &&
	    strncasecmp(line, untagged, sizeof(untagged) - 1) == 0 &&
	    (len == sizeof(untagged) - 1 || line[sizeof(untagged) - 1] == ' ' ||
	    line[sizeof(untagged) - 1] == '\r' ||
	    line[sizeof(untagged) - 1] == '\n')) {
		/* The list ends at the first CR or LF: a bare LF inside it
		 * would otherwise end a line for a client that splits on LF,
		 * with tokens behind it this function never looked at. */
		*start = sizeof(untagged) - 1;
		for (*end = *start; *end < len && line[*end] != '\r' &&
		    line[*end] != '\n'; (*end)++)
			;
		return true;
	}
	/* A response code comes right after the status word, so the first
	 * '[' in the line is the only place to look.  memchr(3): a Dovecot
	 * capability list is 600 bytes, and this runs for every login. */
	if ((p = memchr(line, '[', len)) == NULL)
		return false;
	i = (size_t)(p - line);
	if (imap_caps_eol(line, i) || i + sizeof(code) - 1 > len ||
	    strncasecmp(line + i, code, sizeof(code) - 1) != 0)
		return false;
	*start = i + sizeof(code) - 1;
	if ((p = memchr(line + *start, ']', len - *start)) == NULL)
		return false;
	*end = (size_t)(p - line);
	return !imap_caps_eol(line + *start, *end - *start);
}

/* The token at or after i, [*j, *k); false at the end of the list. */
static bool
imap_caps_token(const char *line, size_t i, size_t end, size_t *j,
    size_t *k)
{
	const char *sp;

	while (i < end && line[i] == ' ')
		i++;
	if (i == end)
		return false;
	sp = memchr(line + i, ' ', end - i);
	*j = i;
	*k = sp != NULL ? (size_t)(sp - line) : end;
	return true;
}

bool
imap_caps_has(const char *line, size_t len, const char *token)
{
	size_t start, end, j, k, tlen = strlen(token);

	if (!imap_caps_span(line, len, &start, &end))
		return false;
	for (size_t i = start; imap_caps_token(line, i, end, &j, &k); i = k)
		if (k - j == tlen && strncasecmp(line + j, token, tlen) == 0)
			return true;
	return false;
}

size_t
imap_caps_filter(char *line, size_t len, const char *const *drop)
{
	size_t start, end, i, j, k, dlen[IMAP_CAPS_DROP_MAX], nd;

	if (!imap_caps_span(line, len, &start, &end))
		return len;
	for (nd = 0; nd < IMAP_CAPS_DROP_MAX && drop[nd] != NULL; nd++)
		dlen[nd] = strlen(drop[nd]);
	for (i = start; imap_caps_token(line, i, end, &j, &k);) {
		bool hit = false;

		for (size_t d = 0; d < nd && !hit; d++)
			hit = dlen[d] == k - j &&
			    strncasecmp(line + j, drop[d], k - j) == 0;
		if (!hit) {
			i = k;
			continue;
		}
		/* Cut [i, k): the blank(s) before the token and the token. */
		memmove(line + i, line + k, len - k);
		len -= k - i;
		end -= k - i;
	}
	return len;
}
