/*
 * sink.c - a bounded, growing buffer for response bodies.  The limit is
 * checked before anything is copied, so a server that sends more than it
 * should costs at most max bytes.
 */
#include "lib/sink.h"

#include <stdlib.h>
#include <string.h>

#include "lib/xmalloc.h"

void
sink_init(struct sink *s, size_t max)
{
	memset(s, 0, sizeof(*s));
	s->max = max;
}

void
sink_fini(struct sink *s)
{
	free(s->buf);
	sink_init(s, s->max);
}

size_t
sink_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct sink *s = arg;
	size_t n = size * nmemb;

	if ((nmemb != 0 && n / nmemb != size) || n > s->max - s->len) {
		s->overflow = true;
		return 0;
	}
	if (s->len + n + 1 > s->cap) {
		size_t cap = s->cap == 0 ? 4096 : s->cap;

		while (cap < s->len + n + 1)
			cap *= 2;
		s->buf = xreallocarray(s->buf, cap, 1);
		s->cap = cap;
	}
	memcpy(s->buf + s->len, data, n);
	s->len += n;
	s->buf[s->len] = '\0';
	return n;
}
