/*
 * relay.c - after login: a full-duplex byte relay with a parser watching
 * each direction.
 *
 * Bytes move between the two sides with evbuffer_remove_buffer(), which
 * hands over whole chains, so literal data (message bodies) is never copied
 * by the proxy.  Each side holds back at most one line (line_max) so that
 * the few lines the proxy edits can be edited whole:
 *
 *   server -> client   capability lists lose COMPRESS=DEFLATE, so traffic
 *                      stays readable for the capture tap;
 *   client -> server   a COMPRESS command is answered by the proxy (NO)
 *                      instead of reaching the server.
 *
 * Everything else passes untouched, known or unknown.  If a parser loses
 * sync it goes blind and the relay carries on, byte for byte (STYLE 13).
 *
 * Backpressure (STYLE 4): when the output towards one side passes
 * buffer_high, reading from the other side stops, and resumes when that
 * output drains below buffer_low.  A client that stops reading therefore
 * costs at most about two buffer_high of memory, not the message it asked
 * for.
 */
#include "proxy/session.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "lib/log.h"
#include "lib/xmalloc.h"
#include "proxy/imap_caps.h"
#include "proxy/imap_tap.h"
#include "proxy/tap_session.h"
#include "proxy/worker.h"

/* Server lines are counted, not stored, so the server parser can allow
 * the huge SEARCH/ESEARCH/THREAD lines real mailboxes produce. */
#define RELAY_SERVER_LINE_MAX ((size_t)64 << 20)

#define RELAY_IO_CHUNK ((size_t)64 * 1024)

static const char *const relay_side_names[] = { "client", "server" };
static const char *const relay_caps_drop[] = { "COMPRESS=DEFLATE", NULL };

static void relay_pump(struct session *s, int side);

static struct bufferevent *
relay_bev(struct session *s, int side)
{
	return side == SIDE_CLIENT ? s->cbev : s->ubev;
}

bool
relay_at_boundary(const struct session *s)
{
	if (s->state != SESSION_RELAY)
		return true;
	return !s->streaming[SIDE_UPSTREAM] && !imap_parser_blind(&s->sp);
}

static void
relay_inject(struct session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void
relay_inject(struct session *s, const char *fmt, ...)
{
	va_list ap;
	struct evbuffer *dst;

	if (relay_at_boundary(s) && (s->inject == NULL ||
	    evbuffer_get_length(s->inject) == 0)) {
		dst = bufferevent_get_output(s->cbev);
	} else {
		if (s->inject == NULL)
			s->inject = evbuffer_new();
		dst = s->inject;
	}
	va_start(ap, fmt);
	evbuffer_add_vprintf(dst, fmt, ap);
	va_end(ap);
}

static void
relay_flush_inject(struct session *s)
{
	if (s->inject != NULL && evbuffer_get_length(s->inject) > 0 &&
	    relay_at_boundary(s))
		evbuffer_add_buffer(bufferevent_get_output(s->cbev), s->inject);
}

static void
relay_track(struct session *s, const struct imap_line *line,
    enum tracked_cmd cmd)
{
	struct tracked *t;

	if (line->tag[0] == '\0' || s->ntracked == SESSION_TRACKED_MAX) {
		session_log(log_debug, s, "command %s not tracked", line->name);
		return;
	}
	s->tracked = xreallocarray(s->tracked, s->ntracked + 1,
	    sizeof(*s->tracked));
	t = &s->tracked[s->ntracked++];
	snprintf(t->tag, sizeof(t->tag), "%s", line->tag);
	t->cmd = cmd;
	t->mailbox = NULL;
	if (cmd != TRACKED_CLOSE && line->has_arg1 && !line->arg1_truncated)
		t->mailbox = xstrndup(line->arg1, line->arg1_len);
}

static void
relay_tagged(struct session *s, const struct imap_line *line)
{
	bool ok = strcmp(line->name, "OK") == 0;

	for (unsigned i = 0; i < s->ntracked; i++) {
		struct tracked *t = &s->tracked[i];

		if (strcmp(t->tag, line->tag) != 0)
			continue;
		if (t->cmd == TRACKED_CLOSE) {
			if (ok)
				x_free(&s->selected);
		} else {
			/* RFC 9051 6.3.2: a failed SELECT leaves no mailbox
			 * selected. */
			x_free(&s->selected);
			if (ok && t->mailbox != NULL) {
				s->selected = t->mailbox;
				t->mailbox = NULL;
				s->uidvalidity = s->pending_uidvalidity;
				session_log(log_debug, s,
				    "selected \"%s\" uidvalidity %u",
				    s->selected, s->uidvalidity);
			}
		}
		free(t->mailbox);
		s->tracked[i] = s->tracked[--s->ntracked];
		if (s->ntracked == 0)
			x_free(&s->tracked);
		return;
	}
}

static void
relay_forward(struct session *s, int side, size_t n)
{
	struct evbuffer *in = bufferevent_get_input(relay_bev(s, side));
	struct evbuffer *out = bufferevent_get_output(relay_bev(s, !side));
	int moved;

	if (n == 0)
		return;
	moved = evbuffer_remove_buffer(in, out, n);
	if (moved > 0)
		s->bytes[side] += (uint64_t)moved;
}

/* A whole server line sits at the start of the input: edit the capability
 * list and pass it on. */
static void
relay_caps_line(struct session *s, size_t n)
{
	struct evbuffer *in = bufferevent_get_input(s->ubev);
	char *line = (char *)evbuffer_pullup(in, (ssize_t)n);
	char *copy = xmalloc(n);
	size_t len;

	memcpy(copy, line, n);
	len = imap_caps_filter(copy, n, relay_caps_drop);
	evbuffer_add(bufferevent_get_output(s->cbev), copy, len);
	evbuffer_drain(in, n);
	s->bytes[SIDE_UPSTREAM] += n;
	free(copy);
}

static uint32_t
relay_code_number(struct session *s, size_t n)
{
	const char *line = (const char *)evbuffer_pullup(
	    bufferevent_get_input(s->ubev), (ssize_t)n);
	const char *p = memchr(line, '[', n);
	unsigned long v;

	if (p == NULL || (p = memchr(p, ' ', n - (size_t)(p - line))) ==
	    NULL)
		return 0;
	v = strtoul(p + 1, NULL, 10);
	return v > UINT32_MAX ? 0 : (uint32_t)v;
}

/* A complete line ended: scanned[side] bytes, the whole line unless
 * streaming[side] (its start already went out). */
static void
relay_line(struct session *s, int side)
{
	const struct imap_line *line = side == SIDE_CLIENT ? &s->cp.line :
	    &s->sp.line;
	size_t n = s->scanned[side];
	bool whole = !s->streaming[side] && line->literals == 0;

	s->scanned[side] = 0;
	s->streaming[side] = false;
	if (side == SIDE_CLIENT) {
		if (line->kind == IMAP_LINE_COMMAND) {
			if (strcmp(line->name, "COMPRESS") == 0 && whole &&
			    !imap_parser_blind(&s->sp)) {
				evbuffer_drain(bufferevent_get_input(s->cbev),
				    n);
				relay_inject(s, "%s NO [CANNOT] COMPRESS is not "
				    "available on this server.\r\n",
				    line->tag[0] ? line->tag : "*");
				return;
			}
			if (strcmp(line->name, "SELECT") == 0)
				relay_track(s, line, TRACKED_SELECT);
			else if (strcmp(line->name, "EXAMINE") == 0)
				relay_track(s, line, TRACKED_EXAMINE);
			else if (strcmp(line->name, "CLOSE") == 0 ||
			    strcmp(line->name, "UNSELECT") == 0)
				relay_track(s, line, TRACKED_CLOSE);
		}
		relay_forward(s, side, n);
		return;
	}
	switch (line->kind) {
	case IMAP_LINE_CONTINUATION:
		imap_parser_server_continuation(&s->cp);
		break;
	case IMAP_LINE_TAGGED:
		imap_parser_server_tagged(&s->cp, line->tag);
		relay_tagged(s, line);
		break;
	case IMAP_LINE_UNTAGGED:
		if (whole && strcmp(line->code, "UIDVALIDITY") == 0)
			s->pending_uidvalidity = relay_code_number(s, n);
		break;
	default:
		break;
	}
	if (whole && (strcmp(line->name, "CAPABILITY") == 0 ||
	    strcmp(line->code, "CAPABILITY") == 0))
		relay_caps_line(s, n);
	else
		relay_forward(s, side, n);
	relay_flush_inject(s);
}

static void
relay_pause(struct session *s, int side)
{
	if (s->paused[side])
		return;
	s->paused[side] = true;
	bufferevent_disable(relay_bev(s, side), EV_READ);
}

static void
relay_pump(struct session *s, int side)
{
	struct bufferevent *src = relay_bev(s, side);
	struct evbuffer *in = bufferevent_get_input(src);
	struct evbuffer *out = bufferevent_get_output(relay_bev(s, !side));
	struct imap_parser *p = side == SIDE_CLIENT ? &s->cp : &s->sp;
	const struct limits_conf *lim = &s->w->conf->limits;

	s->last_activity = time(NULL);
	while (s->state == SESSION_RELAY) {
		struct evbuffer_ptr pos;
		struct evbuffer_iovec v;
		const char *errstr = NULL;
		size_t consumed = 0;
		enum imap_parse_result r;
		uint64_t lit;

		if (evbuffer_get_length(in) <= s->scanned[side])
			return;
		if (evbuffer_get_length(out) >= lim->buffer_high) {
			relay_pause(s, side);
			return;
		}
		if (evbuffer_ptr_set(in, &pos, s->scanned[side],
		    EVBUFFER_PTR_SET) != 0 ||
		    evbuffer_peek(in, -1, &pos, &v, 1) < 1)
			return;
		lit = imap_parser_in_literal(p) ? imap_parser_literal_left(p) :
		    0;
		r = imap_parser_feed(p, v.iov_base, v.iov_len, &consumed,
		    &errstr);
		/* The capture tap sees exactly what the parser saw. */
		if (s->tap != NULL)
			imap_tap_feed(s->tap, side == SIDE_CLIENT ?
			    IMAP_DIR_CLIENT : IMAP_DIR_SERVER, p, v.iov_base,
			    consumed, lit, r);
		s->scanned[side] += consumed;
		switch (r) {
		case IMAP_PARSE_LINE:
			relay_line(s, side);
			break;
		case IMAP_PARSE_ERROR:
			if (!s->blind_logged) {
				session_log(log_warnx, s, "%s stream not "
				    "understood (%s); relaying blind",
				    relay_side_names[side], errstr);
				s->blind_logged = true;
			}
			/* FALLTHROUGH */
		case IMAP_PARSE_BLIND:
		case IMAP_PARSE_LITERAL:
			relay_forward(s, side, s->scanned[side]);
			s->scanned[side] = 0;
			s->streaming[side] = true;
			break;
		case IMAP_PARSE_AGAIN:
			if (imap_parser_in_literal(p) ||
			    s->scanned[side] > lim->line_max) {
				relay_forward(s, side, s->scanned[side]);
				s->scanned[side] = 0;
				s->streaming[side] = true;
			}
			break;
		}
	}
}

static void
relay_read(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	relay_pump(s, bev == s->cbev ? SIDE_CLIENT : SIDE_UPSTREAM);
}

/* The output towards bev drained below buffer_low: resume its peer. */
static void
relay_write(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;
	int peer = bev == s->cbev ? SIDE_UPSTREAM : SIDE_CLIENT;

	if (s->state != SESSION_RELAY)
		return;
	if (s->paused[peer]) {
		s->paused[peer] = false;
		bufferevent_enable(relay_bev(s, peer), EV_READ);
		relay_pump(s, peer);
	}
	if (s->eof[SIDE_UPSTREAM] && evbuffer_get_length(
	    bufferevent_get_input(s->ubev)) == 0)
		session_close(s, "server closed the connection");
}

static void
relay_event(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;
	int side = bev == s->cbev ? SIDE_CLIENT : SIDE_UPSTREAM;

	if (what & BEV_EVENT_CONNECTED)
		return;
	if (what & BEV_EVENT_EOF && side == SIDE_UPSTREAM) {
		/* The server said its last (BYE, LOGOUT): deliver all of it,
		 * including a held partial line, before closing. */
		struct evbuffer *in = bufferevent_get_input(s->ubev);

		s->eof[SIDE_UPSTREAM] = true;
		relay_pump(s, SIDE_UPSTREAM);
		if (s->state != SESSION_RELAY)
			return;
		if (s->paused[SIDE_UPSTREAM])
			return;	/* relay_write finishes the job */
		s->scanned[SIDE_UPSTREAM] = evbuffer_get_length(in);
		relay_forward(s, SIDE_UPSTREAM, s->scanned[SIDE_UPSTREAM]);
		session_close(s, "server closed the connection");
		return;
	}
	session_close(s, what & BEV_EVENT_EOF ? "client disconnected" :
	    side == SIDE_CLIENT ? "client connection error" :
	    "server connection error");
}

void
relay_start(struct session *s)
{
	const struct limits_conf *lim = &s->w->conf->limits;

	session_set_state(s, SESSION_RELAY);
	s->paused[SIDE_CLIENT] = s->paused[SIDE_UPSTREAM] = false;
	imap_parser_init(&s->cp, IMAP_DIR_CLIENT, (size_t)lim->line_max);
	imap_parser_init(&s->sp, IMAP_DIR_SERVER, RELAY_SERVER_LINE_MAX);
	tap_session_start(s);
	s->last_activity = time(NULL);
	bufferevent_set_timeouts(s->ubev, NULL, NULL);
	bufferevent_set_timeouts(s->cbev, NULL, NULL);
	for (int side = 0; side < 2; side++) {
		struct bufferevent *bev = relay_bev(s, side);

		bufferevent_setcb(bev, relay_read, relay_write, relay_event, s);
		/* libevent reads and writes 4 KB per call by default: for a
		 * bulk FETCH that is a syscall and a parser round per 4 KB.
		 * Larger single reads cost no memory while idle (the buffer
		 * is only filled by data that is there). */
		bufferevent_set_max_single_read(bev, RELAY_IO_CHUNK);
		bufferevent_set_max_single_write(bev, RELAY_IO_CHUNK);
		bufferevent_setwatermark(bev, EV_READ, 0,
		    (size_t)(lim->buffer_high > lim->line_max + 1024 ?
		    lim->buffer_high : lim->line_max + 1024));
		bufferevent_setwatermark(bev, EV_WRITE, (size_t)lim->buffer_low,
		    0);
		bufferevent_enable(bev, EV_READ | EV_WRITE);
	}
	/* Commands the client pipelined behind its login go up now. */
	relay_pump(s, SIDE_CLIENT);
	relay_pump(s, SIDE_UPSTREAM);
}

void
relay_free(struct session *s)
{
	tap_session_end(s);
	for (unsigned i = 0; i < s->ntracked; i++)
		free(s->tracked[i].mailbox);
	x_free(&s->tracked);
	s->ntracked = 0;
	x_free(&s->selected);
	if (s->inject != NULL) {
		evbuffer_free(s->inject);
		s->inject = NULL;
	}
}
