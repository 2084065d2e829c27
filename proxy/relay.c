/*
 * relay.c - after login: a full-duplex byte relay with a parser watching
 * each direction.
 *
 * Bytes move between the two sides with evbuffer_remove_buffer(), which
 * hands over whole chains, so literal data (message bodies) is not copied
 * by the proxy; the flat path below copies only what it must queue for a
 * peer that is behind.  Each side holds back at most one line (line_max)
 * so that the few lines the proxy edits can be edited whole:
 *
 *   server -> client   capability lists lose COMPRESS=DEFLATE, so traffic
 *                      stays readable for the capture tap;
 *   client -> server   a COMPRESS command is answered by the proxy (NO)
 *                      instead of reaching the server.
 *
 * Everything else passes untouched, known or unknown.  If a parser loses
 * sync it goes blind and the relay carries on, byte for byte (STYLE 13).
 *
 * I/O: a TLS side is driven by its bufferevent.  A plaintext side is
 * "raw" (session.h, struct relay_io): one edge-triggered event, reads of up
 * to RELAY_IO_CHUNK until a short read says the socket is drained, and the
 * bytes written towards the peer as soon as they are parsed.  That is two
 * system calls per chunk, as nginx's mail proxy does, instead of the four
 * to five a bufferevent spends (FIONREAD, readv, epoll_ctl to arm and
 * disarm the write event, a loop round before writev).  When both sides
 * are raw and nothing waits in either queue, a read skips the evbuffers
 * altogether (relay_flat()).
 *
 * Literal data between two plaintext sides need not be seen at all when
 * the tap is off or does not want it: once the parser is inside a large
 * literal and nothing is queued either way, it moves socket -> pipe ->
 * socket with splice(2) (relay_splice()), and the parser (and the tap) are
 * told how many bytes went by.  The kernel passes the pages along, so a
 * bulk FETCH costs the proxy neither copy.  TLS sides, and what the tap
 * captures, go through user space as above.
 *
 * Backpressure (STYLE 4): when the output towards one side passes
 * buffer_high, reading from the other side stops, and resumes when that
 * output drains below buffer_low.  A client that stops reading therefore
 * costs at most about two buffer_high of memory, not the message it asked
 * for.
 */
#include "proxy/session.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

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
/* What a raw read reserves: libevent rounds a chain (payload plus its
 * header) up to a power of two, so asking for exactly 64 KB would cost a
 * 128 KB chain. */
#define RELAY_READ_RESERVE (RELAY_IO_CHUNK - 256)
/* Raw reads per event callback before yielding to other sessions. */
#define RELAY_READ_BUDGET 16
/* A literal is spliced when at least this much of it is still to come:
 * below that the pipe's two calls save no copy worth having. */
#define RELAY_SPLICE_MIN ((uint64_t)16 * 1024)
/* What one splice(2) into the pipe asks for; the pipe is sized to hold it. */
#define RELAY_SPLICE_CHUNK ((size_t)256 * 1024)

/* The next piece of a literal with left bytes to come: a chunk at most. */
static inline size_t
relay_literal_chunk(uint64_t left)
{
	return left < RELAY_SPLICE_CHUNK ? (size_t)left : RELAY_SPLICE_CHUNK;
}

static const char *const relay_side_names[] = { "client", "server" };
static const char *const relay_caps_drop[] = { "COMPRESS=DEFLATE", NULL };

/* The parser of the bytes side sends, and the tap's name for them. */
#define RELAY_PARSER(s, side) ((side) == SIDE_CLIENT ? &(s)->cp : &(s)->sp)
#define RELAY_DIR(side) \
	((side) == SIDE_CLIENT ? IMAP_DIR_CLIENT : IMAP_DIR_SERVER)

static void relay_pump(struct session *s, int side);
static inline void relay_flush(struct session *s, int side);

static struct bufferevent *
relay_bev(struct session *s, int side)
{
	return side == SIDE_CLIENT ? s->cbev : s->ubev;
}

struct evbuffer *
relay_client_output(struct session *s)
{
	if (s->io[SIDE_CLIENT].raw)
		return s->io[SIDE_CLIENT].out;
	return bufferevent_get_output(s->cbev);
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
		dst = s->io[SIDE_CLIENT].out;
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
		evbuffer_add_buffer(s->io[SIDE_CLIENT].out, s->inject);
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
	struct evbuffer *in = s->io[side].in;
	struct evbuffer *out = s->io[!side].out;
	struct evbuffer_iovec v[8];
	size_t left = n;

	if (n == 0)
		return;
	s->bytes[side] += (uint64_t)n;
	if (!s->io[side].raw || evbuffer_get_length(out) == 0) {
		/* The usual case: the peer keeps up, the chains change hands
		 * and are written out at once (a bufferevent sizes its reads
		 * to what is there, so its chains carry no slack). */
		evbuffer_remove_buffer(in, out, n);
		return;
	}
	/* The peer is behind.  A raw read's chain may be mostly free space;
	 * handing such chains over would let a trickling server and a
	 * stalled client queue far more memory than the bytes buffer_high
	 * counts.  Copy into the free tail of the queue instead. */
	while (left > 0) {
		int nv = evbuffer_peek(in, (ssize_t)left, NULL, v, 8);
		size_t done = 0;

		if (nv <= 0)
			break;
		for (int i = 0; i < nv && i < 8 && done < left; i++) {
			size_t k = v[i].iov_len < left - done ? v[i].iov_len :
			    left - done;

			evbuffer_add(out, v[i].iov_base, k);
			done += k;
		}
		evbuffer_drain(in, done);
		left -= done;
	}
}

/* A whole server line: edit the capability list and queue it for the
 * client. */
static void
relay_caps_line(struct session *s, const char *line, size_t n)
{
	char *copy = xmalloc(n);
	size_t len;

	memcpy(copy, line, n);
	len = imap_caps_filter(copy, n, relay_caps_drop);
	evbuffer_add(s->io[SIDE_CLIENT].out, copy, len);
	s->bytes[SIDE_UPSTREAM] += n;
	free(copy);
}

static uint32_t
relay_code_number(const char *line, size_t n)
{
	const char *p = memchr(line, '[', n);
	unsigned long v;

	if (p == NULL || (p = memchr(p, ' ', n - (size_t)(p - line))) ==
	    NULL)
		return 0;
	v = strtoul(p + 1, NULL, 10);
	return v > UINT32_MAX ? 0 : (uint32_t)v;
}

/* What becomes of a line's bytes once relay_line_verdict() has seen it. */
enum relay_verdict {
	RELAY_FORWARD,		/* pass them on unchanged */
	RELAY_DROP,		/* the proxy answered it: drop them */
	RELAY_EDIT_CAPS,	/* pass on an edited capability list */
};

/* The line's n bytes: flat when the caller holds them in one piece, else
 * at the start of the side's input. */
static const char *
relay_line_bytes(struct session *s, int side, const char *flat, size_t n)
{
	if (flat != NULL)
		return flat;
	return (const char *)evbuffer_pullup(s->io[side].in, (ssize_t)n);
}

/*
 * A complete line ended: scanned[side] bytes, the whole line unless
 * streaming[side] (its start already went out).  Does the bookkeeping the
 * line calls for and says what to do with its bytes; flat is the line when
 * the caller holds it in one piece (see relay_line_bytes()).
 */
static enum relay_verdict
relay_line_verdict(struct session *s, int side, const char *flat)
{
	const struct imap_line *line = &RELAY_PARSER(s, side)->line;
	size_t n = s->scanned[side];
	bool whole = !s->streaming[side] && line->literals == 0;

	s->scanned[side] = 0;
	s->streaming[side] = false;
	if (side == SIDE_CLIENT) {
		/* The first letter sorts out most commands (NOOP, FETCH,
		 * IDLE ...) before any string compare: this runs for every
		 * line in both directions. */
		if (line->kind == IMAP_LINE_COMMAND && line->name[0] != '\0' &&
		    strchr("CSEU", line->name[0]) != NULL) {
			if (strcmp(line->name, "COMPRESS") == 0 && whole &&
			    !imap_parser_blind(&s->sp)) {
				relay_inject(s, "%s NO [CANNOT] COMPRESS is "
				    "not available on this server.\r\n",
				    line->tag[0] ? line->tag : "*");
				return RELAY_DROP;
			}
			if (strcmp(line->name, "SELECT") == 0)
				relay_track(s, line, TRACKED_SELECT);
			else if (strcmp(line->name, "EXAMINE") == 0)
				relay_track(s, line, TRACKED_EXAMINE);
			else if (strcmp(line->name, "CLOSE") == 0 ||
			    strcmp(line->name, "UNSELECT") == 0)
				relay_track(s, line, TRACKED_CLOSE);
		}
		return RELAY_FORWARD;
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
		if (whole && line->code[0] == 'U' &&
		    strcmp(line->code, "UIDVALIDITY") == 0)
			s->pending_uidvalidity = relay_code_number(
			    relay_line_bytes(s, side, flat, n), n);
		break;
	default:
		break;
	}
	if (whole && ((line->name[0] == 'C' &&
	    strcmp(line->name, "CAPABILITY") == 0) ||
	    (line->code[0] == 'C' && strcmp(line->code, "CAPABILITY") == 0)))
		return RELAY_EDIT_CAPS;
	return RELAY_FORWARD;
}

/* A complete line ended at the start of side's input. */
static void
relay_line(struct session *s, int side)
{
	size_t n = s->scanned[side];

	switch (relay_line_verdict(s, side, NULL)) {
	case RELAY_FORWARD:
		relay_forward(s, side, n);
		break;
	case RELAY_DROP:
		evbuffer_drain(s->io[side].in, n);
		break;
	case RELAY_EDIT_CAPS:
		relay_caps_line(s, relay_line_bytes(s, side, NULL, n), n);
		evbuffer_drain(s->io[side].in, n);
		break;
	}
	if (side == SIDE_UPSTREAM)
		relay_flush_inject(s);
}

/*
 * A feed ended without a line: must the bytes parsed so far go on now
 * (literal data, a lost parser, a line too long to hold) instead of
 * waiting in the input for the line's end?
 */
static bool
relay_must_stream(const struct session *s, int side,
    const struct imap_parser *p, enum imap_parse_result r)
{
	return r != IMAP_PARSE_AGAIN || imap_parser_in_literal(p) ||
	    s->scanned[side] > s->w->conf->limits.line_max;
}

/* The rest of the current line follows its start, already passed on. */
static void
relay_stream_on(struct session *s, int side)
{
	s->scanned[side] = 0;
	s->streaming[side] = true;
}

static void
relay_parse_error(struct session *s, int side, const char *errstr)
{
	if (s->blind_logged)
		return;
	session_log(log_warnx, s, "%s stream not understood (%s); relaying "
	    "blind", relay_side_names[side], errstr);
	s->blind_logged = true;
}

static void
relay_pause(struct session *s, int side)
{
	if (s->paused[side])
		return;
	s->paused[side] = true;
	if (!s->io[side].raw)
		bufferevent_disable(relay_bev(s, side), EV_READ);
}

/* Reading from side may go on: its peer's output drained.  The pump runs
 * from a deferred callback, never nested in the flush that drained it. */
static void
relay_resume(struct session *s, int side)
{
	if (!s->paused[side])
		return;
	s->paused[side] = false;
	if (!s->io[side].raw)
		bufferevent_enable(relay_bev(s, side), EV_READ);
	event_active(s->relay_kick, EV_TIMEOUT, 0);
}

static void
relay_pump(struct session *s, int side)
{
	struct evbuffer *in = s->io[side].in;
	struct evbuffer *out = s->io[!side].out;
	struct imap_parser *p = RELAY_PARSER(s, side);
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
			imap_tap_feed(s->tap, RELAY_DIR(side), p, v.iov_base,
			    consumed, lit, r);
		s->scanned[side] += consumed;
		switch (r) {
		case IMAP_PARSE_LINE:
			relay_line(s, side);
			break;
		default:
			if (r == IMAP_PARSE_ERROR)
				relay_parse_error(s, side, errstr);
			if (relay_must_stream(s, side, p, r)) {
				relay_forward(s, side, s->scanned[side]);
				relay_stream_on(s, side);
			}
			break;
		}
	}
}

/*
 * Sends what out holds, up to RELAY_SEND_IOV chains at once.  sendmsg(2)
 * rather than libevent's writev(2): a socket call skips the file layer's
 * checks and notifications, which is a visible part of a NOOP's round
 * trip (read(2) is recv(2) for the same reason).
 */
#define RELAY_SEND_IOV 16
static ssize_t
relay_send(struct relay_io *io, size_t *offered_r)
{
	struct evbuffer_iovec v[RELAY_SEND_IOV];
	struct iovec iov[RELAY_SEND_IOV];
	struct msghdr msg;
	ssize_t n;
	int nv;

	nv = evbuffer_peek(io->out, -1, NULL, v, RELAY_SEND_IOV);
	if (nv > RELAY_SEND_IOV)
		nv = RELAY_SEND_IOV;
	if (nv == 1) {
		/* the usual case, a command or an answer: no msghdr */
		*offered_r = v[0].iov_len;
		n = send(io->fd, v[0].iov_base, v[0].iov_len,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0)
			evbuffer_drain(io->out, (size_t)n);
		return n;
	}
	*offered_r = 0;
	for (int i = 0; i < nv; i++) {
		iov[i].iov_base = v[i].iov_base;
		iov[i].iov_len = v[i].iov_len;
		*offered_r += v[i].iov_len;
	}
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = iov;
	msg.msg_iovlen = (size_t)nv;
	n = sendmsg(io->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n > 0)
		evbuffer_drain(io->out, (size_t)n);
	return n;
}

/* side's socket failed: the session ends. */
static void
relay_conn_error(struct session *s, int side)
{
	session_close(s, side == SIDE_CLIENT ? "client connection error" :
	    "server connection error");
}

/* A write towards side failed with errno: 1 to retry (EINTR), 0 when
 * the socket is full (side is marked blocked until its write edge), -1
 * when the session was closed. */
static int
relay_write_error(struct session *s, int side)
{
	if (errno == EINTR)
		return 1;
	if (errno == EAGAIN || errno == EWOULDBLOCK) {
		s->io[side].write_blocked = true;
		return 0;
	}
	relay_conn_error(s, side);
	return -1;
}

/* Bytes were queued towards side: a raw side writes them now (the
 * bufferevent of a TLS side writes on its own).  A short write means the
 * socket buffer is full; the next write edge resumes. */
static void
relay_flush_queued(struct session *s, int side, size_t queued)
{
	struct relay_io *io = &s->io[side];
	const struct limits_conf *lim = &s->w->conf->limits;
	size_t offered;
	ssize_t n;

	while (!io->write_blocked && queued > 0) {
		n = relay_send(io, &offered);
		if (n < 0) {
			int e = relay_write_error(s, side);

			if (e > 0)
				continue;
			if (e < 0)
				return;
			break;
		}
		/* short of what was offered: the socket buffer is full */
		if ((size_t)n < offered)
			io->write_blocked = true;
		queued = evbuffer_get_length(io->out);
	}
	if (queued <= (size_t)lim->buffer_low)
		relay_resume(s, !side);
}

/* The session's pipe, made on first use.  False (and the copying path
 * serves) when none can be had, for example at the descriptor limit. */
static bool
relay_pipe_open(struct session *s)
{
	struct relay_pipe *rp = &s->pipe;

	if (rp->open)
		return true;
	if (rp->failed)
		return false;
	if (pipe2(rp->fd, O_CLOEXEC | O_NONBLOCK) != 0) {
		session_log(log_warn, s, "no pipe for splice, literal data "
		    "is copied instead");
		rp->failed = true;
		return false;
	}
	/* One chunk fits; if the kernel refuses the size, 64 KB does. */
	(void)fcntl(rp->fd[1], F_SETPIPE_SZ, (int)RELAY_SPLICE_CHUNK);
	rp->open = true;
	return true;
}

static void
relay_pipe_close(struct session *s)
{
	struct relay_pipe *rp = &s->pipe;

	if (!rp->open)
		return;
	close(rp->fd[0]);
	close(rp->fd[1]);
	rp->open = false;
	rp->held = 0;
}

/*
 * Spliced bytes held in the pipe go out to side, the pipe's destination.
 * Returns true when the pipe is empty.  Nothing else is queued towards
 * side while it holds bytes: reading their source stops until it drains,
 * and the line-boundary rules keep the proxy's own lines behind them.
 */
static bool
relay_splice_flush(struct session *s, int side)
{
	struct relay_pipe *rp = &s->pipe;
	struct relay_io *io = &s->io[side];

	while (rp->held > 0 && !io->write_blocked) {
		ssize_t n = splice(rp->fd[0], NULL, io->fd, NULL, rp->held,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);

		if (n < 0) {
			int e = relay_write_error(s, side);

			if (e > 0)
				continue;
			if (e < 0)
				return false;
			break;
		}
		rp->held -= (size_t)n;
		/* short of what was held: the socket buffer is full */
		if (rp->held > 0)
			io->write_blocked = true;
	}
	if (rp->held > 0)
		return false;
	/* The pipe goes with its literal: an idle session holds none, and
	 * the pages it may pin count against the user's pipe quota. */
	if (imap_parser_literal_left(RELAY_PARSER(s, rp->from)) <
	    RELAY_SPLICE_MIN)
		relay_pipe_close(s);
	return true;
}

/* Nearly every call finds nothing queued: that case costs no call. */
static inline void
relay_flush(struct session *s, int side)
{
	struct relay_io *io = &s->io[side];
	size_t queued;

	if (!io->raw || s->state != SESSION_RELAY)
		return;
	if (s->pipe.held > 0 && s->pipe.from == !side &&
	    !relay_splice_flush(s, side))
		return;
	queued = evbuffer_get_length(io->out);
	if (queued == 0) {
		relay_resume(s, !side);
		return;
	}
	relay_flush_queued(s, side, queued);
}

static void
relay_eof(struct session *s, int side)
{
	struct evbuffer *in = s->io[side].in;

	s->eof[side] = true;
	if (side == SIDE_CLIENT) {
		session_close(s, "client disconnected");
		return;
	}
	/* The server said its last (BYE, LOGOUT): deliver all of it,
	 * including a held partial line, before closing. */
	relay_pump(s, SIDE_UPSTREAM);
	if (s->state != SESSION_RELAY)
		return;
	if (s->paused[SIDE_UPSTREAM])
		return;	/* the client's drain finishes the job */
	s->scanned[SIDE_UPSTREAM] = evbuffer_get_length(in);
	relay_forward(s, SIDE_UPSTREAM, s->scanned[SIDE_UPSTREAM]);
	session_close(s, "server closed the connection");
}

/*
 * The plaintext fast path.  When both sides are raw and nothing is held or
 * queued, a read goes into one flat buffer, is parsed where it lies and is
 * sent to the peer straight from it: a command or its answer then costs no
 * allocation and no evbuffer work, which is most of what the relay adds to
 * a round trip.  Whatever cannot leave at once (the peer's socket is full,
 * a partial line) is copied into the evbuffers, and the buffered path
 * carries on from there until they are empty again.
 *
 * One buffer serves the whole worker: it is used only between a recv(2)
 * and the return of relay_flat(), and the tap copies what it keeps.
 */
static unsigned char relay_flat_buf[RELAY_IO_CHUNK];

static bool
relay_flat_ok(const struct session *s, int side)
{
	return s->io[!side].raw && s->scanned[side] == 0 &&
	    evbuffer_get_length(s->io[side].in) == 0 &&
	    evbuffer_get_length(s->io[!side].out) == 0;
}

/* Parsed bytes of side go to the peer: sent now if nothing waits before
 * them, else queued behind what does. */
static void
relay_emit(struct session *s, int side, const unsigned char *p, size_t len)
{
	struct relay_io *peer = &s->io[!side];
	size_t sent = 0;

	if (len == 0 || s->state != SESSION_RELAY)
		return;
	s->bytes[side] += (uint64_t)len;
	if (!peer->write_blocked && evbuffer_get_length(peer->out) == 0) {
		ssize_t n;

		do
			n = send(peer->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		while (n < 0 && errno == EINTR);
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			relay_conn_error(s, !side);
			return;
		}
		sent = n < 0 ? 0 : (size_t)n;
		/* short of len: the socket buffer is full */
		if (sent < len)
			peer->write_blocked = true;
	}
	if (sent < len)
		evbuffer_add(peer->out, p + sent, len - sent);
}

/* n bytes read from side into buf: parse and pass them on in place. */
static void
relay_flat(struct session *s, int side, const unsigned char *buf, size_t n)
{
	struct imap_parser *p = RELAY_PARSER(s, side);
	const struct limits_conf *lim = &s->w->conf->limits;
	const unsigned char *fwd = buf, *cur = buf, *end = buf + n;

	s->last_activity = time(NULL);
	/* [fwd, cur) is parsed and not yet passed on; its last scanned[side]
	 * bytes are the line in progress. */
	while (cur < end && s->state == SESSION_RELAY) {
		const unsigned char *start;
		const char *errstr = NULL;
		size_t consumed = 0;
		enum imap_parse_result r;
		uint64_t lit;

		lit = imap_parser_in_literal(p) ? imap_parser_literal_left(p) :
		    0;
		r = imap_parser_feed(p, cur, (size_t)(end - cur), &consumed,
		    &errstr);
		if (s->tap != NULL)
			imap_tap_feed(s->tap, RELAY_DIR(side), p, cur,
			    consumed, lit, r);
		cur += consumed;
		s->scanned[side] += consumed;
		start = cur - s->scanned[side];
		switch (r) {
		case IMAP_PARSE_LINE:
			switch (relay_line_verdict(s, side,
			    (const char *)start)) {
			case RELAY_FORWARD:
				break;
			case RELAY_DROP:
				relay_emit(s, side, fwd, (size_t)(start - fwd));
				fwd = cur;
				break;
			case RELAY_EDIT_CAPS:
				relay_emit(s, side, fwd, (size_t)(start - fwd));
				if (s->state == SESSION_RELAY)
					relay_caps_line(s, (const char *)start,
					    (size_t)(cur - start));
				fwd = cur;
				break;
			}
			if (side == SIDE_UPSTREAM && s->inject != NULL &&
			    evbuffer_get_length(s->inject) > 0) {
				relay_emit(s, side, fwd, (size_t)(cur - fwd));
				fwd = cur;
				relay_flush_inject(s);
			}
			break;
		default:
			if (r == IMAP_PARSE_ERROR)
				relay_parse_error(s, side, errstr);
			if (relay_must_stream(s, side, p, r)) {
				relay_stream_on(s, side);
				break;
			}
			/* A partial line waits in the input for its end. */
			relay_emit(s, side, fwd, (size_t)(start - fwd));
			evbuffer_add(s->io[side].in, start, s->scanned[side]);
			fwd = cur;
			break;
		}
	}
	relay_emit(s, side, fwd, (size_t)(cur - fwd));
	if (s->state == SESSION_RELAY &&
	    evbuffer_get_length(s->io[!side].out) >= lim->buffer_high)
		relay_pause(s, side);
}

/*
 * May the next bytes of side be spliced?  Both sides plaintext, the pipe
 * free, nothing held or queued that the bytes would overtake, a literal
 * that the parser can count without reading and that is still long enough
 * to be worth it, and no tap that wants its bytes (it must see what it
 * captures; a message it dropped, or keeps only the headers of, it need
 * not).
 */
static bool
relay_splice_ok(const struct session *s, int side)
{
	const struct imap_parser *p = RELAY_PARSER(s, side);

	/* the one-load test first: a command or an answer stops there */
	return imap_parser_literal_bound(p) >= RELAY_SPLICE_MIN &&
	    s->w->conf->splice && s->pipe.held == 0 && s->io[side].raw &&
	    relay_flat_ok(s, side) && !s->io[!side].write_blocked &&
	    imap_parser_literal_opaque(p) &&
	    imap_parser_literal_left(p) >= RELAY_SPLICE_MIN &&
	    (s->tap == NULL ||
	    imap_tap_literal_unwanted(s->tap, RELAY_DIR(side)));
}

/*
 * How many bytes side's socket must hold before it reports readable.
 * Inside a long literal the rest of it is certain to come, so the wait is
 * for a whole chunk of it (or all that is left): one wake-up per 256 KB
 * instead of one per segment the kernel queues.  Otherwise one byte, so
 * no line waits for bytes that may never come.  A synchronizing literal
 * counts only once its "+" has gone out (before that the parser has no
 * literal data to expect), and the peer's FIN or an error wakes the
 * reader whatever the mark (tcp(7)).  Set each time reading side stops
 * for want of bytes, so the mark always matches what is still to come.
 */
static void
relay_read_mark(struct session *s, int side)
{
	struct relay_io *io = &s->io[side];
	const struct imap_parser *p = RELAY_PARSER(s, side);
	uint64_t left;
	int want = 0;

	/* Every line of every command comes here: one load decides. */
	if (io->lowat == 0 &&
	    imap_parser_literal_bound(p) < RELAY_SPLICE_MIN)
		return;
	left = imap_parser_literal_left(p);

	/* Bytes read but not yet parsed (a paused pump) are part of what
	 * is left and will not come again: then one byte it is. */
	if (evbuffer_get_length(io->in) > s->scanned[side])
		left = 0;
	if (left >= RELAY_SPLICE_MIN)
		want = (int)relay_literal_chunk(left);
	if (want == io->lowat)
		return;
	if (setsockopt(io->fd, SOL_SOCKET, SO_RCVLOWAT,
	    &(int){ want > 0 ? want : 1 }, sizeof(int)) == 0)
		io->lowat = want;
}

/*
 * A recv(2) or splice(2) from side returned n <= 0.  True to try again
 * (EINTR); otherwise reading side stops until its next edge: it is
 * drained (EAGAIN), at its end (0: relay_eof()) or broken (the session
 * closes).
 */
static bool
relay_read_failed(struct session *s, int side, ssize_t n)
{
	if (n < 0 && errno == EINTR)
		return true;
	s->io[side].readable = false;
	if (n == 0)
		relay_eof(s, side);
	else if (errno != EAGAIN && errno != EWOULDBLOCK)
		relay_conn_error(s, side);
	else
		relay_read_mark(s, side);
	return false;
}

/*
 * One splice of side's literal data into the pipe and on to the peer.
 * Returns true when reading side may go on, false when it must stop: the
 * socket is drained, the session closed, or bytes wait in the pipe for the
 * peer (side is paused until they are out, see relay_flush()).
 */
static bool
relay_splice(struct session *s, int side)
{
	struct imap_parser *p = RELAY_PARSER(s, side);
	struct relay_pipe *rp = &s->pipe;
	struct relay_io *io = &s->io[side];
	size_t want = relay_literal_chunk(imap_parser_literal_left(p));
	ssize_t n;

	n = splice(io->fd, NULL, rp->fd[1], NULL, want,
	    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	if (n <= 0)
		return relay_read_failed(s, side, n);
	if (!imap_parser_skip_literal(p, (uint64_t)n))
		fatalx("relay: spliced %zd bytes past a literal", n);
	if (s->tap != NULL)
		imap_tap_skip_literal(s->tap, RELAY_DIR(side), (uint64_t)n);
	s->last_activity = time(NULL);
	s->bytes[side] += (uint64_t)n;
	s->spliced += (uint64_t)n;
	rp->from = side;
	rp->held = (size_t)n;
	if (relay_splice_flush(s, !side))
		return true;
	if (s->state == SESSION_RELAY)
		relay_pause(s, side);
	return false;
}

/* Raw side: read until the socket is drained (a short read), parsing and
 * passing each chunk on as it comes. */
static void
relay_raw_read(struct session *s, int side)
{
	struct relay_io *io = &s->io[side];

	for (int round = 0; round < RELAY_READ_BUDGET; round++) {
		struct evbuffer_iovec v;
		void *dst;
		size_t room;
		bool flat;
		ssize_t n;

		if (s->state != SESSION_RELAY || s->paused[side] ||
		    !io->readable)
			return;
		if (relay_splice_ok(s, side) && relay_pipe_open(s)) {
			if (!relay_splice(s, side))
				return;
			continue;
		}
		flat = relay_flat_ok(s, side);
		if (flat) {
			dst = relay_flat_buf;
			room = sizeof(relay_flat_buf);
		} else {
			/* One vector: with two, a read that fills only the
			 * first leaves an empty chain behind, and moving
			 * chains with empty ones among them into a
			 * bufferevent's output reorders bytes in libevent
			 * 2.1. */
			if (evbuffer_reserve_space(io->in,
			    (ssize_t)RELAY_READ_RESERVE, &v, 1) < 1)
				fatalx("relay: cannot reserve input space");
			dst = v.iov_base;
			room = v.iov_len;
		}
		n = recv(io->fd, dst, room, MSG_DONTWAIT);
		if (n <= 0) {
			if (relay_read_failed(s, side, n))
				continue;
			return;
		}
		/* Edge-triggered: a read that did not fill the space drained
		 * the socket, so the next edge will say when more comes --
		 * unless the FIN is already in (EV_CLOSED): it came with the
		 * last data and no edge will follow it, so read on to the
		 * 0 that reports it. */
		if ((size_t)n < room && !io->rdhup)
			io->readable = false;
		if (flat) {
			relay_flat(s, side, relay_flat_buf, (size_t)n);
		} else {
			v.iov_len = (size_t)n;
			evbuffer_commit_space(io->in, &v, 1);
			relay_pump(s, side);
		}
		if (!io->readable && s->state == SESSION_RELAY)
			relay_read_mark(s, side);
		relay_flush(s, !side);
		relay_flush(s, side);
	}
	/* Still readable after the budget: let other sessions run first. */
	if (io->readable && !s->paused[side])
		event_active(s->relay_kick, EV_TIMEOUT, 0);
}

static void
relay_raw_event(evutil_socket_t fd, short what, void *arg)
{
	struct relay_io *io = NULL;
	struct session *s = arg;
	int side;

	(void)fd;
	side = s->io[SIDE_CLIENT].fd == fd && s->io[SIDE_CLIENT].raw ?
	    SIDE_CLIENT : SIDE_UPSTREAM;
	io = &s->io[side];
	if (s->state != SESSION_RELAY)
		return;
	if (what & EV_WRITE) {
		io->write_blocked = false;
		relay_flush(s, side);
	}
	if (what & (EV_READ | EV_CLOSED)) {
		io->readable = true;
		if (what & EV_CLOSED)
			io->rdhup = true;
		relay_raw_read(s, side);
	}
}

/* Deferred work: a side resumed after backpressure, or a raw side that
 * used its read budget. */
static void
relay_kick(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;

	(void)fd;
	(void)what;
	for (int side = 0; side < 2 && s->state == SESSION_RELAY; side++) {
		if (s->paused[side])
			continue;
		relay_pump(s, side);
		relay_flush(s, !side);
		relay_flush(s, side);
		if (s->io[side].raw)
			relay_raw_read(s, side);
	}
	if (s->state == SESSION_RELAY && s->eof[SIDE_UPSTREAM] &&
	    !s->paused[SIDE_UPSTREAM])
		relay_eof(s, SIDE_UPSTREAM);
}

static void
relay_read(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;
	int side = bev == s->cbev ? SIDE_CLIENT : SIDE_UPSTREAM;

	relay_pump(s, side);
	relay_flush(s, !side);
	relay_flush(s, side);
}

/* The output towards a bufferevent side drained below buffer_low. */
static void
relay_write(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;
	int peer = bev == s->cbev ? SIDE_UPSTREAM : SIDE_CLIENT;

	if (s->state != SESSION_RELAY)
		return;
	relay_resume(s, peer);
}

static void
relay_event(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;
	int side = bev == s->cbev ? SIDE_CLIENT : SIDE_UPSTREAM;

	if (what & BEV_EVENT_CONNECTED)
		return;
	if (what & BEV_EVENT_EOF) {
		relay_eof(s, side);
		return;
	}
	relay_conn_error(s, side);
}

/* A plaintext side: take the socket over from its bufferevent, with what
 * the bufferevent had read and not yet written. */
static void
relay_go_raw(struct session *s, int side)
{
	struct bufferevent *bev = relay_bev(s, side);
	struct relay_io *io = &s->io[side];

	bufferevent_disable(bev, EV_READ | EV_WRITE);
	io->raw = true;
	io->fd = bufferevent_getfd(bev);
	io->in = evbuffer_new();
	io->out = evbuffer_new();
	if (io->in == NULL || io->out == NULL)
		fatalx("relay: out of memory");
	evbuffer_add_buffer(io->in, bufferevent_get_input(bev));
	/* A bufferevent's output is frozen at its start (only libevent
	 * drains it); the login reply may still sit there. */
	evbuffer_unfreeze(bufferevent_get_output(bev), 1);
	evbuffer_add_buffer(io->out, bufferevent_get_output(bev));
	evbuffer_freeze(bufferevent_get_output(bev), 1);
	io->ev = event_new(s->w->base, io->fd, EV_READ | EV_WRITE | EV_CLOSED |
	    EV_ET | EV_PERSIST, relay_raw_event, s);
	if (io->ev == NULL || event_add(io->ev, NULL) != 0)
		fatalx("relay: cannot watch a socket");
	/* Data may already wait in the socket: the first edge is reported
	 * anyway when the event is added, but do not depend on it. */
	io->readable = true;
}

void
relay_detach(struct session *s)
{
	for (int side = 0; side < 2; side++) {
		struct relay_io *io = &s->io[side];
		struct bufferevent *bev = relay_bev(s, side);

		if (!io->raw)
			continue;
		event_free(io->ev);
		io->ev = NULL;
		io->raw = false;
		evbuffer_prepend_buffer(bufferevent_get_input(bev), io->in);
		evbuffer_add_buffer(bufferevent_get_output(bev), io->out);
		evbuffer_free(io->in);
		evbuffer_free(io->out);
		io->in = bufferevent_get_input(bev);
		io->out = bufferevent_get_output(bev);
	}
	if (s->relay_kick != NULL) {
		event_free(s->relay_kick);
		s->relay_kick = NULL;
	}
	relay_pipe_close(s);
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
	s->io[SIDE_CLIENT].fd = s->io[SIDE_UPSTREAM].fd = -1;
	s->relay_kick = event_new(s->w->base, -1, 0, relay_kick, s);
	if (s->relay_kick == NULL)
		fatalx("relay: out of memory");
	bufferevent_set_timeouts(s->ubev, NULL, NULL);
	bufferevent_set_timeouts(s->cbev, NULL, NULL);
	for (int side = 0; side < 2; side++) {
		struct bufferevent *bev = relay_bev(s, side);
		bool plain = side == SIDE_CLIENT ? !s->tls_active :
		    s->up->tls == TLS_MODE_NONE;

		bufferevent_setcb(bev, relay_read, relay_write, relay_event, s);
		if (plain) {
			relay_go_raw(s, side);
			continue;
		}
		s->io[side].in = bufferevent_get_input(bev);
		s->io[side].out = bufferevent_get_output(bev);
		/* libevent reads and writes 4 KB per call by default: for a
		 * bulk FETCH that is a syscall and a parser round per 4 KB. */
		bufferevent_set_max_single_read(bev, RELAY_IO_CHUNK);
		bufferevent_set_max_single_write(bev, RELAY_IO_CHUNK);
		bufferevent_setwatermark(bev, EV_READ, 0,
		    (size_t)(lim->buffer_high > lim->line_max + 1024 ?
		    lim->buffer_high : lim->line_max + 1024));
		bufferevent_setwatermark(bev, EV_WRITE, (size_t)lim->buffer_low,
		    0);
		bufferevent_enable(bev, EV_READ | EV_WRITE);
	}
	/* Commands the client pipelined behind its login go up now, and the
	 * login reply goes out. */
	relay_pump(s, SIDE_CLIENT);
	relay_pump(s, SIDE_UPSTREAM);
	relay_flush(s, SIDE_CLIENT);
	relay_flush(s, SIDE_UPSTREAM);
}

void
relay_free(struct session *s)
{
	tap_session_end(s);
	relay_detach(s);
	s->io[SIDE_CLIENT].in = s->io[SIDE_CLIENT].out = NULL;
	s->io[SIDE_UPSTREAM].in = s->io[SIDE_UPSTREAM].out = NULL;
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
