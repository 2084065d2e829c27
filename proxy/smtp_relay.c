/*
 * smtp_relay.c - SMTP after login: commands and replies relayed with a
 * parser watching each direction, and the tap.
 *
 * Client -> server: command lines are forwarded whole, once parsed, so the
 * few the proxy answers itself never reach the provider:
 *   STARTTLS   refused (the client leg is already what it will be);
 *   BDAT       refused, its chunk consumed and dropped: CHUNKING is not
 *              offered, so message boundaries are always <CRLF>.<CRLF>,
 *              which this parser and the provider agree on (smtp_parse.h).
 * Message data is moved as raw bytes, exactly as consumed by the parser:
 * a bare CR or LF in a message stops the session before that byte, so the
 * provider never holds anything it could read as an end of data that the
 * proxy did not see (the CVE-2023-51764 family).
 *
 * Replies are matched to commands through a FIFO (PIPELINING, RFC 2920).
 * Where the next client byte's meaning depends on a reply - after DATA
 * (354 or not) and during AUTH (334 or final) - client input waits for
 * that reply ("hold"); a client that follows RFC 2920 waits there anyway.
 *
 * The tap: after 354 the dot-unstuffed message is kept in memory (at most
 * [capture] payload_max) and written to the spool as one record when the
 * provider answers 2xx for it; any other answer drops it.  A record is
 * never open across callbacks, so sessions sharing the worker's one spool
 * writer never wait for each other.  Capture failures are counted and
 * logged once per session, never seen by the client.
 *
 * EHLO replies lose CHUNKING, BINARYMIME and STARTTLS; everything else
 * (PIPELINING, SIZE, 8BITMIME, SMTPUTF8, ENHANCEDSTATUSCODES, DSN ...)
 * passes as the provider wrote it.
 */
#define SMTP_SESSION_INTERNAL
#include "proxy/smtp_session.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "capture/event.h"
#include "capture/spool.h"
#include "lib/log.h"
#include "lib/xmalloc.h"
#include "proxy/session.h"
#include "proxy/tap_policy.h"
#include "proxy/worker.h"

static const char *const relay_ehlo_drop[] = { "CHUNKING", "BINARYMIME",
	"STARTTLS", NULL };

static struct smtp_pending *
relay_head(struct smtp_session *sm)
{
	return sm->pcount > 0 ? &sm->pending[sm->phead] : NULL;
}

static void
relay_pop(struct smtp_session *sm)
{
	struct smtp_pending *p = relay_head(sm);

	if (p == NULL)
		return;
	x_free(&p->arg);
	sm->phead = (sm->phead + 1) % SMTP_PENDING_MAX;
	sm->pcount--;
}

static void
relay_flush_local(struct session *s)
{
	struct smtp_pending *p;

	while ((p = relay_head(s->smtp)) != NULL && p->kind == SMTP_P_LOCAL) {
		smtp_reply(s, "%s\r\n", p->arg);
		relay_pop(s->smtp);
	}
}

static void
relay_push(struct session *s, enum smtp_pending_kind kind, const char *arg,
    size_t len)
{
	struct smtp_session *sm = s->smtp;
	struct smtp_pending *p;

	if (kind == SMTP_P_LOCAL && sm->pcount == 0) {
		smtp_reply(s, "%.*s\r\n", (int)len, arg);
		return;
	}
	p = &sm->pending[(sm->phead + sm->pcount) % SMTP_PENDING_MAX];
	sm->pcount++;
	p->kind = kind;
	p->arg = arg != NULL ? xstrndup(arg, len) : NULL;
}

static void
relay_envelope_reset(struct smtp_session *sm)
{
	x_free(&sm->mail_from);
	for (unsigned i = 0; i < sm->nrcpts; i++)
		free(sm->rcpts[i]);
	x_free(&sm->rcpts);
	sm->nrcpts = 0;
}

void
smtp_relay_free(struct session *s)
{
	struct smtp_session *sm = s->smtp;

	while (sm->pcount > 0)
		relay_pop(sm);
	relay_envelope_reset(sm);
	if (sm->msg != NULL) {
		evbuffer_free(sm->msg);
		sm->msg = NULL;
	}
	if (sm->ehlo_reply != NULL) {
		evbuffer_free(sm->ehlo_reply);
		sm->ehlo_reply = NULL;
	}
}

void
smtp_relay_start(struct session *s)
{
	session_set_state(s, SESSION_RELAY);
	s->last_activity = time(NULL);
	smtp_client_set_mode(&s->smtp->cp, SMTP_MODE_COMMAND);
	smtp_server_init(&s->smtp->sp);
	/* The session timer enforces idle_timeout from now on. */
	bufferevent_set_timeouts(s->ubev, NULL, NULL);
	bufferevent_setwatermark(s->ubev, EV_WRITE,
	    (size_t)s->w->conf->limits.buffer_low, 0);
	bufferevent_setwatermark(s->ubev, EV_READ, 0,
	    (size_t)s->w->conf->limits.buffer_high);
	smtp_relay_client_read(s);
}

/* ---- the tap -------------------------------------------------------- */

static void
relay_capture_lost(struct session *s, const char *why)
{
	struct smtp_session *sm = s->smtp;

	sm->capture_lost++;
	if (!sm->capture_warned) {
		sm->capture_warned = true;
		session_log(log_warnx, s, "capture lost (%s); mail still "
		    "flows, further losses in this session are counted", why);
	}
}

static void
relay_tap_begin(struct session *s)
{
	struct smtp_session *sm = s->smtp;

	sm->in_message = true;
	sm->tap_overflow = false;
	if (s->w->spool == NULL)
		return;
	if (sm->msg == NULL)
		sm->msg = evbuffer_new();
	evbuffer_drain(sm->msg, evbuffer_get_length(sm->msg));
}

static void
relay_tap_data(struct session *s, const unsigned char *p, size_t n)
{
	struct smtp_session *sm = s->smtp;

	if (sm->msg == NULL || sm->tap_overflow || n == 0)
		return;
	if (evbuffer_get_length(sm->msg) + n >
	    s->w->conf->capture.payload_max) {
		sm->tap_overflow = true;
		evbuffer_drain(sm->msg, evbuffer_get_length(sm->msg));
		return;
	}
	evbuffer_add(sm->msg, p, n);
}

/* The recipients, one per line (a path holds no CR or LF), cut at the
 * header value limit on a whole address. */
static size_t
relay_rcpt_list(const struct smtp_session *sm, char *buf, size_t size)
{
	size_t len = 0;

	for (unsigned i = 0; i < sm->nrcpts; i++) {
		size_t n = strlen(sm->rcpts[i]) + (i > 0);

		if (len + n >= size)
			break;
		if (i > 0)
			buf[len++] = '\n';
		memcpy(buf + len, sm->rcpts[i], strlen(sm->rcpts[i]));
		len += strlen(sm->rcpts[i]);
	}
	buf[len] = '\0';
	return len;
}

/* Length of the header section at the start of msg (through the empty
 * line), or len when it has none within len. */
static size_t
relay_header_len(const unsigned char *msg, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (msg[i] != '\n')
			continue;
		if (msg[i + 1] == '\n')
			return i + 2;
		if (msg[i + 1] == '\r' && i + 2 < len && msg[i + 2] == '\n')
			return i + 3;
	}
	return len;
}

static void
relay_tap_commit(struct session *s)
{
	struct smtp_session *sm = s->smtp;
	const struct proxy_conf *conf = s->w->conf;
	const struct capture_conf *cc = &conf->capture;
	struct spool_writer *w = s->w->spool;
	/* The same tenant and edge policy as the IMAP tap: the route's
	 * tenant, else [capture] tenant; its [tenant] policy, if any. */
	const char *tenant = sm->user != NULL ?
	    config_tenant(conf, sm->user) : cc->tenant;
	const struct tenant_conf *tc = tenant != NULL ?
	    config_tenant_conf(conf, tenant) : NULL;
	struct tap_decision dec;
	bool headers_only = false;
	struct event_meta m = {
		.schema = EVENT_SCHEMA_MAIL,
		.tenant = tenant,
		.user = sm->user,
		.direction = EVENT_DIR_OUT,
		.source = EVENT_SRC_SMTP,
	};
	struct event_headers eh;
	struct spool_header h[EVENT_HEADERS_MAX + 4], idh;
	char key[SPOOL_KEY_MAX], idkey[EVENT_IDKEY_LEN + 1], count[16];
	char *rcpts = xmalloc(SPOOL_HEADER_VALUE_MAX);
	size_t n, len;
	int klen;
	unsigned char *msg;
	enum spool_status st;

	sm->messages++;
	if (w == NULL || sm->msg == NULL)
		goto out;
	if (sm->tap_overflow) {
		relay_capture_lost(s, "message over payload_max");
		goto out;
	}
	len = evbuffer_get_length(sm->msg);
	msg = evbuffer_pullup(sm->msg, -1);
	if (tenant == NULL) {
		relay_capture_lost(s, "no tenant");
		goto out;
	}
	/* Outbound mail has no IMAP folder: with folder opt-in configured
	 * it is not captured (tap_policy_decide with no mailbox). */
	if (msg != NULL && tap_policy_decide(tc != NULL ? &tc->policy : NULL,
	    NULL, msg, relay_header_len(msg, len), &dec) == TAP_VERDICT_DROP) {
		session_log(log_info, s, "capture drop: reason=%s rule=%s "
		    "tenant=%s user=%s mailbox=- uid=0 source=smtp",
		    dec.reason, *dec.detail != '\0' ? dec.detail : "-",
		    tenant, sm->user != NULL ? sm->user : "-");
		goto out;
	}
	if (msg != NULL && dec.verdict == TAP_VERDICT_HEADERS_ONLY) {
		len = relay_header_len(msg, len);
		headers_only = true;
	}
	klen = event_key(tenant, sm->user, key, sizeof(key));
	if (klen < 0 || event_headers_fill(&eh, &m) != 0 ||
	    event_idkey_for_message(tenant, msg != NULL ? msg :
	    (const unsigned char *)"", len, idkey) != 0) {
		relay_capture_lost(s, "cannot label the event");
		goto out;
	}
	memcpy(h, eh.h, eh.n * sizeof(h[0]));
	n = eh.n;
	h[n++] = (struct spool_header){ "envelope-from",
	    sm->mail_from != NULL ? sm->mail_from : "",
	    sm->mail_from != NULL ? strlen(sm->mail_from) : 0 };
	h[n].name = "envelope-to";
	h[n].value = rcpts;
	h[n++].value_len = relay_rcpt_list(sm, rcpts,
	    SPOOL_HEADER_VALUE_MAX);
	snprintf(count, sizeof(count), "%u", sm->nrcpts);
	h[n++] = (struct spool_header){ "envelope-rcpt-count", count,
	    strlen(count) };
	if (headers_only)
		h[n++] = (struct spool_header){ "content", "headers-only",
		    strlen("headers-only") };
	idh = (struct spool_header){ "idempotency-key", idkey,
	    EVENT_IDKEY_LEN };
	st = spool_record_begin(w, EVENT_TOPIC_MAIL, key, (size_t)klen, h, n);
	if (st == SPOOL_OK && len > 0)
		st = spool_record_append(w, msg, len);
	if (st == SPOOL_OK)
		st = spool_record_commit(w, &idh, 1);
	else
		spool_record_abort(w);
	if (st != SPOOL_OK) {
		relay_capture_lost(s, st == SPOOL_FULL ? "spool full" :
		    st == SPOOL_TOO_BIG ? "message too big" :
		    "spool write failed");
		goto out;
	}
	sm->captured++;
	session_log(log_debug, s, "captured message %llu (%zu bytes, %u "
	    "recipients)", (unsigned long long)sm->messages, len,
	    sm->nrcpts);
out:
	free(rcpts);
	if (sm->msg != NULL)
		evbuffer_drain(sm->msg, evbuffer_get_length(sm->msg));
}

static void
relay_tap_drop(struct session *s)
{
	struct smtp_session *sm = s->smtp;

	if (sm->msg != NULL)
		evbuffer_drain(sm->msg, evbuffer_get_length(sm->msg));
}

/* ---- client -> server ----------------------------------------------- */

static void
relay_command(struct session *s)
{
	struct smtp_session *sm = s->smtp;
	struct smtp_client_parser *p = &sm->cp;
	struct evbuffer *out = bufferevent_get_output(s->ubev);
	enum smtp_pending_kind kind = SMTP_P_OTHER;
	const char *path = NULL;
	size_t plen = 0;
	const char *local = NULL;

	if (p->sasl_line) {
		evbuffer_add(out, p->line, p->line_len);
		evbuffer_add(out, "\r\n", 2);
		explicit_bzero(p->line, p->line_len);
		sm->hold = true;	/* until 334 or the verdict */
		return;
	}
	switch (p->cmd) {
	case SMTP_CMD_STARTTLS:
		local = s->tls_active ? "503 5.5.1 TLS already active" :
		    "454 4.7.0 TLS not available after authentication";
		break;
	case SMTP_CMD_BDAT:
		local = p->bdat_ok ? "502 5.5.1 BDAT not supported, use DATA" :
		    "501 5.5.4 Syntax: BDAT size [LAST]";
		break;
	case SMTP_CMD_EHLO:
		kind = SMTP_P_EHLO;
		break;
	case SMTP_CMD_HELO:
		kind = SMTP_P_HELO;
		break;
	case SMTP_CMD_MAIL:
		kind = SMTP_P_MAIL;
		if (!smtp_path(p->arg, p->arg_len, "FROM:", &path, &plen))
			path = NULL;
		break;
	case SMTP_CMD_RCPT:
		kind = SMTP_P_RCPT;
		if (!smtp_path(p->arg, p->arg_len, "TO:", &path, &plen))
			path = NULL;
		break;
	case SMTP_CMD_DATA:
		kind = SMTP_P_DATA;
		sm->hold = true;
		break;
	case SMTP_CMD_AUTH:
		kind = SMTP_P_AUTH;
		sm->hold = true;
		break;
	case SMTP_CMD_RSET:
		kind = SMTP_P_RSET;
		break;
	default:
		break;
	}
	if (local != NULL) {
		relay_push(s, SMTP_P_LOCAL, local, strlen(local));
		return;
	}
	evbuffer_add(out, p->line, p->line_len);
	evbuffer_add(out, "\r\n", 2);
	relay_push(s, kind, path, plen);
}

void
smtp_relay_client_read(struct session *s)
{
	struct smtp_session *sm = s->smtp;
	const struct limits_conf *lim = &s->w->conf->limits;

	while (s->state == SESSION_RELAY) {
		struct evbuffer *in = bufferevent_get_input(s->cbev);
		struct evbuffer *out = bufferevent_get_output(s->ubev);
		struct evbuffer_iovec v;
		size_t used = 0, total = evbuffer_get_length(in);
		const char *err = NULL;
		unsigned char *base;
		enum smtp_parse_result r;
		bool raw = sm->cp.mode == SMTP_MODE_DATA;

		if (sm->hold || sm->pcount >= SMTP_PENDING_MAX - 1)
			return;
		if (evbuffer_get_length(out) >= lim->buffer_high) {
			if (!s->paused[SIDE_CLIENT]) {
				s->paused[SIDE_CLIENT] = true;
				bufferevent_disable(s->cbev, EV_READ);
			}
			return;
		}
		if (!smtp_client_pending(&sm->cp, total, &v, in))
			return;
		base = v.iov_base;
		r = smtp_client_feed(&sm->cp, base, v.iov_len, &used, &err);
		if (r == SMTP_PARSE_AGAIN && used == 0 && v.iov_len < total) {
			base = evbuffer_pullup(in, (ssize_t)v.iov_len + 1);
			r = smtp_client_feed(&sm->cp, base, v.iov_len + 1,
			    &used, &err);
		}
		if (sm->cp.data_len > 0 && raw)
			relay_tap_data(s, sm->cp.data, sm->cp.data_len);
		s->bytes[SIDE_CLIENT] += used;
		if (raw)
			evbuffer_remove_buffer(in, out, used);
		else
			evbuffer_drain(in, used);	/* lines re-sent whole;
							 * refused chunks */
		switch (r) {
		case SMTP_PARSE_AGAIN:
			if (used == 0)
				return;
			break;
		case SMTP_PARSE_DATA:
		case SMTP_PARSE_CHUNK_END:
			break;
		case SMTP_PARSE_DATA_END:
			sm->in_message = false;
			relay_push(s, SMTP_P_MESSAGE, NULL, 0);
			break;
		case SMTP_PARSE_LINE:
			relay_command(s);
			break;
		case SMTP_PARSE_ERROR:
			/* The provider has not seen the offending byte, nor
			 * any end of data: closing makes it drop the
			 * message (RFC 5321 4.1.1.4). */
			session_log(log_warnx, s, "client %s: %s; closing",
			    s->peer_ip, err);
			relay_tap_drop(s);
			smtp_fatal(s, raw ? "554 5.6.0 Message refused: bare "
			    "CR or LF in message data, closing connection" :
			    "500 5.5.2 Syntax error: bare CR or LF or line too "
			    "long, closing connection", "bad input");
			return;
		}
	}
}

/* ---- server -> client ----------------------------------------------- */

static bool
relay_ehlo_dropped(const char *text, size_t len)
{
	size_t kw = smtp_ehlo_keyword(text, len);

	for (unsigned i = 0; relay_ehlo_drop[i] != NULL; i++)
		if (strlen(relay_ehlo_drop[i]) == kw &&
		    strncasecmp(relay_ehlo_drop[i], text, kw) == 0)
			return true;
	return false;
}

/* EHLO reply lines are collected, filtered, and sent with the last one, so
 * the final line keeps its "250 " whichever keyword was dropped. */
static void
relay_ehlo_line(struct session *s, const struct smtp_server_parser *p)
{
	struct smtp_session *sm = s->smtp;
	struct evbuffer *o = bufferevent_get_output(s->cbev);
	size_t n;

	if (sm->ehlo_reply == NULL)
		sm->ehlo_reply = evbuffer_new();
	if (evbuffer_get_length(sm->ehlo_reply) == 0 ||
	    !relay_ehlo_dropped(p->text, p->text_len)) {
		if (evbuffer_get_length(sm->ehlo_reply) + p->text_len + 2 <
		    SMTP_EHLO_REPLY_MAX) {
			evbuffer_add(sm->ehlo_reply, p->text, p->text_len);
			evbuffer_add(sm->ehlo_reply, "\n", 1);
		}
	}
	if (!p->last)
		return;
	while ((n = evbuffer_get_length(sm->ehlo_reply)) > 0) {
		size_t len;
		char *l = evbuffer_readln(sm->ehlo_reply, &len,
		    EVBUFFER_EOL_LF);

		if (l == NULL)
			break;
		evbuffer_add_printf(o, "%u%c%s\r\n", p->code,
		    evbuffer_get_length(sm->ehlo_reply) == 0 ? ' ' : '-', l);
		free(l);
	}
}

static void
relay_reply_done(struct session *s, const struct smtp_server_parser *p)
{
	struct smtp_session *sm = s->smtp;
	struct smtp_pending *h = relay_head(sm);
	bool ok = p->code >= 200 && p->code < 300;

	if (h == NULL)
		return;		/* unsolicited, such as a 421 */
	switch (h->kind) {
	case SMTP_P_MAIL:
		if (ok) {
			relay_envelope_reset(sm);
			sm->mail_from = h->arg != NULL ? h->arg : xstrdup("");
			h->arg = NULL;
		}
		break;
	case SMTP_P_RCPT:
		if (ok && h->arg != NULL && sm->nrcpts < SMTP_RCPT_MAX) {
			sm->rcpts = xreallocarray(sm->rcpts, sm->nrcpts + 1,
			    sizeof(*sm->rcpts));
			sm->rcpts[sm->nrcpts++] = h->arg;
			h->arg = NULL;
		}
		break;
	case SMTP_P_EHLO:
	case SMTP_P_HELO:
	case SMTP_P_RSET:
		if (ok)
			relay_envelope_reset(sm);
		break;
	case SMTP_P_DATA:
		sm->hold = false;
		if (p->code == 354) {
			smtp_client_set_mode(&sm->cp, SMTP_MODE_DATA);
			relay_tap_begin(s);
		}
		break;
	case SMTP_P_MESSAGE:
		/* Only the provider's acceptance makes an event. */
		if (ok)
			relay_tap_commit(s);
		else
			relay_tap_drop(s);
		relay_envelope_reset(sm);
		break;
	case SMTP_P_AUTH:
		if (p->code == 334) {
			smtp_client_set_mode(&sm->cp, SMTP_MODE_SASL);
			sm->hold = false;
			return;		/* the exchange goes on */
		}
		smtp_client_set_mode(&sm->cp, SMTP_MODE_COMMAND);
		sm->hold = false;
		break;
	case SMTP_P_OTHER:
	case SMTP_P_LOCAL:
		break;
	}
	relay_pop(sm);
	relay_flush_local(s);
}

void
smtp_relay_server_read(struct session *s)
{
	struct smtp_session *sm = s->smtp;
	const struct limits_conf *lim = &s->w->conf->limits;
	bool progress = false;

	while (s->state == SESSION_RELAY) {
		struct evbuffer *in = bufferevent_get_input(s->ubev);
		struct evbuffer *o = bufferevent_get_output(s->cbev);
		struct evbuffer_iovec v;
		const char *err = NULL;
		size_t used = 0;
		enum smtp_parse_result r;
		struct smtp_pending *h;

		if (evbuffer_get_length(o) >= lim->buffer_high) {
			s->paused[SIDE_UPSTREAM] = true;
			bufferevent_disable(s->ubev, EV_READ);
			break;
		}
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
			break;
		r = smtp_server_feed(&sm->sp, v.iov_base, v.iov_len, &used,
		    &err);
		evbuffer_drain(in, used);
		s->bytes[SIDE_UPSTREAM] += used;
		if (r == SMTP_PARSE_ERROR) {
			session_log(log_warnx, s, "server %s: %s; closing",
			    s->up->name, err);
			relay_tap_drop(s);
			smtp_fatal(s, "421 4.4.0 Lost sync with the mail "
			    "server, closing connection", "bad server reply");
			return;
		}
		if (r != SMTP_PARSE_LINE)
			continue;
		s->last_activity = time(NULL);
		h = relay_head(sm);
		if (h != NULL && h->kind == SMTP_P_EHLO && sm->sp.code == 250)
			relay_ehlo_line(s, &sm->sp);
		else
			evbuffer_add_printf(o, "%s\r\n", sm->sp.line);
		if (sm->sp.last) {
			relay_reply_done(s, &sm->sp);
			progress = true;
		}
	}
	/* A reply may have released held client input. */
	if (progress && s->state == SESSION_RELAY)
		smtp_relay_client_read(s);
}
