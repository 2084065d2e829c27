/*
 * http_parse.h - an incremental, bounded HTTP/1.1 message parser, one per
 * direction (RFC 9112).
 *
 * Byte-driven: feed whatever arrived, in any split; the parser keeps its
 * state and counters and owns no buffer.  Header fields are reported as
 * offsets from the first byte of the message head, so a caller that keeps
 * the head (it is bounded by head_max) can read any field without a copy;
 * the fields that decide framing (Content-Length, Transfer-Encoding,
 * Connection, Host) are interpreted as they stream by.
 *
 * Smuggling defences (RFC 9112 6.1, 6.3, 11.2): a request with both
 * Content-Length and Transfer-Encoding, with a transfer coding other than
 * chunked, with differing Content-Length values, with white space before a
 * field's colon, with obs-fold, bare CR or LF line ends, or an HTTP/1.1
 * request without exactly one Host is an error, never a guess.  Chunk sizes
 * are checked for overflow before they are used.
 *
 * Includes no libevent or OpenSSL headers: it links into unit tests and
 * fuzz targets alone.
 */
#ifndef CRM_HTTP_PARSE_H
#define CRM_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_HEADERS_MAX 128	/* hard cap on fields kept per message */
#define HTTP_METHOD_MAX 32

enum http_dir {
	HTTP_DIR_REQUEST,
	HTTP_DIR_RESPONSE,
};

enum http_result {
	HTTP_PARSE_AGAIN,	/* all input consumed; need more */
	HTTP_PARSE_HEAD,	/* the head is complete: see p->head */
	HTTP_PARSE_BODY,	/* body data: p->data, p->data_len */
	HTTP_PARSE_DONE,	/* the message is complete */
	HTTP_PARSE_ERROR,	/* *errstr_r says why; the stream is lost */
};

enum http_body {
	HTTP_BODY_NONE,		/* no body (or a bodyless response) */
	HTTP_BODY_LENGTH,	/* Content-Length bytes */
	HTTP_BODY_CHUNKED,	/* chunked transfer coding */
	HTTP_BODY_EOF,		/* response delimited by the connection close */
};

struct http_field {
	uint32_t name_off, name_len;
	uint32_t value_off, value_len;	/* value without surrounding OWS */
};

struct http_head {
	/* Request line: method and target as offsets into the head. */
	uint32_t method_off, method_len;
	uint32_t target_off, target_len;
	/* Status line. */
	unsigned status;
	unsigned version_minor;		/* HTTP/1.x */
	struct http_field fields[HTTP_HEADERS_MAX];
	unsigned nfields;
	uint32_t head_len;		/* bytes up to and including CRLFCRLF */
	enum http_body body;
	uint64_t content_length;	/* HTTP_BODY_LENGTH */
	bool keep_alive;		/* the connection may carry another */
	bool upgrade;			/* Connection: upgrade was present */
	bool expect_continue;		/* Expect: 100-continue */
};

struct http_limits {
	uint32_t line_max;		/* request/status line, one field line */
	uint32_t head_max;		/* whole head, CRLFCRLF included */
	unsigned fields_max;		/* <= HTTP_HEADERS_MAX; trailers too */
};

struct http_parser {
	enum http_dir dir;
	struct http_limits lim;
	int state;
	bool head_request;		/* response: the request was HEAD */
	/* head scanning */
	uint32_t pos;			/* bytes of this head so far */
	uint32_t line_len;
	unsigned idx;			/* position inside a fixed word */
	unsigned blank_lines;
	unsigned status_digits;
	struct http_field cur;
	uint32_t value_end;
	uint32_t name_cand;		/* known-name candidates (bitmask) */
	/* value interpretation of the current known field */
	int known;
	uint64_t num;
	unsigned num_digits;
	char tok[16];
	unsigned tok_len;
	bool tok_long, tok_seen;
	unsigned te_codings;
	bool te_last_chunked, te_seen, cl_seen, conn_close, conn_keep;
	unsigned hosts;
	/* body */
	uint64_t remaining;
	unsigned chunk_digits;
	unsigned trailers;
	uint32_t trailer_bytes;
	struct http_head head;
	/* HTTP_PARSE_BODY: a slice of the input just consumed */
	const uint8_t *data;
	size_t data_len;
	uint64_t messages;		/* completed messages */
};

/* Sets p up for direction dir.  Limits of 0 take defaults (8 KiB line,
 * 64 KiB head, 100 fields). */
void http_parser_init(struct http_parser *p, enum http_dir dir,
    const struct http_limits *lim);

/*
 * Feeds len bytes.  *consumed_r tells how many were used (always all of
 * them for AGAIN); feed the rest in the next call.  After HEAD the head is
 * in p->head (offsets from the message's first byte; the caller must have
 * kept those bytes).  BODY: p->data/p->data_len is the decoded body slice,
 * the last data_len bytes of the consumed input.  DONE: the message ended
 * at *consumed_r; the parser is ready for the next one.  After ERROR every
 * call returns ERROR.
 */
enum http_result http_parse(struct http_parser *p, const uint8_t *data,
    size_t len, size_t *consumed_r, const char **errstr_r);

/* Response parser: the next response answers a HEAD request (no body
 * whatever its fields say).  Call before its first byte arrives; it
 * holds through 1xx interim responses until the final one completes. */
void http_parser_set_head_request(struct http_parser *p, bool head);

/* The peer closed the connection: DONE when that ends the message
 * (HTTP_BODY_EOF, or between messages), ERROR when a message is cut. */
enum http_result http_parser_eof(struct http_parser *p,
    const char **errstr_r);

/* True between messages (nothing of the next one seen yet). */
bool http_parser_idle(const struct http_parser *p);
/* True when the last HEAD result's message has no body at all. */
bool http_head_bodyless(const struct http_head *h);

/* Field helpers over a kept head (buf = its first byte). */
bool http_field_is(const uint8_t *buf, const struct http_field *f,
    const char *name);
/* First field named name, or NULL. */
const struct http_field *http_head_field(const struct http_head *h,
    const uint8_t *buf, const char *name);

#endif
