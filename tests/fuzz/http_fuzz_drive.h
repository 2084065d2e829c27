/*
 * http_fuzz_drive.h - shared body of fuzz_http_request / fuzz_http_response.
 *
 * The input is parsed twice, whole and split at a point chosen by its
 * first byte; both runs must tell the same story (a rolling hash of every
 * result, head field and body byte).  Checks: consumed never exceeds what
 * was given; AGAIN consumes everything; body slices lie inside the bytes
 * just consumed; head offsets stay inside the head; the limits hold.
 */
#ifndef CRM_HTTP_FUZZ_DRIVE_H
#define CRM_HTTP_FUZZ_DRIVE_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "proxy/http_parse.h"

#define FUZZ_CHECK(e) do { if (!(e)) abort(); } while (0)

static uint64_t
fuzz_mix(uint64_t h, uint64_t v)
{
	return (h ^ v) * 0x100000001b3ULL;
}

static uint64_t
fuzz_http_run(enum http_dir dir, const uint8_t *data, size_t size,
    size_t split)
{
	struct http_limits lim = { .line_max = 256, .head_max = 1024,
	    .fields_max = 16 };
	struct http_parser p;
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t bounds[2] = { split, size }, pos = 0;
	const char *err;

	http_parser_init(&p, dir, &lim);
	http_parser_set_head_request(&p, size > 0 && (data[0] & 1));
	for (int part = 0; part < 2; part++) {
		while (pos < bounds[part]) {
			size_t used = 0, left = bounds[part] - pos;
			enum http_result r = http_parse(&p, data + pos, left,
			    &used, &err);

			FUZZ_CHECK(used <= left);
			/* BODY and AGAIN come as often as the split says;
			 * everything else must not depend on it. */
			if (r != HTTP_PARSE_BODY && r != HTTP_PARSE_AGAIN)
				h = fuzz_mix(h, (uint64_t)r);
			if (r == HTTP_PARSE_ERROR)
				return h;
			if (r == HTTP_PARSE_AGAIN)
				FUZZ_CHECK(used == left);
			if (r == HTTP_PARSE_HEAD) {
				FUZZ_CHECK(p.head.head_len <= lim.head_max);
				FUZZ_CHECK(p.head.nfields <= lim.fields_max);
				for (unsigned i = 0; i < p.head.nfields; i++)
					FUZZ_CHECK(p.head.fields[i].value_off +
					    p.head.fields[i].value_len <=
					    p.head.head_len);
				h = fuzz_mix(h, p.head.status);
				h = fuzz_mix(h, p.head.body);
				h = fuzz_mix(h, p.head.content_length);
				h = fuzz_mix(h, p.head.nfields);
				h = fuzz_mix(h, p.head.keep_alive);
			}
			if (r == HTTP_PARSE_BODY) {
				FUZZ_CHECK(p.data_len > 0);
				FUZZ_CHECK(p.data >= data + pos &&
				    p.data + p.data_len == data + pos + used);
				for (size_t i = 0; i < p.data_len; i++)
					h = fuzz_mix(h, p.data[i]);
			}
			pos += used;
		}
	}
	for (;;) {
		size_t used;
		enum http_result r = http_parse(&p, data, 0, &used, &err);

		FUZZ_CHECK(used == 0);
		if (r != HTTP_PARSE_DONE)
			break;
		h = fuzz_mix(h, (uint64_t)r);
	}
	return fuzz_mix(h, (uint64_t)http_parser_eof(&p, &err));
}


/* Whole and split must agree. */
static void
fuzz_http_both(enum http_dir dir, const uint8_t *data, size_t size)
{
	size_t split = size > 0 ? (size_t)data[0] * 7 % (size + 1) : 0;

	FUZZ_CHECK(fuzz_http_run(dir, data, size, size) ==
	    fuzz_http_run(dir, data, size, split));
}

#endif
