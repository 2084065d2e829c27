/*
 * caldav.c - see caldav.h.
 *
 * Requests (client -> server): each head is held in the input buffer until
 * it is complete (head_max bounds it), routed, then passed on unchanged;
 * the body follows as it arrives.  A request that does not parse is never
 * passed on: the client gets 400 (or the connection closes if answers are
 * still due), so nothing the parser did not understand can reach the
 * server as a smuggled second request (RFC 9112 11.2).
 *
 * Responses (server -> client) are matched to requests in order (the
 * pipeline queue).  The tap sees what it needs as it passes: a PUT body is
 * kept (up to object_max) until the server's 2xx; a multistatus answer is
 * parsed as it streams.  Neither ever delays a byte.  If the server's
 * stream does not parse, the session relays blind (STYLE 13) and the tap
 * stops for it.
 *
 * Backpressure as in relay.c: reading from one side stops while the output
 * towards the other is over buffer_high, and resumes below buffer_low.
 */
#include "proxy/caldav.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "lib/log.h"
#include "lib/xmalloc.h"
#include "proxy/caldav_tap.h"
#include "proxy/http_parse.h"
#include "proxy/limits.h"
#include "proxy/proxy_proto.h"
#include "proxy/sasl.h"
#include "proxy/upconn.h"
#include "proxy/worker.h"

#define CALDAV_PIPELINE_MAX 16
#define CALDAV_USER_MAX 256
#define CALDAV_IO_CHUNK ((size_t)64 * 1024)

enum { CD_CLIENT = 0, CD_SERVER = 1 };

enum cd_kind {
	CD_OTHER,
	CD_PUT,			/* a text/calendar PUT: body kept for the tap */
	CD_DELETE,		/* DELETE of an object (not a collection) */
	CD_MULTISTATUS,		/* REPORT / PROPFIND: answer read by the tap */
};

/* One request whose answer is still due. */
struct cd_req {
	enum cd_kind kind;
	bool head;		/* HEAD: the answer has no body */
	bool connect;		/* CONNECT: a 2xx opens a tunnel */
	bool req_done;		/* the request's last byte went up */
	bool resp_ok;		/* final answer 2xx */
	bool too_big;
	char *user;		/* for the tap; NULL when nobody is known */
	char *href;
	uint8_t *body;
	size_t body_len, body_cap;
};

struct caldav_session {
	TAILQ_ENTRY(caldav_session) entry;
	struct worker *w;
	const struct listen_conf *lc;
	const struct caldav_conf *cc;
	char id[24];
	bool closing;
	int fd;
	struct bufferevent *cbev, *ubev;
	const struct upstream_conf *up;
	struct http_parser rq, rs;
	size_t scanned[2];	/* parsed, not yet passed on, per side */
	bool paused[2];
	bool held;		/* a request waits for an upstream switch */
	bool client_done;	/* no more requests are read */
	bool resp_blind;	/* the server's stream is not understood */
	bool tunnel;		/* after 101 / CONNECT 2xx: bytes only */
	bool resp_in_body, resp_final, resp_close, resp_started;
	bool up_connected;
	struct event *timer;
	struct event *header_ev;	/* PROXY header wait */
	time_t last_activity;
	char peer_ip[64];
	uint32_t ip_hash;
	bool ip_counted;
	char *last_user;	/* for the close line */
	struct cd_req q[CALDAV_PIPELINE_MAX];
	unsigned qhead, qlen;
	struct cd_req *cur;	/* the request whose body is streaming */
	size_t tap_held;	/* PUT body bytes kept for the tap, all
				 * pipelined requests: <= object_max */
	struct caldav_report *report;
	uint64_t bytes[2];
	unsigned requests;
};

#define cd_log(lvl, s, fmt, ...) \
	lvl("session=%s caldav " fmt, (s)->id, ##__VA_ARGS__)

static void cd_pump_client(struct caldav_session *s);
static void cd_pump_server(struct caldav_session *s);
static void cd_close(struct caldav_session *s, const char *reason);
static int cd_request_head(struct caldav_session *s);

static struct bufferevent *
cd_bev(struct caldav_session *s, int side)
{
	return side == CD_CLIENT ? s->cbev : s->ubev;
}

static size_t
cd_high(const struct caldav_session *s)
{
	return (size_t)s->w->conf->limits.buffer_high;
}

static struct cd_req *
cd_front(struct caldav_session *s)
{
	return s->qlen > 0 ? &s->q[s->qhead] : NULL;
}

static void
cd_req_clear(struct caldav_session *s, struct cd_req *q)
{
	s->tap_held -= q->body_len;
	free(q->user);
	free(q->href);
	free(q->body);
	memset(q, 0, sizeof(*q));
}

/* ---- life ----------------------------------------------------------- */

static void
cd_free_cb(evutil_socket_t fd, short what, void *arg)
{
	struct caldav_session *s = arg;
	struct worker *w = s->w;

	(void)fd;
	(void)what;
	caldav_report_free(&s->report);
	if (s->ubev != NULL)
		bufferevent_free(s->ubev);
	if (s->cbev != NULL)
		bufferevent_free(s->cbev);
	else if (s->fd >= 0)
		close(s->fd);
	if (s->timer != NULL)
		event_free(s->timer);
	if (s->header_ev != NULL)
		event_free(s->header_ev);
	for (unsigned i = 0; i < CALDAV_PIPELINE_MAX; i++)
		cd_req_clear(s, &s->q[i]);
	if (s->ip_counted)
		limits_release(LIMITS_IP, s->ip_hash);
	free(s->last_user);
	TAILQ_REMOVE(&w->caldav_sessions, s, entry);
	free(s);
	worker_session_gone(w);
}

static void
cd_free_later(struct caldav_session *s)
{
	static const struct timeval zero = { 0, 0 };

	if (s->timer != NULL)
		event_del(s->timer);
	if (s->header_ev != NULL)
		event_del(s->header_ev);
	if (s->cbev != NULL)
		bufferevent_disable(s->cbev, EV_READ | EV_WRITE);
	if (s->ubev != NULL)
		bufferevent_disable(s->ubev, EV_READ | EV_WRITE);
	event_base_once(s->w->base, -1, EV_TIMEOUT, cd_free_cb, s, &zero);
}

static void
cd_flushed(struct bufferevent *bev, void *arg)
{
	(void)bev;
	cd_free_later(arg);
}

static void
cd_flush_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	cd_free_later(arg);
}

static void
cd_close(struct caldav_session *s, const char *reason)
{
	if (s->closing)
		return;
	s->closing = true;
	cd_log(log_info, s, "closed: %s (user=%s requests=%u in=%llu "
	    "out=%llu)", reason, s->last_user ? s->last_user : "-",
	    s->requests, (unsigned long long)s->bytes[CD_CLIENT],
	    (unsigned long long)s->bytes[CD_SERVER]);
	caldav_report_free(&s->report);
	if (s->ubev != NULL)
		bufferevent_disable(s->ubev, EV_READ | EV_WRITE);
	if (s->cbev != NULL &&
	    evbuffer_get_length(bufferevent_get_output(s->cbev)) > 0) {
		/* Let what is owed reach the client, but never wait long. */
		struct timeval tv = { 5, 0 };

		bufferevent_disable(s->cbev, EV_READ);
		bufferevent_setwatermark(s->cbev, EV_WRITE, 0, 0);
		bufferevent_setcb(s->cbev, NULL, cd_flushed, cd_flush_event, s);
		bufferevent_set_timeouts(s->cbev, NULL, &tv);
		bufferevent_enable(s->cbev, EV_WRITE);
		if (s->timer != NULL)
			event_del(s->timer);
		return;
	}
	cd_free_later(s);
}

/* An answer of our own; only when no answer is being passed on. */
static void
cd_reply(struct caldav_session *s, int code, const char *reason,
    const char *text)
{
	if (s->cbev != NULL && !s->resp_started)
		evbuffer_add_printf(bufferevent_get_output(s->cbev),
		    "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8"
		    "\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s\n",
		    code, reason, strlen(text) + 1, text);
	s->client_done = true;
	cd_close(s, reason);
}

/* ---- moving bytes --------------------------------------------------- */

static void
cd_forward(struct caldav_session *s, int side)
{
	struct bufferevent *src = cd_bev(s, side), *dst = cd_bev(s, !side);
	size_t n = s->scanned[side];
	int moved;

	s->scanned[side] = 0;
	if (n == 0 || src == NULL)
		return;
	if (dst == NULL) {
		evbuffer_drain(bufferevent_get_input(src), n);
		return;
	}
	moved = evbuffer_remove_buffer(bufferevent_get_input(src),
	    bufferevent_get_output(dst), n);
	if (moved > 0)
		s->bytes[side] += (uint64_t)moved;
	if (side == CD_SERVER)
		s->resp_started = true;
}

static void
cd_pause(struct caldav_session *s, int side)
{
	if (s->paused[side] || cd_bev(s, side) == NULL)
		return;
	s->paused[side] = true;
	bufferevent_disable(cd_bev(s, side), EV_READ);
}

static void
cd_resume(struct caldav_session *s, int side)
{
	if (!s->paused[side] || cd_bev(s, side) == NULL || s->closing)
		return;
	s->paused[side] = false;
	bufferevent_enable(cd_bev(s, side), EV_READ);
}

/* ---- upstream ------------------------------------------------------- */

static void cd_server_read(struct bufferevent *bev, void *arg);
static void cd_server_write(struct bufferevent *bev, void *arg);
static void cd_server_event(struct bufferevent *bev, short what, void *arg);

static void
cd_upstream_drop(struct caldav_session *s)
{
	if (s->ubev != NULL) {
		bufferevent_free(s->ubev);
		s->ubev = NULL;
	}
	s->up = NULL;
	s->up_connected = false;
	s->paused[CD_SERVER] = false;
	s->scanned[CD_SERVER] = 0;
	s->resp_blind = false;
	http_parser_init(&s->rs, HTTP_DIR_RESPONSE, &(struct http_limits){
	    .line_max = 16384, .head_max = (uint32_t)s->cc->head_max });
}

static int
cd_upstream_open(struct caldav_session *s, const struct upstream_conf *up)
{
	const struct limits_conf *lim = &s->w->conf->limits;
	const char *why = NULL;

	struct upconn_target t = {
		.host = up->host,
		.port = up->port,
		.tls = up->tls == TLS_MODE_IMPLICIT,
		.ssl_ctx = up->ssl_ctx,
		.server_name = up->server_name,
		.verify = up->verify,
	};
	struct timeval tv = { (time_t)lim->connect_timeout, 0 };

	cd_upstream_drop(s);
	s->ubev = upconn_connect(s->w->base, s->w->dns, &t, &why);
	if (s->ubev == NULL) {
		cd_log(log_warnx, s, "upstream %s (%s) unavailable: %s",
		    up->name, up->address, why);
		return -1;
	}
	s->up = up;
	bufferevent_set_timeouts(s->ubev, &tv, &tv);
	bufferevent_setcb(s->ubev, cd_server_read, cd_server_write,
	    cd_server_event, s);
	bufferevent_set_max_single_read(s->ubev, CALDAV_IO_CHUNK);
	bufferevent_set_max_single_write(s->ubev, CALDAV_IO_CHUNK);
	bufferevent_setwatermark(s->ubev, EV_READ, 0,
	    cd_high(s) > s->cc->head_max + 1024 ? cd_high(s) :
	    (size_t)s->cc->head_max + 1024);
	bufferevent_setwatermark(s->ubev, EV_WRITE, (size_t)lim->buffer_low,
	    0);
	bufferevent_enable(s->ubev, EV_READ | EV_WRITE);
	cd_log(log_debug, s, "connecting to %s (%s, tls=%s)", up->name,
	    up->address, tls_mode_name(up->tls));
	return 0;
}

/* ---- requests ------------------------------------------------------- */

/* The Basic user name, if any: decoded, cut at ':', the rest wiped. */
static char *
cd_basic_user(const uint8_t *buf, const struct http_field *f)
{
	const char *v = (const char *)buf + f->value_off;
	size_t len = f->value_len, cap;
	unsigned char *raw;
	char *colon, *user = NULL;
	long n;

	if (len < 7 || strncasecmp(v, "Basic ", 6) != 0)
		return NULL;
	v += 6;
	len -= 6;
	while (len > 0 && *v == ' ') {
		v++;
		len--;
	}
	cap = len / 4 * 3 + 3;
	raw = xmalloc(cap + 1);
	n = sasl_base64_decode(v, len, raw, cap);
	if (n > 0) {
		raw[n] = '\0';
		colon = memchr(raw, ':', (size_t)n);
		if (colon != NULL && colon > (char *)raw &&
		    colon - (char *)raw <= CALDAV_USER_MAX &&
		    memchr(raw, '\0', (size_t)(colon - (char *)raw)) == NULL)
			user = xstrndup((char *)raw,
			    (size_t)(colon - (char *)raw));
		explicit_bzero(raw, (size_t)n);
	}
	free(raw);
	return user;
}

/* Without a user name (Bearer, cookies) the tap files events under the
 * first segment of the path, skipping the usual prefixes: /alice/...,
 * /calendars/alice/..., /dav/calendars/alice/... */
static char *
cd_path_user(const char *target, size_t len)
{
	static const char *const skip[] = { "dav", "caldav", "calendars",
	    "remote.php", NULL };
	size_t i = 0;

	while (i < len) {
		size_t start, n;
		bool skipped = false;

		while (i < len && target[i] == '/')
			i++;
		start = i;
		while (i < len && target[i] != '/' && target[i] != '?')
			i++;
		n = i - start;
		if (n == 0 || i >= len || target[i] != '/')
			return NULL;	/* an object name, not a home */
		for (int k = 0; skip[k] != NULL; k++)
			if (strlen(skip[k]) == n &&
			    strncasecmp(target + start, skip[k], n) == 0)
				skipped = true;
		if (!skipped)
			return n <= CALDAV_USER_MAX ?
			    xstrndup(target + start, n) : NULL;
	}
	return NULL;
}

static bool
cd_value_has(const uint8_t *buf, const struct http_field *f,
    const char *word)
{
	size_t n = strlen(word);

	for (uint32_t i = 0; i + n <= f->value_len; i++)
		if (strncasecmp((const char *)buf + f->value_off + i, word,
		    n) == 0)
			return true;
	return false;
}

static void
cd_host(const uint8_t *buf, const struct http_field *f, char *out,
    size_t size)
{
	const char *v = (const char *)buf + f->value_off;
	size_t n = f->value_len;

	out[0] = '\0';
	if (n > 0 && v[0] == '[') {
		const char *e = memchr(v, ']', n);

		n = e != NULL ? (size_t)(e - v) + 1 : n;
	} else {
		const char *c = memchr(v, ':', n);

		if (c != NULL)
			n = (size_t)(c - v);
	}
	if (n < size)
		snprintf(out, size, "%.*s", (int)n, v);
}

/* A complete request head sits in the input: route it, queue it, pass it
 * on.  0: carry on; 1: held until the answers due are in; -1: closed. */
static int
cd_request_head(struct caldav_session *s)
{
	const struct http_head *h = &s->rq.head;
	struct evbuffer *in = bufferevent_get_input(s->cbev);
	size_t n = s->scanned[CD_CLIENT];
	const uint8_t *buf = evbuffer_pullup(in, (ssize_t)n) +
	    (n - h->head_len);
	const char *method = (const char *)buf + h->method_off;
	const char *target = (const char *)buf + h->target_off;
	const struct http_field *f;
	const struct upstream_conf *up;
	struct cd_req *q;
	char host[256] = "", *user = NULL;

	if ((f = http_head_field(h, buf, "authorization")) != NULL)
		user = cd_basic_user(buf, f);
	if ((f = http_head_field(h, buf, "host")) != NULL)
		cd_host(buf, f, host, sizeof(host));
	up = config_route_caldav(s->w->conf, user, host[0] ? host : NULL);
	if (up == NULL) {
		cd_log(log_warnx, s, "no route for user=%s host=%s",
		    user ? user : "-", host[0] ? host : "-");
		free(user);
		cd_reply(s, 502, "Bad Gateway",
		    "No calendar server is configured for this account.");
		return -1;
	}
	if (s->ubev != NULL && up != s->up) {
		if (s->resp_blind) {
			free(user);
			cd_close(s, "route changed on a blind connection");
			return -1;
		}
		if (s->qlen > 0) {
			/* Answers from the old server are still due. */
			free(user);
			s->held = true;
			return 1;
		}
		cd_upstream_drop(s);
	}
	if (s->ubev == NULL && cd_upstream_open(s, up) != 0) {
		free(user);
		cd_reply(s, 502, "Bad Gateway",
		    "Calendar server unavailable, try again later.");
		return -1;
	}
	if (user != NULL) {
		free(s->last_user);
		s->last_user = xstrdup(user);
	}
	s->requests++;
	cd_log(log_debug, s, "%.*s %.*s user=%s via %s", (int)h->method_len,
	    method, (int)h->target_len, target, user ? user : "-",
	    up->name);
	if (s->resp_blind) {
		free(user);
		s->cur = NULL;
		cd_forward(s, CD_CLIENT);
		return 0;
	}
	q = &s->q[(s->qhead + s->qlen++) % CALDAV_PIPELINE_MAX];
	memset(q, 0, sizeof(*q));
	q->user = user != NULL ? user : cd_path_user(target, h->target_len);
#define IS(m) (h->method_len == strlen(m) && memcmp(method, m, h->method_len) \
	== 0)
	q->head = IS("HEAD");
	q->connect = IS("CONNECT");
	if (caldav_tap_enabled() && q->user != NULL) {
		if (IS("PUT") && (f = http_head_field(h, buf,
		    "content-type")) != NULL && cd_value_has(buf, f,
		    "text/calendar") && http_head_field(h, buf,
		    "content-encoding") == NULL)
			q->kind = CD_PUT;
		else if (IS("DELETE") && target[h->target_len - 1] != '/')
			q->kind = CD_DELETE;
		else if (IS("REPORT") || IS("PROPFIND"))
			q->kind = CD_MULTISTATUS;
		if (q->kind == CD_PUT || q->kind == CD_DELETE)
			q->href = xstrndup(target, h->target_len);
	}
#undef IS
	if (!h->keep_alive)
		s->client_done = true;	/* the last request on it */
	s->cur = q;
	cd_forward(s, CD_CLIENT);
	return 0;
}

static void
cd_tee(struct caldav_session *s, const uint8_t *p, size_t n)
{
	struct cd_req *q = s->cur;

	if (q == NULL || q->kind != CD_PUT || q->too_big)
		return;
	/* The bound is per session, not per request: pipelined PUTs
	 * waiting for their answers share one object_max. */
	if (s->tap_held + n > s->cc->object_max) {
		q->too_big = true;
		caldav_tap_count_too_big();
		s->tap_held -= q->body_len;
		x_free(&q->body);
		q->body_len = q->body_cap = 0;
		return;
	}
	if (q->body_len + n > q->body_cap) {
		size_t cap = q->body_cap ? q->body_cap : 4096;

		while (cap < q->body_len + n)
			cap *= 2;
		q->body = xreallocarray(q->body, cap, 1);
		q->body_cap = cap;
	}
	memcpy(q->body + q->body_len, p, n);
	q->body_len += n;
	s->tap_held += n;
}

static void
cd_publish_put(struct caldav_session *s, struct cd_req *q)
{
	if (q->kind == CD_PUT && q->req_done && q->resp_ok && !q->too_big) {
		caldav_tap_put(s->id, q->user, q->href, q->body, q->body_len);
		q->kind = CD_OTHER;
		s->tap_held -= q->body_len;
		x_free(&q->body);
		q->body_len = q->body_cap = 0;
	}
}

static void
cd_request_done(struct caldav_session *s)
{
	if (s->cur != NULL) {
		s->cur->req_done = true;
		cd_publish_put(s, s->cur);
	}
	s->cur = NULL;
}

static void
cd_request_error(struct caldav_session *s, const char *err)
{
	cd_log(log_info, s, "bad request from %s: %s", s->peer_ip, err);
	if (s->cur != NULL) {
		/* Part of this request is already upstream. */
		cd_close(s, "bad request body");
		return;
	}
	s->client_done = true;
	if (s->qlen == 0)
		cd_reply(s, strstr(err, "too") != NULL ? 431 : 400,
		    strstr(err, "too") != NULL ?
		    "Request Header Fields Too Large" : "Bad Request", err);
	/* else: closed once the answers due have been passed on */
}

static void
cd_pump_client(struct caldav_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->cbev);

	s->last_activity = time(NULL);
	if (s->tunnel) {
		/* Another protocol now (RFC 9110 7.8): bytes, unparsed. */
		s->scanned[CD_CLIENT] = evbuffer_get_length(in);
		cd_forward(s, CD_CLIENT);
		return;
	}
	while (!s->closing && !s->held && (!s->client_done || s->cur != NULL)) {
		struct evbuffer_ptr pos;
		struct evbuffer_iovec v;
		const char *err = NULL;
		size_t used = 0;

		if (s->ubev != NULL && evbuffer_get_length(
		    bufferevent_get_output(s->ubev)) >= cd_high(s)) {
			cd_pause(s, CD_CLIENT);
			return;
		}
		if (s->cur == NULL && s->qlen == CALDAV_PIPELINE_MAX) {
			cd_pause(s, CD_CLIENT);
			return;
		}
		if (evbuffer_get_length(in) <= s->scanned[CD_CLIENT]) {
			/* A message that ended with the input still owes
			 * its DONE: ask once more with nothing new. */
			v.iov_base = (void *)"";
			v.iov_len = 0;
		} else if (evbuffer_ptr_set(in, &pos, s->scanned[CD_CLIENT],
		    EVBUFFER_PTR_SET) != 0 ||
		    evbuffer_peek(in, -1, &pos, &v, 1) < 1) {
			return;
		}
		switch (http_parse(&s->rq, v.iov_base, v.iov_len, &used,
		    &err)) {
		case HTTP_PARSE_AGAIN:
			s->scanned[CD_CLIENT] += used;
			if (s->cur != NULL)
				cd_forward(s, CD_CLIENT);
			if (v.iov_len == 0)
				return;
			break;
		case HTTP_PARSE_HEAD:
			s->scanned[CD_CLIENT] += used;
			if (cd_request_head(s) != 0)
				return;
			break;
		case HTTP_PARSE_BODY:
			cd_tee(s, s->rq.data, s->rq.data_len);
			s->scanned[CD_CLIENT] += used;
			cd_forward(s, CD_CLIENT);
			break;
		case HTTP_PARSE_DONE:
			s->scanned[CD_CLIENT] += used;
			cd_forward(s, CD_CLIENT);
			cd_request_done(s);
			if (s->client_done)
				cd_pause(s, CD_CLIENT);
			break;
		case HTTP_PARSE_ERROR:
			cd_request_error(s, err);
			return;
		}
	}
}

/* ---- responses ------------------------------------------------------ */

static void
cd_response_head(struct caldav_session *s)
{
	const struct http_head *h = &s->rs.head;
	struct cd_req *q = cd_front(s);
	size_t n = s->scanned[CD_SERVER];
	const uint8_t *buf;
	const struct http_field *f;

	s->resp_in_body = h->body != HTTP_BODY_NONE;
	s->resp_final = h->status >= 200;
	s->resp_close = !h->keep_alive;
	if (h->status == 101 || (q != NULL && q->connect && h->status >= 200 &&
	    h->status < 300)) {
		cd_log(log_info, s, "connection switched to a tunnel (%u); "
		    "relaying bytes only", h->status);
		s->tunnel = true;
		s->resp_close = false;
		s->resp_in_body = false;
		caldav_report_free(&s->report);
		for (unsigned i = 0; i < CALDAV_PIPELINE_MAX; i++)
			cd_req_clear(s, &s->q[i]);
		s->qlen = 0;
		s->cur = NULL;
		s->client_done = false;
		cd_resume(s, CD_CLIENT);
		return;
	}
	if (!s->resp_final || q == NULL)
		return;
	q->resp_ok = h->status >= 200 && h->status < 300;
	if (!q->resp_ok || q->kind == CD_OTHER)
		return;
	if (q->kind == CD_PUT) {
		cd_publish_put(s, q);
	} else if (q->kind == CD_DELETE) {
		caldav_tap_delete(s->id, q->user, q->href);
	} else if (q->kind == CD_MULTISTATUS && h->status == 207 &&
	    h->body != HTTP_BODY_NONE) {
		bool compressed = false;

		buf = evbuffer_pullup(bufferevent_get_input(s->ubev),
		    (ssize_t)n) + (n - h->head_len);
		if ((f = http_head_field(h, buf, "content-type")) == NULL ||
		    !cd_value_has(buf, f, "xml"))
			return;
		if ((f = http_head_field(h, buf, "content-encoding")) !=
		    NULL) {
			if (cd_value_has(buf, f, "gzip") ||
			    cd_value_has(buf, f, "deflate")) {
				compressed = true;
			} else if (!cd_value_has(buf, f, "identity")) {
				caldav_tap_count_blind();
				return;
			}
		}
		s->report = caldav_report_new(s->id, q->user, compressed);
	}
}

static void
cd_response_done(struct caldav_session *s)
{
	struct cd_req *q = cd_front(s);

	s->resp_in_body = false;
	caldav_report_free(&s->report);
	if (!s->resp_final)
		return;		/* 1xx: the real answer follows */
	s->resp_started = false;
	if (q != NULL) {
		if (s->cur == q)
			s->cur = NULL;	/* answered before it ended */
		cd_req_clear(s, q);
		s->qhead = (s->qhead + 1) % CALDAV_PIPELINE_MAX;
		s->qlen--;
	}
	if (s->resp_close) {
		/* The server ends the connection, and told the client so. */
		cd_close(s, "server closed the connection");
		return;
	}
	if (s->qlen > 0)
		return;
	if (s->held) {
		s->held = false;
		cd_upstream_drop(s);
		if (cd_request_head(s) != 0)
			return;
	} else if (s->client_done && s->cur == NULL) {
		cd_close(s, "done");
		return;
	}
	if (s->paused[CD_CLIENT] && !s->client_done)
		cd_resume(s, CD_CLIENT);
	cd_pump_client(s);
}

static void
cd_pump_server(struct caldav_session *s)
{
	struct evbuffer *in;

	if (s->ubev == NULL)
		return;
	in = bufferevent_get_input(s->ubev);
	s->last_activity = time(NULL);
	while (!s->closing && s->ubev != NULL) {
		struct evbuffer_ptr pos;
		struct evbuffer_iovec v;
		const char *err = NULL;
		size_t used = 0;

		if (evbuffer_get_length(bufferevent_get_output(s->cbev)) >=
		    cd_high(s)) {
			cd_pause(s, CD_SERVER);
			return;
		}
		if (s->resp_blind || s->tunnel) {
			if (evbuffer_get_length(in) == 0)
				return;
			s->scanned[CD_SERVER] = evbuffer_get_length(in);
			cd_forward(s, CD_SERVER);
			continue;
		}
		if (http_parser_idle(&s->rs)) {
			struct cd_req *q = cd_front(s);

			if (evbuffer_get_length(in) == 0)
				return;
			http_parser_set_head_request(&s->rs, q != NULL &&
			    q->head);
		}
		if (evbuffer_get_length(in) <= s->scanned[CD_SERVER]) {
			v.iov_base = (void *)"";	/* a DONE owed */
			v.iov_len = 0;
		} else if (evbuffer_ptr_set(in, &pos, s->scanned[CD_SERVER],
		    EVBUFFER_PTR_SET) != 0 ||
		    evbuffer_peek(in, -1, &pos, &v, 1) < 1) {
			return;
		}
		switch (http_parse(&s->rs, v.iov_base, v.iov_len, &used,
		    &err)) {
		case HTTP_PARSE_AGAIN:
			s->scanned[CD_SERVER] += used;
			if (s->resp_in_body)
				cd_forward(s, CD_SERVER);
			if (v.iov_len == 0)
				return;
			break;
		case HTTP_PARSE_HEAD:
			s->scanned[CD_SERVER] += used;
			cd_response_head(s);
			cd_forward(s, CD_SERVER);
			if (s->tunnel)
				cd_pump_client(s);
			break;
		case HTTP_PARSE_BODY:
			if (s->report != NULL)
				caldav_report_feed(s->report, s->rs.data,
				    s->rs.data_len);
			s->scanned[CD_SERVER] += used;
			cd_forward(s, CD_SERVER);
			break;
		case HTTP_PARSE_DONE:
			s->scanned[CD_SERVER] += used;
			cd_forward(s, CD_SERVER);
			cd_response_done(s);
			break;
		case HTTP_PARSE_ERROR:
			cd_log(log_warnx, s, "server stream not understood "
			    "(%s); relaying blind", err);
			caldav_tap_count_blind();
			caldav_report_free(&s->report);
			s->resp_blind = true;
			for (unsigned i = 0; i < CALDAV_PIPELINE_MAX; i++)
				cd_req_clear(s, &s->q[i]);
			s->qlen = 0;
			s->cur = NULL;
			break;
		}
	}
}

static void
cd_server_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	cd_pump_server(arg);
}

static void
cd_server_write(struct bufferevent *bev, void *arg)
{
	struct caldav_session *s = arg;

	(void)bev;
	if (s->paused[CD_CLIENT] && !s->client_done && !s->closing) {
		cd_resume(s, CD_CLIENT);
		cd_pump_client(s);
	}
}

static void
cd_server_event(struct bufferevent *bev, short what, void *arg)
{
	struct caldav_session *s = arg;
	const char *err = NULL;
	char why[512];

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		/* From now on the idle timer rules, not connect_timeout. */
		struct timeval tv = { (time_t)s->cc->idle_timeout, 0 };

		s->up_connected = true;
		bufferevent_set_timeouts(s->ubev, &tv, &tv);
		upconn_nodelay(s->ubev);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		cd_pump_server(s);
		if (s->closing || s->ubev == NULL)
			return;
		if (!s->resp_blind && !http_parser_idle(&s->rs)) {
			if (http_parser_eof(&s->rs, &err) == HTTP_PARSE_DONE) {
				s->scanned[CD_SERVER] = evbuffer_get_length(
				    bufferevent_get_input(s->ubev));
				cd_forward(s, CD_SERVER);
				s->resp_close = true;
				cd_response_done(s);
				return;
			}
			cd_close(s, "server closed the connection inside an "
			    "answer");
			return;
		}
		if (s->qlen == 0 && !s->resp_blind) {
			/* An idle keep-alive connection timed out at the
			 * server: the next request opens a new one. */
			cd_upstream_drop(s);
			if (s->client_done)
				cd_close(s, "done");
			return;
		}
		if (s->resp_started || s->resp_blind)
			cd_close(s, "server closed the connection");
		else
			cd_reply(s, 502, "Bad Gateway",
			    "The calendar server closed the connection.");
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		snprintf(why, sizeof(why), "timed out");
	else
		upconn_error(s->ubev, what, why, sizeof(why));
	cd_log(log_warnx, s, "upstream %s (%s): %s", s->up ? s->up->name : "-",
	    s->up ? s->up->address : "-", why);
	if (s->qlen == 0 && !(what & BEV_EVENT_ERROR) && s->up_connected) {
		cd_upstream_drop(s);
		return;
	}
	if (s->resp_started)
		cd_close(s, "server connection error");
	else
		cd_reply(s, (what & BEV_EVENT_TIMEOUT) ? 504 : 502,
		    (what & BEV_EVENT_TIMEOUT) ? "Gateway Timeout" :
		    "Bad Gateway",
		    "Calendar server unavailable, try again later.");
}

/* ---- client --------------------------------------------------------- */

static void
cd_client_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	cd_pump_client(arg);
}

static void
cd_client_write(struct bufferevent *bev, void *arg)
{
	struct caldav_session *s = arg;

	(void)bev;
	if (s->paused[CD_SERVER] && !s->closing) {
		cd_resume(s, CD_SERVER);
		cd_pump_server(s);
	}
}

static void
cd_client_event(struct bufferevent *bev, short what, void *arg)
{
	struct caldav_session *s = arg;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED)
		return;
	if (what & BEV_EVENT_ERROR) {
		unsigned long e = s->lc->tls != TLS_MODE_NONE ?
		    bufferevent_get_openssl_error(s->cbev) : 0;

		if (e != 0) {
			char msg[256];

			ERR_error_string_n(e, msg, sizeof(msg));
			cd_log(log_info, s, "client TLS error: %s", msg);
			cd_close(s, "client TLS error");
			return;
		}
	}
	cd_close(s, what & BEV_EVENT_EOF ? "client disconnected" :
	    "client connection error");
}

static void
cd_timer(evutil_socket_t fd, short what, void *arg)
{
	struct caldav_session *s = arg;

	(void)fd;
	(void)what;
	if (s->closing)
		return;
	if (time(NULL) - s->last_activity >= (time_t)s->cc->idle_timeout)
		cd_close(s, "idle timeout");
}

static void
cd_peer_string(struct caldav_session *s, const struct sockaddr *sa)
{
	proxy_proto_addr_string(sa, s->peer_ip, sizeof(s->peer_ip), NULL);
}

/* The client is known (socket or PROXY header): limits, TLS, buffers. */
static void
cd_start(struct caldav_session *s)
{
	struct worker *w = s->w;
	const struct listen_conf *lc = s->lc;
	const struct limits_conf *lim = &w->conf->limits;
	int fd = s->fd, one = 1;

	s->ip_hash = limits_hash(s->peer_ip);
	if (!limits_acquire(LIMITS_IP, s->ip_hash, lim->connections_per_ip)) {
		cd_log(log_warnx, s, "too many connections from %s",
		    s->peer_ip);
		cd_close(s, "per-address limit");
		return;
	}
	s->ip_counted = true;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (lc->tls == TLS_MODE_IMPLICIT) {
		SSL *ssl = SSL_new(lc->ssl_ctx);

		if (ssl == NULL) {
			cd_close(s, "TLS setup failed");
			return;
		}
		s->cbev = bufferevent_openssl_socket_new(w->base, fd, ssl,
		    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	} else {
		s->cbev = bufferevent_socket_new(w->base, fd,
		    BEV_OPT_CLOSE_ON_FREE);
	}
	if (s->cbev == NULL) {
		cd_close(s, "cannot create buffers");
		return;
	}
	s->fd = -1;
	bufferevent_setcb(s->cbev, cd_client_read, cd_client_write,
	    cd_client_event, s);
	bufferevent_set_max_single_read(s->cbev, CALDAV_IO_CHUNK);
	bufferevent_set_max_single_write(s->cbev, CALDAV_IO_CHUNK);
	bufferevent_setwatermark(s->cbev, EV_READ, 0,
	    cd_high(s) > s->cc->head_max + 1024 ? cd_high(s) :
	    (size_t)s->cc->head_max + 1024);
	bufferevent_setwatermark(s->cbev, EV_WRITE, (size_t)lim->buffer_low,
	    0);
	bufferevent_enable(s->cbev, EV_READ | EV_WRITE);
	cd_log(log_debug, s, "connect from %s on %s (tls=%s)", s->peer_ip,
	    lc->name, tls_mode_name(lc->tls));
}

static void
cd_proxy_header(evutil_socket_t fd, short what, void *arg)
{
	struct caldav_session *s = arg;
	struct proxy_proto_info info;
	const char *errstr = NULL;

	(void)what;
	switch (proxy_proto_read(fd, &info, &errstr)) {
	case PROXY_PROTO_AGAIN:
		return;
	case PROXY_PROTO_ERROR:
		cd_log(log_warnx, s, "bad PROXY header from %s: %s",
		    s->peer_ip, errstr);
		cd_close(s, "bad PROXY header");
		return;
	case PROXY_PROTO_OK:
		break;
	}
	if (info.src.ss_family == AF_INET || info.src.ss_family == AF_INET6) {
		char lb[64];

		snprintf(lb, sizeof(lb), "%s", s->peer_ip);
		cd_peer_string(s, (const struct sockaddr *)&info.src);
		cd_log(log_debug, s, "PROXY v%d: client %s via %s",
		    info.version, s->peer_ip, lb);
	}
	event_free(s->header_ev);
	s->header_ev = NULL;
	cd_start(s);
}

void
caldav_accept(struct worker *w, const struct listen_conf *lc, int fd,
    const struct sockaddr *sa, socklen_t salen)
{
	struct caldav_session *s = xcalloc(1, sizeof(*s));
	struct timeval tv = { 5, 0 };

	(void)salen;
	s->w = w;
	s->lc = lc;
	s->cc = &w->conf->caldav;
	s->fd = fd;
	snprintf(s->id, sizeof(s->id), "%ld.%llu", w->pid,
	    (unsigned long long)++w->next_id);
	cd_peer_string(s, sa);
	TAILQ_INSERT_TAIL(&w->caldav_sessions, s, entry);
	worker_session_new(w);
	s->last_activity = time(NULL);
	http_parser_init(&s->rq, HTTP_DIR_REQUEST, &(struct http_limits){
	    .line_max = 16384, .head_max = (uint32_t)s->cc->head_max });
	http_parser_init(&s->rs, HTTP_DIR_RESPONSE, &(struct http_limits){
	    .line_max = 16384, .head_max = (uint32_t)s->cc->head_max });
	s->timer = event_new(w->base, -1, EV_PERSIST, cd_timer, s);
	event_add(s->timer, &tv);
	if (lc->proxy_protocol) {
		if (!config_trusted_proxy(lc, sa)) {
			cd_log(log_warnx, s, "PROXY header expected from an "
			    "untrusted address %s; closing", s->peer_ip);
			cd_close(s, "untrusted load balancer");
			return;
		}
		s->header_ev = event_new(w->base, fd, EV_READ | EV_PERSIST,
		    cd_proxy_header, s);
		event_add(s->header_ev, NULL);
		return;
	}
	cd_start(s);
}

void
caldav_shutdown_all(struct worker *w)
{
	struct caldav_session *s, *next;

	for (s = TAILQ_FIRST(&w->caldav_sessions); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		cd_close(s, "shutdown");
	}
}

void
caldav_destroy_all(struct worker *w)
{
	while (!TAILQ_EMPTY(&w->caldav_sessions))
		cd_free_cb(-1, 0, TAILQ_FIRST(&w->caldav_sessions));
}
