/*
 * embedder_parse.c - reading OpenAI-compatible /v1/embeddings responses.
 *
 * The response comes from a server we do not control, so nothing in it is
 * trusted: the count of data entries must equal what was asked, every
 * index must be in range and unique, every vector must have exactly the
 * configured dimension and only finite numbers.  A server that answers
 * with another model's vectors (a different dimension) is caught here,
 * before a single wrong-sized vector reaches the store.
 */
#include "enrich/embed/embedder.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

static int perr(char *, size_t, const char *, ...)
    __attribute__((format(printf, 3, 4)));

static int
perr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

int
embedder_parse_response(const char *buf, size_t len, size_t n, size_t dim,
    float *out, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root, *data, *item, *emb, *idx, *v;
	uint8_t *seen = NULL;
	size_t i, k;
	int rc = -1;

	if (len > EMBEDDER_RESPONSE_MAX)
		return perr(err, errlen, "response larger than %u bytes",
		    EMBEDDER_RESPONSE_MAX);
	if (n == 0 || dim == 0 || dim > EMBEDDER_DIM_MAX)
		return perr(err, errlen, "bad request size");
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return perr(err, errlen, "malformed JSON at byte %d",
		    jerr.position);
	data = json_object_get(root, "data");
	if (!json_is_array(data)) {
		perr(err, errlen, "response has no \"data\" array");
		goto out;
	}
	if (json_array_size(data) != n) {
		perr(err, errlen, "response has %zu vectors for %zu texts",
		    json_array_size(data), n);
		goto out;
	}
	seen = calloc(n, 1);
	if (seen == NULL) {
		perr(err, errlen, "out of memory");
		goto out;
	}
	json_array_foreach(data, i, item) {
		size_t at = i;

		if (!json_is_object(item)) {
			perr(err, errlen, "data[%zu] is not an object", i);
			goto out;
		}
		idx = json_object_get(item, "index");
		if (idx != NULL) {
			json_int_t x;

			if (!json_is_integer(idx) ||
			    (x = json_integer_value(idx)) < 0 ||
			    (uint64_t)x >= n) {
				perr(err, errlen, "data[%zu]: bad index", i);
				goto out;
			}
			at = (size_t)x;
		}
		if (seen[at]) {
			perr(err, errlen, "data[%zu]: index %zu repeated", i,
			    at);
			goto out;
		}
		seen[at] = 1;
		emb = json_object_get(item, "embedding");
		if (!json_is_array(emb)) {
			/* base64 output was not asked for; refuse it too */
			perr(err, errlen, "data[%zu]: no embedding array", i);
			goto out;
		}
		if (json_array_size(emb) != dim) {
			perr(err, errlen, "data[%zu]: dimension %zu, "
			    "configured %zu", i, json_array_size(emb), dim);
			goto out;
		}
		json_array_foreach(emb, k, v) {
			double d;

			if (!json_is_number(v) ||
			    !isfinite(d = json_number_value(v)) ||
			    fabs(d) > 3.0e38) {
				perr(err, errlen, "data[%zu][%zu]: not a "
				    "finite number", i, k);
				goto out;
			}
			out[at * dim + k] = (float)d;
		}
	}
	rc = 0;
out:
	free(seen);
	json_decref(root);
	return rc;
}

int
embedder_parse_error(const char *buf, size_t len, char *err, size_t errlen)
{
	json_t *root, *e, *m;
	const char *s = NULL;
	size_t o = 0;

	if (errlen == 0 || len > EMBEDDER_RESPONSE_MAX)
		return -1;
	if ((root = json_loadb(buf, len, 0, NULL)) == NULL)
		return -1;
	e = json_object_get(root, "error");
	if (json_is_string(e))
		s = json_string_value(e);
	else if (json_is_object(e) &&
	    json_is_string(m = json_object_get(e, "message")))
		s = json_string_value(m);
	else if (json_is_string(m = json_object_get(root, "detail")))
		s = json_string_value(m);
	if (s != NULL) {
		/* printable ASCII only: it goes into logs */
		for (; *s != '\0' && o + 1 < errlen && o < 200; s++)
			err[o++] = isprint((unsigned char)*s) ? *s : '?';
		err[o] = '\0';
	}
	json_decref(root);
	return s != NULL ? 0 : -1;
}
