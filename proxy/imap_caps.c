/* imap_caps.c - see imap_caps.h. */
#include "proxy/imap_caps.h"

#include <string.h>
#include <strings.h>

/* Finds the capability list: [*start, *end) holds space-separated tokens. */
static bool
imap_caps_span(const char *line, size_t len, size_t *start, size_t *end)
{
	static const char untagged[] = "* CAPABILITY";
	static const char code[] = "[CAPABILITY";
	size_t i;

	if (len >= sizeof(untagged) - 1 &&
	    strncasecmp(line, untagged, sizeof(untagged) - 1) == 0 &&
	    (len == sizeof(untagged) - 1 || line[sizeof(untagged) - 1] == ' ' ||
	    line[sizeof(untagged) - 1] == '\r')) {
		*start = sizeof(untagged) - 1;
		*end = len;
		while (*end > *start && (line[*end - 1] == '\n' ||
		    line[*end - 1] == '\r'))
			(*end)--;
		return true;
	}
	/* A response code comes right after the status word, so the first
	 * '[' in the line is the only place to look. */
	for (i = 0; i < len && line[i] != '[' && line[i] != '\r'; i++)
		;
	if (i + sizeof(code) - 1 > len ||
	    strncasecmp(line + i, code, sizeof(code) - 1) != 0)
		return false;
	*start = i + sizeof(code) - 1;
	for (*end = *start; *end < len && line[*end] != ']' &&
	    line[*end] != '\r'; (*end)++)
		;
	return *end < len && line[*end] == ']';
}

bool
imap_caps_has(const char *line, size_t len, const char *token)
{
	size_t start, end, tlen = strlen(token);

	if (!imap_caps_span(line, len, &start, &end))
		return false;
	for (size_t i = start; i < end;) {
		size_t j;

		while (i < end && line[i] == ' ')
			i++;
		for (j = i; j < end && line[j] != ' '; j++)
			;
		if (j - i == tlen && strncasecmp(line + i, token, tlen) == 0)
			return true;
		i = j;
	}
	return false;
}

size_t
imap_caps_filter(char *line, size_t len, const char *const *drop)
{
	size_t start, end, i;

	if (!imap_caps_span(line, len, &start, &end))
		return len;
	for (i = start; i < end;) {
		size_t j, k;
		bool hit = false;

		/* i sits on the blank before a token (or the list start). */
		for (j = i; j < end && line[j] == ' '; j++)
			;
		for (k = j; k < end && line[k] != ' '; k++)
			;
		for (const char *const *d = drop; *d != NULL && k > j; d++)
			if (strlen(*d) == k - j &&
			    strncasecmp(line + j, *d, k - j) == 0)
				hit = true;
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
