/*
 * sink.h - a response body buffered up to a limit: the write callback for
 * libcurl (CURLOPT_WRITEFUNCTION / CURLOPT_WRITEDATA) of the HTTP clients
 * (remote embeddings, Qdrant).  No libcurl header is needed here: the
 * callback has the plain signature curl expects.
 */
#ifndef CRM_SINK_H
#define CRM_SINK_H

#include <stdbool.h>
#include <stddef.h>

struct sink {
	char *buf;	/* NUL-terminated; NULL until the first byte */
	size_t len, cap;
	size_t max;	/* the body may not exceed this */
	bool overflow;	/* it tried to: the transfer was failed */
};

/* An empty sink that takes at most max bytes. */
void sink_init(struct sink *s, size_t max);
/* Frees the buffer; the sink is empty again. */
void sink_fini(struct sink *s);
/*
 * Appends size * nmemb bytes of data to arg (a struct sink).  Returns the
 * count taken, or 0 (which makes curl fail the transfer) and sets
 * overflow when the body would pass max.
 */
size_t sink_write(char *data, size_t size, size_t nmemb, void *arg);

#endif
