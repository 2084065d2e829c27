/* http_parse.c - see http_parse.h. */
#include "proxy/http_parse.h"

#include <string.h>
#include <strings.h>

#include "lib/hex.h"

enum {
	ST_START,
	ST_BLANK_LF,
	ST_METHOD,
	ST_TARGET,
	ST_REQ_VERSION,
	ST_REQ_CR,
	ST_RESP_VERSION,
	ST_RESP_SP,
	ST_STATUS,
	ST_STATUS_AFTER,
	ST_REASON,
	ST_LINE_LF,
	ST_FIELD_START,
	ST_NAME,
	ST_VALUE,
	ST_FIELD_LF,
	ST_HEAD_LF,
	/* after the head */
	ST_DONE_PENDING,
	ST_BODY_LENGTH,
	ST_BODY_EOF,
	ST_CHUNK_SIZE,
	ST_CHUNK_EXT,
	ST_CHUNK_SIZE_LF,
	ST_CHUNK_DATA,
	ST_CHUNK_DATA_CR,
	ST_CHUNK_DATA_LF,
	ST_TRAILER_START,
	ST_TRAILER_LINE,
	ST_TRAILER_LF,
	ST_TRAILER_END_LF,
	ST_ERROR,
};

/* Fields interpreted while they stream by (bit i of name_cand). */
enum {
	KNOWN_NONE = -1,
	KNOWN_CL,
	KNOWN_TE,
	KNOWN_CONNECTION,
	KNOWN_HOST,
	KNOWN_EXPECT,
	KNOWN_COUNT,
};
static const char *const known_names[KNOWN_COUNT] = {
	"content-length", "transfer-encoding", "connection", "host", "expect",
};

#define HTTP_VERSION_PREFIX "HTTP/1."
/* gcc reads comments for -Wimplicit-fallthrough, clang only this */
#define FALLTHROUGH __attribute__((fallthrough))
#define CHUNK_DIGITS_MAX 15	/* < 2^60: no overflow in the sum */

static bool
is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool
is_vchar(unsigned char c)
{
	return c >= 0x21 && c <= 0x7e;
}

/* field-vchar / obs-text: what a field value may hold besides SP/HTAB */
static bool
is_fvchar(unsigned char c)
{
	return is_vchar(c) || c >= 0x80;
}

static void
http_parser_message_reset(struct http_parser *p)
{
	bool head_request = p->head_request;
	enum http_dir dir = p->dir;
	struct http_limits lim = p->lim;
	uint64_t messages = p->messages;

	/* The head is large; clear the counters, not the field table. */
	p->state = ST_START;
	p->pos = p->line_len = 0;
	p->idx = p->blank_lines = p->status_digits = 0;
	p->known = KNOWN_NONE;
	p->num = 0;
	p->num_digits = 0;
	p->tok_len = 0;
	p->tok_long = p->tok_seen = false;
	p->te_codings = 0;
	p->te_last_chunked = p->te_seen = p->cl_seen = false;
	p->conn_close = p->conn_keep = false;
	p->hosts = 0;
	p->remaining = 0;
	p->chunk_digits = p->trailers = 0;
	p->trailer_bytes = 0;
	p->data = NULL;
	p->data_len = 0;
	p->head.nfields = 0;
	p->head.status = 0;
	p->head.version_minor = 0;
	p->head.method_off = p->head.method_len = 0;
	p->head.target_off = p->head.target_len = 0;
	p->head.head_len = 0;
	p->head.body = HTTP_BODY_NONE;
	p->head.content_length = 0;
	p->head.keep_alive = p->head.upgrade = false;
	p->head.expect_continue = false;
	p->dir = dir;
	p->lim = lim;
	p->head_request = head_request;
	p->messages = messages;
}

void
http_parser_init(struct http_parser *p, enum http_dir dir,
    const struct http_limits *lim)
{
	memset(p, 0, sizeof(*p));
	p->dir = dir;
	if (lim != NULL)
		p->lim = *lim;
	if (p->lim.line_max == 0)
		p->lim.line_max = 8192;
	if (p->lim.head_max == 0)
		p->lim.head_max = 65536;
	if (p->lim.fields_max == 0 || p->lim.fields_max > HTTP_HEADERS_MAX)
		p->lim.fields_max = p->lim.fields_max == 0 ? 100 :
		    HTTP_HEADERS_MAX;
	http_parser_message_reset(p);
}

void
http_parser_set_head_request(struct http_parser *p, bool head)
{
	p->head_request = head;
}

bool
http_parser_idle(const struct http_parser *p)
{
	return p->state == ST_START && p->pos == 0;
}

bool
http_head_bodyless(const struct http_head *h)
{
	return h->body == HTTP_BODY_NONE;
}

/* ---- value interpretation ----------------------------------------- */

static void
tok_reset(struct http_parser *p)
{
	p->tok_len = 0;
	p->tok_long = false;
	p->tok_seen = false;
}

static bool
tok_is(const struct http_parser *p, const char *word)
{
	return !p->tok_long && p->tok_len == strlen(word) &&
	    strncasecmp(p->tok, word, p->tok_len) == 0;
}

/* A list element ended (',' or the end of the field). */
static void
tok_finish(struct http_parser *p)
{
	if (p->tok_len == 0 && !p->tok_long) {
		tok_reset(p);
		return;
	}
	switch (p->known) {
	case KNOWN_TE:
		p->te_codings++;
		p->te_last_chunked = tok_is(p, "chunked");
		break;
	case KNOWN_CONNECTION:
		if (tok_is(p, "close"))
			p->conn_close = true;
		else if (tok_is(p, "keep-alive"))
			p->conn_keep = true;
		else if (tok_is(p, "upgrade"))
			p->head.upgrade = true;
		break;
	case KNOWN_EXPECT:
		if (tok_is(p, "100-continue"))
			p->head.expect_continue = true;
		break;
	default:
		break;
	}
	tok_reset(p);
}

/* One byte of a known field's value (OWS around it included). */
static const char *
value_byte(struct http_parser *p, unsigned char c)
{
	switch (p->known) {
	case KNOWN_CL:
		if (c >= '0' && c <= '9') {
			unsigned d = (unsigned)(c - '0');

			if (p->tok_seen)
				return "white space inside Content-Length";
			if (p->num > (UINT64_MAX - d) / 10)
				return "Content-Length overflows";
			p->num = p->num * 10 + d;
			p->num_digits++;
		} else if (c == ' ' || c == '\t') {
			if (p->num_digits > 0)
				p->tok_seen = true;
		} else {
			return "Content-Length is not a number";
		}
		return NULL;
	case KNOWN_TE:
	case KNOWN_CONNECTION:
	case KNOWN_EXPECT:
		if (c == ',') {
			tok_finish(p);
		} else if (c == ' ' || c == '\t' || c == ';') {
			/* parameters and OWS end the token text */
			if (p->tok_len > 0 || p->tok_long)
				p->tok_seen = true;
		} else if (!p->tok_seen) {
			if (p->tok_len < sizeof(p->tok))
				p->tok[p->tok_len++] = (char)c;
			else
				p->tok_long = true;
		} else if (p->known == KNOWN_TE && c != '=' &&
		    c != '"' && !is_tchar(c)) {
			return "bad Transfer-Encoding";
		}
		return NULL;
	default:
		return NULL;
	}
}

/* The current field line ended. */
static const char *
field_finish(struct http_parser *p)
{
	struct http_head *h = &p->head;

	if (h->nfields >= p->lim.fields_max)
		return "too many header fields";
	p->cur.value_len = p->value_end > p->cur.value_off ?
	    p->value_end - p->cur.value_off : 0;
	h->fields[h->nfields++] = p->cur;
	switch (p->known) {
	case KNOWN_CL:
		if (p->num_digits == 0)
			return "empty Content-Length";
		if (p->cl_seen && p->num != h->content_length)
			return "conflicting Content-Length fields";
		p->cl_seen = true;
		h->content_length = p->num;
		break;
	case KNOWN_TE:
		tok_finish(p);
		p->te_seen = true;
		break;
	case KNOWN_CONNECTION:
	case KNOWN_EXPECT:
		tok_finish(p);
		break;
	case KNOWN_HOST:
		p->hosts++;
		break;
	default:
		break;
	}
	p->known = KNOWN_NONE;
	return NULL;
}

/* CRLFCRLF seen: decide the framing (RFC 9112 6.3). */
static const char *
head_finish(struct http_parser *p)
{
	struct http_head *h = &p->head;

	h->head_len = p->pos;
	if (p->dir == HTTP_DIR_REQUEST) {
		if (p->hosts > 1 || (h->version_minor >= 1 && p->hosts == 0))
			return "an HTTP/1.1 request needs exactly one Host";
		if (p->te_seen && p->cl_seen)
			return "both Content-Length and Transfer-Encoding";
		if (p->te_seen && (h->version_minor == 0 ||
		    p->te_codings != 1 || !p->te_last_chunked))
			return "unsupported Transfer-Encoding";
		if (p->te_seen)
			h->body = HTTP_BODY_CHUNKED;
		else if (p->cl_seen && h->content_length > 0)
			h->body = HTTP_BODY_LENGTH;
		else
			h->body = HTTP_BODY_NONE;
	} else {
		if (p->te_seen && p->cl_seen)
			return "both Content-Length and Transfer-Encoding";
		if (h->status < 200 || h->status == 204 || h->status == 304 ||
		    p->head_request)
			h->body = HTTP_BODY_NONE;
		else if (p->te_seen)
			h->body = p->te_last_chunked && h->version_minor >= 1 ?
			    HTTP_BODY_CHUNKED : HTTP_BODY_EOF;
		else if (p->cl_seen)
			h->body = h->content_length > 0 ? HTTP_BODY_LENGTH :
			    HTTP_BODY_NONE;
		else
			h->body = HTTP_BODY_EOF;
		if (h->status == 101)
			h->upgrade = true;
	}
	h->keep_alive = !p->conn_close && (h->version_minor >= 1 ||
	    p->conn_keep) && h->body != HTTP_BODY_EOF;
	switch (h->body) {
	case HTTP_BODY_NONE:
		p->state = ST_DONE_PENDING;
		break;
	case HTTP_BODY_LENGTH:
		p->remaining = h->content_length;
		p->state = ST_BODY_LENGTH;
		break;
	case HTTP_BODY_CHUNKED:
		p->remaining = 0;
		p->chunk_digits = 0;
		p->state = ST_CHUNK_SIZE;
		break;
	case HTTP_BODY_EOF:
		p->state = ST_BODY_EOF;
		break;
	}
	return NULL;
}

static void
message_done(struct http_parser *p)
{
	bool final = p->dir == HTTP_DIR_REQUEST || p->head.status >= 200;

	p->messages++;
	http_parser_message_reset(p);
	if (final)
		p->head_request = false;
}

static bool
in_head(int st)
{
	return st < ST_DONE_PENDING;
}

static enum http_result
fail(struct http_parser *p, const char *why, const char **errstr_r)
{
	p->state = ST_ERROR;
	*errstr_r = why;
	return HTTP_PARSE_ERROR;
}

/* Bulk states: body bytes are handed out as slices, never scanned. */
static enum http_result
body_slice(struct http_parser *p, const uint8_t *data, const uint8_t **q,
    const uint8_t *end, size_t *consumed_r)
{
	size_t avail = (size_t)(end - *q);
	size_t n = avail;

	if (p->state != ST_BODY_EOF && p->remaining < n)
		n = (size_t)p->remaining;
	p->data = *q;
	p->data_len = n;
	*q += n;
	if (p->state != ST_BODY_EOF) {
		p->remaining -= n;
		if (p->remaining == 0 && p->state == ST_CHUNK_DATA)
			p->state = ST_CHUNK_DATA_CR;
	}
	*consumed_r = (size_t)(*q - data);
	return HTTP_PARSE_BODY;
}

enum http_result
http_parse(struct http_parser *p, const uint8_t *data, size_t len,
    size_t *consumed_r, const char **errstr_r)
{
	const uint8_t *q = data, *end = data + len;
	const char *why;

	*consumed_r = 0;
	p->data = NULL;
	p->data_len = 0;
	for (;;) {
		unsigned char c;

		switch (p->state) {
		case ST_ERROR:
			*errstr_r = "stream already failed";
			return HTTP_PARSE_ERROR;
		case ST_DONE_PENDING:
			message_done(p);
			*consumed_r = (size_t)(q - data);
			return HTTP_PARSE_DONE;
		case ST_BODY_LENGTH:
			if (p->remaining == 0) {
				message_done(p);
				*consumed_r = (size_t)(q - data);
				return HTTP_PARSE_DONE;
			}
			FALLTHROUGH;
		case ST_CHUNK_DATA:
		case ST_BODY_EOF:
			if (q == end)
				goto again;
			return body_slice(p, data, &q, end, consumed_r);
		default:
			break;
		}
		if (q == end)
			goto again;
		c = *q;
		if (in_head(p->state)) {
			if (p->pos >= p->lim.head_max)
				return fail(p, "header section too large",
				    errstr_r);
			if (++p->line_len > p->lim.line_max)
				return fail(p, "line too long", errstr_r);
			p->pos++;
		} else if (p->state >= ST_CHUNK_SIZE &&
		    p->state != ST_CHUNK_DATA && p->state != ST_CHUNK_DATA_CR &&
		    p->state != ST_CHUNK_DATA_LF) {
			if (++p->line_len > p->lim.line_max)
				return fail(p, "chunk or trailer line too long",
				    errstr_r);
			if (p->state >= ST_TRAILER_START &&
			    ++p->trailer_bytes > p->lim.head_max)
				return fail(p, "trailer section too large",
				    errstr_r);
		}
		q++;
		switch (p->state) {
		case ST_START:
			if (p->dir == HTTP_DIR_REQUEST) {
				/* RFC 9112 2.2: empty lines before a request
				 * line are ignored, a few of them. */
				if (c == '\r') {
					if (++p->blank_lines > 4)
						return fail(p, "too many empty "
						    "lines", errstr_r);
					p->state = ST_BLANK_LF;
					break;
				}
				if (!is_tchar(c))
					return fail(p, "bad method", errstr_r);
				p->head.method_off = p->pos - 1;
				p->head.method_len = 1;
				p->state = ST_METHOD;
			} else {
				if (c != HTTP_VERSION_PREFIX[0])
					return fail(p, "not an HTTP response",
					    errstr_r);
				p->idx = 1;
				p->state = ST_RESP_VERSION;
			}
			break;
		case ST_BLANK_LF:
			if (c != '\n')
				return fail(p, "bare CR", errstr_r);
			/* blank lines are no part of the message */
			p->pos = 0;
			p->line_len = 0;
			p->state = ST_START;
			break;
		case ST_METHOD:
			if (c == ' ') {
				p->state = ST_TARGET;
				p->head.target_off = p->pos;
				break;
			}
			if (!is_tchar(c))
				return fail(p, "bad method", errstr_r);
			if (++p->head.method_len > HTTP_METHOD_MAX)
				return fail(p, "method too long", errstr_r);
			break;
		case ST_TARGET:
			if (c == ' ') {
				if (p->head.target_len == 0)
					return fail(p, "empty request target",
					    errstr_r);
				p->idx = 0;
				p->state = ST_REQ_VERSION;
				break;
			}
			if (!is_vchar(c))
				return fail(p, "bad request target", errstr_r);
			p->head.target_len++;
			break;
		case ST_REQ_VERSION:
		case ST_RESP_VERSION:
			if (p->idx < sizeof(HTTP_VERSION_PREFIX) - 1) {
				if (c != HTTP_VERSION_PREFIX[p->idx++])
					return fail(p, "bad HTTP version",
					    errstr_r);
				break;
			}
			if (c != '0' && c != '1')
				return fail(p, "unsupported HTTP version",
				    errstr_r);
			p->head.version_minor = (unsigned)(c - '0');
			p->state = p->state == ST_REQ_VERSION ? ST_REQ_CR :
			    ST_RESP_SP;
			break;
		case ST_REQ_CR:
			if (c != '\r')
				return fail(p, "bad request line", errstr_r);
			p->state = ST_LINE_LF;
			break;
		case ST_RESP_SP:
			if (c != ' ')
				return fail(p, "bad status line", errstr_r);
			p->state = ST_STATUS;
			break;
		case ST_STATUS:
			if (c < '0' || c > '9' || (p->status_digits == 0 &&
			    c == '0'))
				return fail(p, "bad status code", errstr_r);
			p->head.status = p->head.status * 10 +
			    (unsigned)(c - '0');
			if (++p->status_digits == 3)
				p->state = ST_STATUS_AFTER;
			break;
		case ST_STATUS_AFTER:
			if (c == ' ')
				p->state = ST_REASON;
			else if (c == '\r')
				p->state = ST_LINE_LF;
			else
				return fail(p, "bad status line", errstr_r);
			break;
		case ST_REASON:
			if (c == '\r')
				p->state = ST_LINE_LF;
			else if (c != ' ' && c != '\t' && !is_fvchar(c))
				return fail(p, "bad reason phrase", errstr_r);
			break;
		case ST_LINE_LF:
			if (c != '\n')
				return fail(p, "bare CR", errstr_r);
			p->line_len = 0;
			p->state = ST_FIELD_START;
			break;
		case ST_FIELD_START:
			if (c == '\r') {
				p->state = ST_HEAD_LF;
				break;
			}
			if (c == ' ' || c == '\t')
				return fail(p, "obsolete line folding",
				    errstr_r);
			if (!is_tchar(c))
				return fail(p, "bad field name", errstr_r);
			p->cur.name_off = p->pos - 1;
			p->cur.name_len = 1;
			p->name_cand = 0;
			for (int i = 0; i < KNOWN_COUNT; i++)
				if (known_names[i][0] == (c | 0x20))
					p->name_cand |= 1u << i;
			p->state = ST_NAME;
			break;
		case ST_NAME:
			if (c == ':') {
				p->known = KNOWN_NONE;
				for (int i = 0; i < KNOWN_COUNT; i++)
					if ((p->name_cand & (1u << i)) &&
					    strlen(known_names[i]) ==
					    p->cur.name_len)
						p->known = i;
				p->num = 0;
				p->num_digits = 0;
				tok_reset(p);
				p->cur.value_off = p->value_end = p->pos;
				p->idx = 0;	/* 0: still in leading OWS */
				p->state = ST_VALUE;
				break;
			}
			if (!is_tchar(c))
				return fail(p, c == ' ' || c == '\t' ?
				    "white space before a field's colon" :
				    "bad field name", errstr_r);
			for (int i = 0; i < KNOWN_COUNT; i++)
				if ((p->name_cand & (1u << i)) &&
				    (p->cur.name_len >= strlen(known_names[i])
				    || known_names[i][p->cur.name_len] !=
				    (char)(c >= 'A' && c <= 'Z' ? c | 0x20 :
				    c)))
					p->name_cand &= ~(1u << i);
			p->cur.name_len++;
			break;
		case ST_VALUE:
			if (c == '\r') {
				p->state = ST_FIELD_LF;
				break;
			}
			if (c == ' ' || c == '\t') {
				if (p->idx == 0)
					p->cur.value_off = p->value_end =
					    p->pos;
			} else if (is_fvchar(c)) {
				p->idx = 1;
				p->value_end = p->pos;
			} else {
				return fail(p, "control character in a field",
				    errstr_r);
			}
			if ((why = value_byte(p, c)) != NULL)
				return fail(p, why, errstr_r);
			break;
		case ST_FIELD_LF:
			if (c != '\n')
				return fail(p, "bare CR", errstr_r);
			if ((why = field_finish(p)) != NULL)
				return fail(p, why, errstr_r);
			p->line_len = 0;
			p->state = ST_FIELD_START;
			break;
		case ST_HEAD_LF:
			if (c != '\n')
				return fail(p, "bare CR", errstr_r);
			if ((why = head_finish(p)) != NULL)
				return fail(p, why, errstr_r);
			*consumed_r = (size_t)(q - data);
			return HTTP_PARSE_HEAD;
		case ST_CHUNK_SIZE: {
			int v = hex_value(c);

			if (v >= 0) {
				if (++p->chunk_digits > CHUNK_DIGITS_MAX)
					return fail(p, "chunk size too large",
					    errstr_r);
				p->remaining = p->remaining * 16 +
				    (uint64_t)v;
				break;
			}
			if (p->chunk_digits == 0)
				return fail(p, "bad chunk size", errstr_r);
			if (c == '\r')
				p->state = ST_CHUNK_SIZE_LF;
			else if (c == ';' || c == ' ' || c == '\t')
				p->state = ST_CHUNK_EXT;
			else
				return fail(p, "bad chunk size", errstr_r);
			break;
		}
		case ST_CHUNK_EXT:
			if (c == '\r')
				p->state = ST_CHUNK_SIZE_LF;
			else if (c != '\t' && (c < 0x20 || c == 0x7f))
				return fail(p, "bad chunk extension", errstr_r);
			break;
		case ST_CHUNK_SIZE_LF:
			if (c != '\n')
				return fail(p, "bare CR", errstr_r);
			p->line_len = 0;
			p->chunk_digits = 0;
			if (p->remaining == 0) {
				p->trailers = 0;
				p->trailer_bytes = 0;
				p->state = ST_TRAILER_START;
			} else {
				p->state = ST_CHUNK_DATA;
			}
			break;
		case ST_CHUNK_DATA_CR:
			if (c != '\r')
				return fail(p, "chunk data longer than its size",
				    errstr_r);
			p->state = ST_CHUNK_DATA_LF;
			break;
		case ST_CHUNK_DATA_LF:
			if (c != '\n')
				return fail(p, "bare CR", errstr_r);
			p->line_len = 0;
			p->state = ST_CHUNK_SIZE;
			break;
		case ST_TRAILER_START:
			if (c == '\r') {
				p->state = ST_TRAILER_END_LF;
				break;
			}
			if (!is_tchar(c))
				return fail(p, "bad trailer field", errstr_r);
			if (++p->trailers > p->lim.fields_max)
				return fail(p, "too many trailer fields",
				    errstr_r);
			p->state = ST_TRAILER_LINE;
			break;
		case ST_TRAILER_LINE:
			if (c == '\r')
				p->state = ST_TRAILER_LF;
			else if (c != '\t' && (c < 0x20 || c == 0x7f))
				return fail(p, "control character in a trailer",
				    errstr_r);
			break;
		case ST_TRAILER_LF:
			if (c != '\n')
				return fail(p, "bare CR", errstr_r);
			p->line_len = 0;
			p->state = ST_TRAILER_START;
			break;
		case ST_TRAILER_END_LF:
			if (c != '\n')
				return fail(p, "bare CR", errstr_r);
			message_done(p);
			*consumed_r = (size_t)(q - data);
			return HTTP_PARSE_DONE;
		default:
			return fail(p, "internal state", errstr_r);
		}
	}
again:
	*consumed_r = len;
	return HTTP_PARSE_AGAIN;
}

enum http_result
http_parser_eof(struct http_parser *p, const char **errstr_r)
{
	if (p->state == ST_BODY_EOF || p->state == ST_DONE_PENDING ||
	    (p->state == ST_BODY_LENGTH && p->remaining == 0) ||
	    http_parser_idle(p) || p->state == ST_BLANK_LF) {
		if (p->state != ST_START)
			message_done(p);
		return HTTP_PARSE_DONE;
	}
	if (p->state == ST_ERROR) {
		*errstr_r = "stream already failed";
		return HTTP_PARSE_ERROR;
	}
	return fail(p, "connection closed inside a message", errstr_r);
}

bool
http_field_is(const uint8_t *buf, const struct http_field *f,
    const char *name)
{
	size_t n = strlen(name);

	return f->name_len == n &&
	    strncasecmp((const char *)buf + f->name_off, name, n) == 0;
}

const struct http_field *
http_head_field(const struct http_head *h, const uint8_t *buf,
    const char *name)
{
	for (unsigned i = 0; i < h->nfields; i++)
		if (http_field_is(buf, &h->fields[i], name))
			return &h->fields[i];
	return NULL;
}
