/*
 * test_http_parse.c - table-driven tests of proxy/http_parse.c.
 *
 * Each case is a byte stream (one or more messages) and the transcript the
 * parser must produce: heads (method, target or status, framing), body
 * bytes, message ends, errors.  Every case is fed whole, one byte at a
 * time and in 200 random splits; the transcript must not depend on the
 * split.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/http_parse.h"

#define REQ HTTP_DIR_REQUEST
#define RSP HTTP_DIR_RESPONSE

struct hp_case {
	const char *name;
	enum http_dir dir;
	const char *in;
	const char *want;	/* transcript */
	bool head_request;	/* response to HEAD */
	bool eof;		/* the peer closes after the input */
};

/* Most cases leave the trailing flags out. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
static const struct hp_case cases[] = {
/* ---- requests ---- */
{ "GET", REQ, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n",
  "H GET /a v1 body=0 cl=0 ka=1 n=1|D|A" },
{ "PUT length", REQ,
  "PUT /cal/e.ics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
  "Content-Type: text/calendar\r\n\r\nhello",
  "H PUT /cal/e.ics v1 body=1 cl=5 ka=1 n=3|B hello|D|A" },
{ "chunked with extension and trailer", REQ,
  "PUT /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
  "3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n",
  "H PUT /x v1 body=2 cl=0 ka=1 n=2|B abcde|D|A" },
{ "chunked upper-case hex", REQ,
  "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n"
  "A\r\n0123456789\r\n0\r\n\r\n",
  "H POST /x v1 body=2 cl=0 ka=1 n=2|B 0123456789|D|A" },
{ "pipelined", REQ,
  "PROPFIND / HTTP/1.1\r\nHost: a\r\nDepth: 1\r\nContent-Length: 2\r\n"
  "\r\n<>REPORT /c/ HTTP/1.1\r\nHost: a\r\n\r\n"
  "DELETE /c/e.ics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
  "H PROPFIND / v1 body=1 cl=2 ka=1 n=3|B <>|D|"
  "H REPORT /c/ v1 body=0 cl=0 ka=1 n=1|D|"
  "H DELETE /c/e.ics v1 body=0 cl=0 ka=0 n=2|D|A" },
{ "leading empty lines", REQ, "\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
  "H GET / v1 body=0 cl=0 ka=1 n=1|D|A" },
{ "HTTP/1.0 no host, keep-alive", REQ,
  "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
  "H GET / v0 body=0 cl=0 ka=1 n=1|D|A" },
{ "HTTP/1.0 default close", REQ, "GET / HTTP/1.0\r\n\r\n",
  "H GET / v0 body=0 cl=0 ka=0 n=0|D|A" },
{ "same Content-Length twice", REQ,
  "PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
  "content-length:1\r\n\r\nz", "H PUT / v1 body=1 cl=1 ka=1 n=3|B z|D|A" },
{ "OWS around values", REQ,
  "PUT / HTTP/1.1\r\nHost:  x \r\nContent-Length:\t 2 \t\r\n\r\nab",
  "H PUT / v1 body=1 cl=2 ka=1 n=2|B ab|D|A" },
{ "Content-Length 0", REQ,
  "PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
  "H PUT / v1 body=0 cl=0 ka=1 n=2|D|A" },
{ "Expect 100-continue", REQ,
  "PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
  "Content-Length: 1\r\n\r\n", "H PUT / v1 body=1 cl=1 ka=1 n=3 ex|A" },
{ "incomplete head", REQ, "GET / HTTP/1.1\r\nHost: x\r\n", "A" },
/* ---- smuggling and bad input ---- */
{ "CL and TE", REQ, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
  "Transfer-Encoding: chunked\r\n\r\n", "E" },
{ "TE and CL", REQ, "POST / HTTP/1.1\r\nHost: x\r\n"
  "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", "E" },
{ "differing CL", REQ, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
  "Content-Length: 4\r\n\r\n", "E" },
{ "CL list", REQ, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n"
  "\r\n", "E" },
{ "CL sign", REQ, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\n",
  "E" },
{ "CL overflow", REQ, "POST / HTTP/1.1\r\nHost: x\r\n"
  "Content-Length: 18446744073709551616\r\n\r\n", "E" },
{ "TE gzip, chunked", REQ, "POST / HTTP/1.1\r\nHost: x\r\n"
  "Transfer-Encoding: gzip, chunked\r\n\r\n", "E" },
{ "TE chunked, identity", REQ, "POST / HTTP/1.1\r\nHost: x\r\n"
  "Transfer-Encoding: chunked, identity\r\n\r\n", "E" },
{ "TE twice", REQ, "POST / HTTP/1.1\r\nHost: x\r\n"
  "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", "E" },
{ "TE chunkedx", REQ, "POST / HTTP/1.1\r\nHost: x\r\n"
  "Transfer-Encoding: chunkedx\r\n\r\n", "E" },
{ "TE in HTTP/1.0", REQ, "POST / HTTP/1.0\r\n"
  "Transfer-Encoding: chunked\r\n\r\n", "E" },
{ "space before colon", REQ, "POST / HTTP/1.1\r\nHost: x\r\n"
  "Content-Length : 3\r\n\r\nabc", "E" },
{ "obs-fold", REQ, "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n 2\r\n\r\n", "E" },
{ "bare LF", REQ, "GET / HTTP/1.1\nHost: x\n\n", "E" },
{ "bare CR in value", REQ, "GET / HTTP/1.1\r\nHost: x\rY\r\n\r\n", "E" },
{ "NUL in value", REQ, "GET / HTTP/1.1\r\nHost: x\r\nA: \001\r\n\r\n", "E" },
{ "no Host", REQ, "GET / HTTP/1.1\r\n\r\n", "E" },
{ "two Hosts", REQ, "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "E" },
{ "HTTP/2.0", REQ, "GET / HTTP/2.0\r\nHost: a\r\n\r\n", "E" },
{ "lower-case version", REQ, "GET / http/1.1\r\nHost: a\r\n\r\n", "E" },
{ "double space", REQ, "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", "E" },
{ "chunk size overflow", REQ, "PUT / HTTP/1.1\r\nHost: x\r\n"
  "Transfer-Encoding: chunked\r\n\r\n10000000000000000\r\n",
  "H PUT / v1 body=2 cl=0 ka=1 n=2|E" },
{ "chunk size not hex", REQ, "PUT / HTTP/1.1\r\nHost: x\r\n"
  "Transfer-Encoding: chunked\r\n\r\nzz\r\n",
  "H PUT / v1 body=2 cl=0 ka=1 n=2|E" },
{ "chunk longer than size", REQ, "PUT / HTTP/1.1\r\nHost: x\r\n"
  "Transfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n",
  "H PUT / v1 body=2 cl=0 ka=1 n=2|B a|E" },
{ "negative chunk", REQ, "PUT / HTTP/1.1\r\nHost: x\r\n"
  "Transfer-Encoding: chunked\r\n\r\n-1\r\n",
  "H PUT / v1 body=2 cl=0 ka=1 n=2|E" },
/* ---- responses ---- */
{ "200 length", RSP, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
  "H 200 v1 body=1 cl=3 ka=1 n=1|B abc|D|A" },
{ "207 chunked", RSP, "HTTP/1.1 207 Multi-Status\r\n"
  "Transfer-Encoding: chunked\r\n\r\n4\r\n<a/>\r\n0\r\n\r\n",
  "H 207 v1 body=2 cl=0 ka=1 n=1|B <a/>|D|A" },
{ "204 ignores length", RSP, "HTTP/1.1 204 No Content\r\n"
  "Content-Length: 10\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
  "H 204 v1 body=0 cl=10 ka=1 n=1|D|H 201 v1 body=0 cl=0 ka=1 n=1|D|A" },
{ "304", RSP, "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n",
  "H 304 v1 body=0 cl=0 ka=1 n=1|D|A" },
{ "HEAD response", RSP, "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n",
  "H 200 v1 body=0 cl=99 ka=1 n=1|D|A", true },
{ "100 then 201", RSP, "HTTP/1.1 100 Continue\r\n\r\n"
  "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
  "H 100 v1 body=0 cl=0 ka=1 n=0|D|H 201 v1 body=0 cl=0 ka=1 n=1|D|A" },
{ "until close", RSP, "HTTP/1.1 200 OK\r\n\r\nall of it",
  "H 200 v1 body=3 cl=0 ka=0 n=0|B all of it|D", false, true },
{ "1.0 close", RSP, "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
  "H 200 v0 body=1 cl=2 ka=0 n=1|B ok|D|A" },
{ "empty reason", RSP, "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
  "H 200 v1 body=0 cl=0 ka=1 n=1|D|A" },
{ "response CL and TE", RSP, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
  "Transfer-Encoding: chunked\r\n\r\n", "E" },
{ "cut body", RSP, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab",
  "H 200 v1 body=1 cl=5 ka=1 n=1|B ab|E", false, true },
{ "bad status", RSP, "HTTP/1.1 20 OK\r\n\r\n", "E" },
{ "not HTTP", RSP, "ICY 200 OK\r\n\r\n", "E" },
};

struct transcript {
	char buf[4096];
	size_t len;
	char body[2048];
	size_t body_len;
};

static void
tr_add(struct transcript *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	t->len += (size_t)vsnprintf(t->buf + t->len, sizeof(t->buf) - t->len,
	    fmt, ap);
	va_end(ap);
}

static void
tr_flush_body(struct transcript *t)
{
	if (t->body_len > 0) {
		tr_add(t, "B %.*s|", (int)t->body_len, t->body);
		t->body_len = 0;
	}
}

/* Feeds c->in in pieces whose sizes come from next_split. */
static void
run_case(const struct hp_case *c, size_t (*next_split)(size_t left),
    struct transcript *t)
{
	const uint8_t *in = (const uint8_t *)c->in;
	size_t len = strlen(c->in), pos = 0;
	struct http_parser p;
	const char *err = NULL;
	bool failed = false;

	memset(t, 0, sizeof(*t));
	http_parser_init(&p, c->dir, NULL);
	http_parser_set_head_request(&p, c->head_request);
	while (pos < len && !failed) {
		size_t piece = next_split(len - pos), off = 0;

		while (off < piece && !failed) {
			size_t used = 0;
			enum http_result r = http_parse(&p, in + pos + off,
			    piece - off, &used, &err);

			assert_true(used <= piece - off);
			switch (r) {
			case HTTP_PARSE_AGAIN:
				assert_int_equal(used, piece - off);
				break;
			case HTTP_PARSE_HEAD: {
				/* the head's first byte, in the stream */
				const uint8_t *h = in + pos + off + used -
				    p.head.head_len;

				tr_flush_body(t);
				if (c->dir == REQ)
					tr_add(t, "H %.*s %.*s",
					    (int)p.head.method_len,
					    h + p.head.method_off,
					    (int)p.head.target_len,
					    h + p.head.target_off);
				else
					tr_add(t, "H %u", p.head.status);
				tr_add(t, " v%u body=%d cl=%llu ka=%d n=%u%s|",
				    p.head.version_minor, (int)p.head.body,
				    (unsigned long long)p.head.content_length,
				    p.head.keep_alive, p.head.nfields,
				    p.head.expect_continue ? " ex" : "");
				/* offsets stay inside the head */
				for (unsigned i = 0; i < p.head.nfields; i++) {
					const struct http_field *f =
					    &p.head.fields[i];

					assert_true(f->value_off + f->value_len
					    <= p.head.head_len);
				}
				break;
			}
			case HTTP_PARSE_BODY:
				assert_true(p.data_len > 0);
				assert_true(p.data + p.data_len ==
				    in + pos + off + used);
				memcpy(t->body + t->body_len, p.data,
				    p.data_len);
				t->body_len += p.data_len;
				break;
			case HTTP_PARSE_DONE:
				tr_flush_body(t);
				tr_add(t, "D|");
				break;
			case HTTP_PARSE_ERROR:
				tr_flush_body(t);
				assert_non_null(err);
				tr_add(t, "E");
				failed = true;
				break;
			}
			off += used;
		}
		pos += piece;
	}
	if (failed)
		return;
	/* A message may still be complete without more bytes. */
	for (;;) {
		size_t used;
		enum http_result r = http_parse(&p, (const uint8_t *)"", 0,
		    &used, &err);

		if (r != HTTP_PARSE_DONE)
			break;
		tr_flush_body(t);
		tr_add(t, "D|");
	}
	tr_flush_body(t);
	if (c->eof) {
		if (http_parser_eof(&p, &err) == HTTP_PARSE_DONE)
			tr_add(t, "D");
		else
			tr_add(t, "E");
	} else {
		tr_add(t, "A");
	}
}

static size_t
split_whole(size_t left)
{
	return left;
}

static size_t
split_bytes(size_t left)
{
	(void)left;
	return 1;
}

static unsigned rng_state = 12345;

static size_t
split_random(size_t left)
{
	rng_state = rng_state * 1103515245u + 12345u;
	return 1 + (rng_state >> 16) % (left < 17 ? left : 17);
}

static void
test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct hp_case *c = &cases[i];
		struct transcript whole, t;

		run_case(c, split_whole, &whole);
		if (strcmp(whole.buf, c->want) != 0) {
			fail_msg("%s (whole):\n  got  %s\n  want %s", c->name,
			    whole.buf, c->want);
		}
		run_case(c, split_bytes, &t);
		if (strcmp(t.buf, c->want) != 0)
			fail_msg("%s (bytewise):\n  got  %s\n  want %s",
			    c->name, t.buf, c->want);
		for (int k = 0; k < 200; k++) {
			run_case(c, split_random, &t);
			if (strcmp(t.buf, c->want) != 0)
				fail_msg("%s (random split %d):\n  got  %s\n"
				    "  want %s", c->name, k, t.buf, c->want);
		}
	}
}

/* Limits: line_max, head_max and the number of fields. */
static void
test_limits(void **state)
{
	struct http_limits lim = { .line_max = 64, .head_max = 256,
	    .fields_max = 4 };
	struct http_parser p;
	const char *err = NULL;
	size_t used;
	char buf[1024];

	(void)state;
	http_parser_init(&p, REQ, &lim);
	snprintf(buf, sizeof(buf), "GET /%0100d HTTP/1.1\r\n", 0);
	assert_int_equal(http_parse(&p, (const uint8_t *)buf, strlen(buf),
	    &used, &err), HTTP_PARSE_ERROR);
	assert_string_equal(err, "line too long");

	http_parser_init(&p, REQ, &lim);
	snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\n"
	    "B: 2\r\nC: 3\r\nD: 4\r\n\r\n");
	assert_int_equal(http_parse(&p, (const uint8_t *)buf, strlen(buf),
	    &used, &err), HTTP_PARSE_ERROR);
	assert_string_equal(err, "too many header fields");

	lim.fields_max = 100;
	http_parser_init(&p, REQ, &lim);
	size_t n = (size_t)snprintf(buf, sizeof(buf),
	    "GET / HTTP/1.1\r\nHost: x\r\n");
	for (int i = 0; i < 20; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n,
		    "X-Field-%02d: value\r\n", i);
	assert_int_equal(http_parse(&p, (const uint8_t *)buf, n, &used,
	    &err), HTTP_PARSE_ERROR);
	assert_string_equal(err, "header section too large");

	/* trailer count is bounded too */
	lim = (struct http_limits){ .fields_max = 2 };
	http_parser_init(&p, REQ, &lim);
	snprintf(buf, sizeof(buf), "PUT / HTTP/1.1\r\nHost: x\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n0\r\nA: 1\r\nB: 2\r\nC: 3\r\n"
	    "\r\n");
	{
		const uint8_t *q = (const uint8_t *)buf;
		size_t left = strlen(buf);
		enum http_result r;

		do {
			r = http_parse(&p, q, left, &used, &err);
			q += used;
			left -= used;
		} while (r != HTTP_PARSE_ERROR && r != HTTP_PARSE_AGAIN);
		assert_int_equal(r, HTTP_PARSE_ERROR);
		assert_string_equal(err, "too many trailer fields");
	}
}

/* A large Content-Length body comes out as slices, never scanned. */
static void
test_big_body(void **state)
{
	static uint8_t body[1 << 20];
	struct http_parser p;
	const char *err = NULL;
	const char *head = "HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n";
	size_t used, got = 0;

	(void)state;
	memset(body, 'x', sizeof(body));
	http_parser_init(&p, RSP, NULL);
	assert_int_equal(http_parse(&p, (const uint8_t *)head, strlen(head),
	    &used, &err), HTTP_PARSE_HEAD);
	while (got < sizeof(body)) {
		assert_int_equal(http_parse(&p, body + got, sizeof(body) - got,
		    &used, &err), HTTP_PARSE_BODY);
		got += used;
	}
	assert_int_equal(http_parse(&p, body, 0, &used, &err),
	    HTTP_PARSE_DONE);
	assert_true(http_parser_idle(&p));
}

/* Field lookup by name over a kept head. */
static void
test_fields(void **state)
{
	const char *req = "REPORT /alice/cal/ HTTP/1.1\r\nHost: cal\r\n"
	    "Authorization: Basic YWxpY2U6cHc=\r\nDepth:1\r\n\r\n";
	struct http_parser p;
	const struct http_field *f;
	const char *err = NULL;
	size_t used;

	(void)state;
	http_parser_init(&p, REQ, NULL);
	assert_int_equal(http_parse(&p, (const uint8_t *)req, strlen(req),
	    &used, &err), HTTP_PARSE_HEAD);
	f = http_head_field(&p.head, (const uint8_t *)req, "authorization");
	assert_non_null(f);
	assert_int_equal(f->value_len, strlen("Basic YWxpY2U6cHc="));
	assert_memory_equal(req + f->value_off, "Basic YWxpY2U6cHc=",
	    f->value_len);
	f = http_head_field(&p.head, (const uint8_t *)req, "DEPTH");
	assert_non_null(f);
	assert_memory_equal(req + f->value_off, "1", 1);
	assert_null(http_head_field(&p.head, (const uint8_t *)req, "Dept"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_big_body),
		cmocka_unit_test(test_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
