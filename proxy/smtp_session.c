/*
 * smtp_session.c - SMTP submission before and during login.
 *
 * Before AUTH the proxy is the server (RFC 5321, RFC 4954): greeting,
 * EHLO, STARTTLS (RFC 3207), AUTH.  Nothing reaches a provider until the
 * client has named a user, so routing and limits apply first, exactly as
 * for IMAP.  Then the proxy opens the routed provider's smtp_address, says
 * EHLO with the client's own name, upgrades with STARTTLS when configured,
 * and replays the client's AUTH with the same mechanism and the same
 * base64 the client sent.  The provider's verdict is the client's.
 *
 * Credentials live in the session only until that verdict, then are wiped
 * (x_free_secret); they never reach a log.
 */
#define SMTP_SESSION_INTERNAL
#include "proxy/smtp_session.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "lib/log.h"
#include "lib/xmalloc.h"
#include "proxy/limits.h"
#include "proxy/sasl.h"
#include "proxy/session.h"
#include "proxy/upconn.h"
#include "proxy/worker.h"

static const char *const smtp_ustate_names[] = {
	[SMTP_U_NONE] = "NONE",
	[SMTP_U_GREETING] = "GREETING",
	[SMTP_U_EHLO] = "EHLO",
	[SMTP_U_STARTTLS] = "STARTTLS",
	[SMTP_U_AUTH] = "AUTH",
	[SMTP_U_CLIENT_SASL] = "CLIENT_SASL",
};

static void smtp_client_read_cb(struct bufferevent *bev, void *arg);
static void smtp_client_write_cb(struct bufferevent *bev, void *arg);
static void smtp_client_event_cb(struct bufferevent *bev, short what,
    void *arg);
static void smtp_up_read_cb(struct bufferevent *bev, void *arg);
static void smtp_up_event_cb(struct bufferevent *bev, short what, void *arg);
static void smtp_up_write_cb(struct bufferevent *bev, void *arg);
static void smtp_preauth_input(struct session *s);

static void
smtp_uset(struct session *s, enum smtp_ustate st)
{
	log_debug("session=%s smtp upstream %s -> %s", s->id,
	    smtp_ustate_names[s->smtp->ustate], smtp_ustate_names[st]);
	s->smtp->ustate = st;
}

void
smtp_reply(struct session *s, const char *fmt, ...)
{
	va_list ap;

	if (s->cbev == NULL || s->state == SESSION_CLOSING)
		return;
	va_start(ap, fmt);
	evbuffer_add_vprintf(bufferevent_get_output(s->cbev), fmt, ap);
	va_end(ap);
}

bool
smtp_client_pending(const struct smtp_client_parser *p, size_t total,
    struct evbuffer_iovec *v, struct evbuffer *in)
{
	static unsigned char none[1];

	if (total > 0 && evbuffer_peek(in, -1, NULL, v, 1) >= 1 &&
	    v->iov_len > 0)
		return true;
	if (p->mode == SMTP_MODE_CHUNK && p->chunk_left == 0) {
		v->iov_base = none;
		v->iov_len = 0;
		return true;
	}
	return false;
}

void
smtp_fatal(struct session *s, const char *reply, const char *reason)
{
	if (reply != NULL)
		smtp_reply(s, "%s\r\n", reply);
	session_close(s, reason);
}

static void
smtp_set_callbacks(struct session *s)
{
	const struct limits_conf *lim = &s->w->conf->limits;

	bufferevent_setcb(s->cbev, smtp_client_read_cb, smtp_client_write_cb,
	    smtp_client_event_cb, s);
	bufferevent_setwatermark(s->cbev, EV_WRITE, (size_t)lim->buffer_low,
	    0);
	bufferevent_setwatermark(s->cbev, EV_READ, 0,
	    (size_t)lim->buffer_high);
	bufferevent_enable(s->cbev, EV_READ | EV_WRITE);
}

static const char *
smtp_hostname(void)
{
	static char name[256];

	if (name[0] == '\0' && (gethostname(name, sizeof(name) - 1) != 0 ||
	    name[0] == '\0'))
		snprintf(name, sizeof(name), "crm-proxy");
	return name;
}

void
smtp_session_start(struct session *s)
{
	s->smtp = xcalloc(1, sizeof(*s->smtp));
	smtp_client_init(&s->smtp->cp, 0);
	smtp_server_init(&s->smtp->sp);
	smtp_set_callbacks(s);
	session_log(log_debug, s, "smtp connect from %s:%u on %s (tls=%s)",
	    s->peer_ip, s->peer_port, s->lc->name, tls_mode_name(s->lc->tls));
	smtp_reply(s, "220 %s ESMTP ready\r\n", smtp_hostname());
}

static void
smtp_forget_credentials(struct session *s)
{
	struct smtp_session *sm = s->smtp;

	x_free_secret(&sm->resp);
	x_free_secret(&sm->login_user_b64);
	x_free_secret(&sm->login_pass_b64);
}

void
smtp_session_free(struct session *s)
{
	struct smtp_session *sm = s->smtp;

	if (sm == NULL)
		return;
	smtp_relay_free(s);
	smtp_forget_credentials(s);
	x_free(&sm->user);
	x_free(&s->smtp);
}

void
smtp_session_timer(struct session *s, time_t now)
{
	if (s->state == SESSION_RELAY) {
		if (now - s->last_activity >=
		    (time_t)s->w->conf->limits.idle_timeout) {
			if (!s->smtp->in_message)
				smtp_reply(s, "421 4.4.2 Idle timeout, closing "
				    "connection\r\n");
			session_close(s, "idle timeout");
		}
		return;
	}
	if (now >= s->deadline)
		smtp_fatal(s, "421 4.4.2 Timeout during login, closing "
		    "connection", "pre-login timeout");
}

void
smtp_session_shutdown(struct session *s)
{
	if (!s->smtp->in_message)
		smtp_reply(s, "421 4.3.2 Server shutting down\r\n");
	session_close(s, "shutdown");
}

/* ---- client side ---------------------------------------------------- */

static void
smtp_client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED)
		return;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		char why[256];

		/* A TLS peer that just closes (no close_notify) is an
		 * ordinary disconnect, not worth a warning. */
		upconn_error(s->cbev, what, why, sizeof(why));
		session_close(s, (what & BEV_EVENT_EOF) ||
		    strcmp(why, "connection error") == 0 ||
		    strstr(why, "unexpected eof") != NULL ?
		    "client disconnected" : why);
	} else {
		session_close(s, "client timeout");
	}
}

static void
smtp_client_read_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	(void)bev;
	s->last_activity = time(NULL);
	switch (s->state) {
	case SESSION_PREAUTH:
	case SESSION_AUTH_CONTINUE:
	case SESSION_UPSTREAM_SASL:
		smtp_preauth_input(s);
		break;
	case SESSION_RELAY:
		smtp_relay_client_read(s);
		break;
	default:
		/* UPSTREAM: pipelined bytes wait for the login's end. */
		break;
	}
}

static void
smtp_client_write_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	(void)bev;
	if (s->state == SESSION_CLOSING)
		return;
	if (s->state == SESSION_RELAY) {
		/* The client drained: resume reading the provider. */
		if (s->paused[SIDE_UPSTREAM] && s->ubev != NULL) {
			s->paused[SIDE_UPSTREAM] = false;
			bufferevent_enable(s->ubev, EV_READ);
			smtp_relay_server_read(s);
		}
		return;
	}
	if (s->paused[SIDE_CLIENT]) {
		s->paused[SIDE_CLIENT] = false;
		bufferevent_enable(s->cbev, EV_READ);
		smtp_preauth_input(s);
	}
}

static void
smtp_ehlo_reply(struct session *s)
{
	bool plain_ok = s->tls_active || s->lc->allow_plaintext_auth;
	bool can_tls = !s->tls_active && s->lc->tls == TLS_MODE_STARTTLS;
	/* Clients remember this list for the whole session, so it should
	 * match the provider's ([listen] smtp_capabilities); never CHUNKING
	 * (BDAT is refused: smtp_relay.c). */
	const char *caps = s->lc->smtp_capabilities != NULL ?
	    s->lc->smtp_capabilities :
	    "PIPELINING\nSIZE\n8BITMIME\nSMTPUTF8\nDSN\nENHANCEDSTATUSCODES";
	struct evbuffer *lines = evbuffer_new();
	char *line;
	size_t n;

	evbuffer_add_printf(lines, "%s\n", smtp_hostname());
	if (can_tls)
		evbuffer_add_printf(lines, "STARTTLS\n");
	if (plain_ok)
		evbuffer_add_printf(lines,
		    "AUTH PLAIN LOGIN XOAUTH2 OAUTHBEARER\n");
	if (*caps != '\0')
		evbuffer_add_printf(lines, "%s\n", caps);
	while ((line = evbuffer_readln(lines, &n, EVBUFFER_EOL_LF)) != NULL) {
		smtp_reply(s, "250%c%s\r\n",
		    evbuffer_get_length(lines) > 0 ? '-' : ' ', line);
		free(line);
	}
	evbuffer_free(lines);
}

static void
smtp_starttls(struct session *s)
{
	struct smtp_session *sm = s->smtp;
	struct evbuffer *in = bufferevent_get_input(s->cbev);

	smtp_reply(s, "220 2.0.0 Ready to start TLS\r\n");
	/* RFC 3207 section 4.2 / CVE-2011-0411: anything pipelined after
	 * STARTTLS came in plaintext and is discarded; the client starts
	 * over with EHLO. */
	evbuffer_drain(in, evbuffer_get_length(in));
	smtp_client_reset(&sm->cp);
	sm->ehlo_seen = false;
	if (session_client_tls(s) == 0)
		smtp_set_callbacks(s);
}

/* ---- login ---------------------------------------------------------- */

static void
smtp_back_to_preauth(struct session *s)
{
	if (s->user_counted) {
		limits_release(LIMITS_USER, s->user_hash);
		s->user_counted = false;
	}
	smtp_forget_credentials(s);
	x_free(&s->smtp->user);
	upstream_free(s);
	s->up = NULL;
	smtp_client_set_mode(&s->smtp->cp, SMTP_MODE_COMMAND);
	smtp_server_init(&s->smtp->sp);
	s->smtp->ustate = SMTP_U_NONE;
	session_set_state(s, SESSION_PREAUTH);
}

static void
smtp_login_failed(struct session *s, bool counts)
{
	smtp_back_to_preauth(s);
	if (counts && ++s->auth_failures >=
	    s->w->conf->limits.auth_failures_max) {
		smtp_fatal(s, "421 4.7.0 Too many authentication failures",
		    "too many authentication failures");
		return;
	}
	smtp_preauth_input(s);
}

static void
smtp_unavailable(struct session *s, const char *why)
{
	session_log(log_warnx, s, "smtp upstream %s (%s) unavailable: %s",
	    s->up != NULL ? s->up->name : "-",
	    s->up != NULL && s->up->smtp_address ? s->up->smtp_address : "-",
	    why);
	smtp_reply(s, "454 4.7.0 Temporary authentication failure, try again "
	    "later\r\n");
	smtp_login_failed(s, false);
}

static void
smtp_up_send(struct session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void
smtp_up_send(struct session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	evbuffer_add_vprintf(bufferevent_get_output(s->ubev), fmt, ap);
	va_end(ap);
}

static void
smtp_target(const struct session *s, struct upconn_target *t)
{
	*t = (struct upconn_target){
		.host = s->up->smtp_host,
		.port = s->up->smtp_port,
		.tls = s->up->smtp_tls == TLS_MODE_IMPLICIT,
		.ssl_ctx = s->up->ssl_ctx,
		.server_name = s->up->smtp_server_name,
		.verify = s->up->verify,
	};
}

static void
smtp_up_callbacks(struct session *s)
{
	struct timeval tv = { (time_t)s->w->conf->limits.connect_timeout, 0 };

	bufferevent_setcb(s->ubev, smtp_up_read_cb, smtp_up_write_cb,
	    smtp_up_event_cb, s);
	/* One timeout covers connect, TLS, greeting and AUTH. */
	bufferevent_set_timeouts(s->ubev, &tv, &tv);
	bufferevent_enable(s->ubev, EV_READ | EV_WRITE);
}

static void
smtp_login(struct session *s)
{
	struct smtp_session *sm = s->smtp;
	const struct limits_conf *lim = &s->w->conf->limits;
	struct upconn_target t;
	const char *why = NULL;

	smtp_client_set_mode(&sm->cp, SMTP_MODE_COMMAND);
	s->up = config_route(s->w->conf, sm->user);
	if (s->up == NULL || s->up->smtp_address == NULL) {
		session_log(log_warnx, s, "no smtp route for user %s",
		    sm->user);
		smtp_reply(s, "454 4.7.0 No mail server is configured for "
		    "this account\r\n");
		smtp_login_failed(s, false);
		return;
	}
	s->user_hash = limits_hash(sm->user);
	if (!limits_acquire(LIMITS_USER, s->user_hash,
	    lim->connections_per_user)) {
		session_log(log_warnx, s, "too many sessions for user %s",
		    sm->user);
		smtp_reply(s, "454 4.7.0 Too many connections for this "
		    "account\r\n");
		s->up = NULL;
		smtp_login_failed(s, false);
		return;
	}
	s->user_counted = true;
	session_set_state(s, SESSION_UPSTREAM);
	smtp_target(s, &t);
	s->ubev = upconn_connect(s->w->base, s->w->dns, &t, &why);
	if (s->ubev == NULL) {
		smtp_unavailable(s, why);
		return;
	}
	smtp_server_init(&sm->sp);
	sm->up_starttls_done = false;
	smtp_uset(s, SMTP_U_GREETING);
	smtp_up_callbacks(s);
}

static void
smtp_up_auth(struct session *s)
{
	struct smtp_session *sm = s->smtp;

	if (sm->mech_login) {
		smtp_up_send(s, "AUTH LOGIN\r\n");
		sm->login_step = 0;
	} else {
		/* RFC 4954: "=" is an empty initial response. */
		smtp_up_send(s, "AUTH %s %s\r\n", sm->mech,
		    sm->resp[0] != '\0' ? sm->resp : "=");
	}
	smtp_uset(s, SMTP_U_AUTH);
}

static void
smtp_up_line(struct session *s)
{
	struct smtp_session *sm = s->smtp;
	struct smtp_server_parser *p = &sm->sp;

	switch (sm->ustate) {
	case SMTP_U_NONE:
	case SMTP_U_GREETING:
		if (!p->last)
			return;
		if (p->code != 220) {
			smtp_unavailable(s, "unexpected greeting");
			return;
		}
		smtp_up_send(s, "EHLO %s\r\n", sm->helo[0] ? sm->helo :
		    smtp_hostname());
		smtp_uset(s, SMTP_U_EHLO);
		return;
	case SMTP_U_EHLO:
		if (!p->last)
			return;
		if (p->code != 250) {
			smtp_unavailable(s, "EHLO refused");
			return;
		}
		if (s->up->smtp_tls == TLS_MODE_STARTTLS &&
		    !sm->up_starttls_done) {
			smtp_up_send(s, "STARTTLS\r\n");
			smtp_uset(s, SMTP_U_STARTTLS);
			return;
		}
		smtp_up_auth(s);
		return;
	case SMTP_U_STARTTLS:
		if (!p->last)
			return;
		if (p->code != 220) {
			smtp_unavailable(s, "STARTTLS refused");
			return;
		}
		{
			struct evbuffer *in = bufferevent_get_input(s->ubev);
			struct upconn_target t;
			struct bufferevent *tls;

			/* Nothing sent in plaintext after the 220 counts. */
			evbuffer_drain(in, evbuffer_get_length(in));
			smtp_target(s, &t);
			tls = upconn_tls_bev(s->w->base, &t, s->ubev);
			if (tls == NULL) {
				smtp_unavailable(s, "TLS setup failed");
				return;
			}
			s->ubev = tls;
			smtp_up_callbacks(s);
		}
		sm->up_starttls_done = true;
		smtp_server_init(&sm->sp);
		smtp_up_send(s, "EHLO %s\r\n", sm->helo[0] ? sm->helo :
		    smtp_hostname());
		smtp_uset(s, SMTP_U_EHLO);
		return;
	case SMTP_U_AUTH:
	case SMTP_U_CLIENT_SASL:
		if (p->code == 334 && p->last && sm->mech_login &&
		    sm->login_step < 2) {
			smtp_up_send(s, "%s\r\n", sm->login_step == 0 ?
			    sm->login_user_b64 : sm->login_pass_b64);
			sm->login_step++;
			return;
		}
		if (p->code == 334) {
			/* A challenge for the client (XOAUTH2's JSON
			 * error, say): pass it on, relay the answer. */
			smtp_reply(s, "%s\r\n", p->line);
			if (!p->last)
				return;
			smtp_uset(s, SMTP_U_CLIENT_SASL);
			smtp_client_set_mode(&sm->cp, SMTP_MODE_SASL);
			session_set_state(s, SESSION_UPSTREAM_SASL);
			smtp_preauth_input(s);
			return;
		}
		smtp_reply(s, "%s\r\n", p->line);
		if (!p->last)
			return;
		if (p->code == 235) {
			session_log(log_info, s, "login user=%s via %s (%s) "
			    "client=%s tls=%s protocol=smtp", sm->user,
			    s->up->name, s->up->smtp_address, s->peer_ip,
			    s->tls_active ? "yes" : "no");
			smtp_forget_credentials(s);
			/* For the close line. */
			free(s->close_reason);
			s->close_reason = xstrdup(sm->user);
			smtp_uset(s, SMTP_U_NONE);
			smtp_relay_start(s);
			return;
		}
		session_log(log_info, s, "login refused for user=%s by %s: "
		    "%u", sm->user, s->up->name, p->code);
		smtp_login_failed(s, true);
		return;
	}
}

static void
smtp_up_read_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	if (s->state == SESSION_RELAY) {
		smtp_relay_server_read(s);
		return;
	}
	while (s->state == SESSION_UPSTREAM ||
	    s->state == SESSION_UPSTREAM_SASL) {
		struct evbuffer *in = bufferevent_get_input(bev);
		struct evbuffer_iovec v;
		const char *err = NULL;
		size_t used = 0;
		enum smtp_parse_result r;

		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
			return;
		r = smtp_server_feed(&s->smtp->sp, v.iov_base, v.iov_len,
		    &used, &err);
		evbuffer_drain(in, used);
		if (r == SMTP_PARSE_ERROR) {
			smtp_unavailable(s, err);
			return;
		}
		if (r != SMTP_PARSE_LINE)
			continue;
		smtp_up_line(s);
		if (bev != s->ubev)
			return;	/* replaced by STARTTLS, or freed */
	}
}

/* The provider drained below buffer_low: resume reading the client. */
static void
smtp_up_write_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	(void)bev;
	if (s->state == SESSION_RELAY && s->paused[SIDE_CLIENT]) {
		s->paused[SIDE_CLIENT] = false;
		bufferevent_enable(s->cbev, EV_READ);
		smtp_relay_client_read(s);
	}
}

static void
smtp_up_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;
	char why[256];

	if (what & BEV_EVENT_CONNECTED) {
		upconn_nodelay(bev);
		return;
	}
	if (s->state == SESSION_RELAY) {
		/* The last reply (221 after QUIT) may still be unread. */
		if (s->ubev != NULL)
			bufferevent_disable(s->ubev, EV_READ);
		s->paused[SIDE_UPSTREAM] = false;
		smtp_relay_server_read(s);
		if (s->state != SESSION_RELAY)
			return;
		s->eof[SIDE_UPSTREAM] = true;
		session_close(s, (what & BEV_EVENT_EOF) ? "server closed" :
		    "server connection error");
		return;
	}
	upconn_error(bev, what, why, sizeof(why));
	smtp_unavailable(s, why);
}

/* ---- pre-auth commands ---------------------------------------------- */

static bool
smtp_decode_user(const char *b64, size_t len, int mech, char *user,
    size_t size)
{
	unsigned char *raw = xmalloc(len / 4 * 3 + 3);
	const char *errstr = NULL;
	long n = sasl_base64_decode(b64, len, raw, len / 4 * 3 + 3);
	bool ok = false;

	if (n >= 0 && mech < 0) {
		/* AUTH LOGIN: the decoded text is the user name. */
		ok = n > 0 && (size_t)n < size && (size_t)n <= SASL_USER_MAX &&
		    memchr(raw, '\0', (size_t)n) == NULL &&
		    memchr(raw, '\r', (size_t)n) == NULL &&
		    memchr(raw, '\n', (size_t)n) == NULL;
		if (ok) {
			memcpy(user, raw, (size_t)n);
			user[n] = '\0';
		}
	} else if (n >= 0) {
		ok = sasl_response_user((enum sasl_mech)mech, raw, (size_t)n,
		    user, size, &errstr) == 0;
	}
	if (n > 0)
		explicit_bzero(raw, (size_t)n);
	free(raw);
	return ok;
}

/* A SASL line (or the initial response) arrived before login. */
static void
smtp_sasl_input(struct session *s, const char *line, size_t len)
{
	struct smtp_session *sm = s->smtp;
	char user[SASL_USER_MAX + 1];

	if (len == 1 && line[0] == '*') {
		smtp_reply(s, "501 5.7.0 Authentication cancelled\r\n");
		smtp_back_to_preauth(s);
		return;
	}
	if (sm->mech_login) {
		if (sm->login_step == 0) {
			if (!smtp_decode_user(line, len, -1, user,
			    sizeof(user))) {
				smtp_reply(s, "501 5.5.2 Invalid user name "
				    "encoding\r\n");
				smtp_login_failed(s, true);
				return;
			}
			sm->user = xstrdup(user);
			sm->login_user_b64 = xstrndup(line, len);
			sm->login_step = 1;
			smtp_reply(s, "334 UGFzc3dvcmQ6\r\n");
			return;
		}
		sm->login_pass_b64 = xstrndup(line, len);
		smtp_login(s);
		return;
	}
	if (!smtp_decode_user(line, len, sm->sasl_mech, user, sizeof(user))) {
		smtp_reply(s, "501 5.5.2 Invalid %s response\r\n", sm->mech);
		smtp_login_failed(s, true);
		return;
	}
	sm->user = xstrdup(user);
	sm->resp = xstrndup(line, len);
	smtp_login(s);
}

static void
smtp_cmd_auth(struct session *s)
{
	struct smtp_session *sm = s->smtp;
	const char *arg = sm->cp.arg, *sp;
	size_t n = sm->cp.arg_len, mlen;

	if (!sm->ehlo_seen || !sm->esmtp) {
		/* AUTH is an extension: only after EHLO (RFC 4954 4). */
		smtp_reply(s, "503 5.5.1 Send EHLO first\r\n");
		return;
	}
	if (!s->tls_active && !s->lc->allow_plaintext_auth) {
		smtp_reply(s, "530 5.7.0 Must issue a STARTTLS command "
		    "first\r\n");
		return;
	}
	sp = memchr(arg, ' ', n);
	mlen = sp != NULL ? (size_t)(sp - arg) : n;
	sm->mech_login = mlen == 5 && strncasecmp(arg, "LOGIN", 5) == 0;
	sm->sasl_mech = (int)sasl_mech_parse(arg, mlen);
	if (!sm->mech_login && sm->sasl_mech == SASL_MECH_UNKNOWN) {
		smtp_reply(s, "504 5.5.4 Unrecognized authentication type\r\n");
		return;
	}
	snprintf(sm->mech, sizeof(sm->mech), "%s", sm->mech_login ? "LOGIN" :
	    sasl_mech_name((enum sasl_mech)sm->sasl_mech));
	sm->login_step = 0;
	session_set_state(s, SESSION_AUTH_CONTINUE);
	/* From here lines are SASL responses (AUTH LOGIN with an initial
	 * response still asks for the password). */
	smtp_client_set_mode(&sm->cp, SMTP_MODE_SASL);
	if (sp != NULL) {
		/* Initial response (RFC 4954 section 4); "=" is empty. */
		const char *ir = sp + 1;
		size_t irlen = n - mlen - 1;

		if (irlen == 1 && ir[0] == '=')
			irlen = 0;
		smtp_sasl_input(s, ir, irlen);
		return;
	}
	smtp_reply(s, "%s\r\n", sm->mech_login ? "334 VXNlcm5hbWU6" : "334 ");
}

static void
smtp_preauth_command(struct session *s)
{
	struct smtp_session *sm = s->smtp;
	struct smtp_client_parser *p = &sm->cp;

	switch (p->cmd) {
	case SMTP_CMD_EHLO:
	case SMTP_CMD_HELO:
		if (p->arg_len == 0 || p->arg_len >= sizeof(sm->helo) ||
		    strpbrk(p->arg, " \t") != NULL) {
			smtp_reply(s, "501 5.5.4 Syntax: %s hostname\r\n",
			    smtp_cmd_name(p->cmd));
			return;
		}
		memcpy(sm->helo, p->arg, p->arg_len + 1);
		sm->ehlo_seen = true;
		sm->esmtp = p->cmd == SMTP_CMD_EHLO;
		if (sm->esmtp)
			smtp_ehlo_reply(s);
		else
			smtp_reply(s, "250 %s\r\n", smtp_hostname());
		return;
	case SMTP_CMD_STARTTLS:
		if (s->tls_active)
			smtp_reply(s, "503 5.5.1 TLS already active\r\n");
		else if (s->lc->tls != TLS_MODE_STARTTLS)
			smtp_reply(s, "502 5.5.1 STARTTLS not available\r\n");
		else
			smtp_starttls(s);
		return;
	case SMTP_CMD_AUTH:
		smtp_cmd_auth(s);
		return;
	case SMTP_CMD_MAIL:
	case SMTP_CMD_RCPT:
	case SMTP_CMD_DATA:
		smtp_reply(s, "530 5.7.0 Authentication required\r\n");
		return;
	case SMTP_CMD_BDAT:
		if (p->bdat_ok)
			sm->bdat_refused = true;	/* after the chunk */
		else
			smtp_reply(s, "501 5.5.4 Syntax: BDAT size [LAST]\r\n");
		return;
	case SMTP_CMD_RSET:
	case SMTP_CMD_NOOP:
		smtp_reply(s, "250 2.0.0 OK\r\n");
		return;
	case SMTP_CMD_QUIT:
		smtp_fatal(s, "221 2.0.0 Bye", "quit");
		return;
	case SMTP_CMD_NONE:
		smtp_reply(s, "500 5.5.2 Error: bad syntax\r\n");
		return;
	case SMTP_CMD_UNKNOWN:
		smtp_reply(s, "502 5.5.2 Error: command not recognized\r\n");
		return;
	}
}

static void
smtp_preauth_input(struct session *s)
{
	struct smtp_session *sm = s->smtp;

	while (s->state == SESSION_PREAUTH ||
	    s->state == SESSION_AUTH_CONTINUE ||
	    s->state == SESSION_UPSTREAM_SASL) {
		struct evbuffer *in = bufferevent_get_input(s->cbev);
		struct evbuffer_iovec v;
		size_t used = 0, total = evbuffer_get_length(in);
		const char *err = NULL;
		unsigned char *base;
		enum smtp_parse_result r;

		if (evbuffer_get_length(bufferevent_get_output(s->cbev)) >=
		    s->w->conf->limits.buffer_high) {
			s->paused[SIDE_CLIENT] = true;
			bufferevent_disable(s->cbev, EV_READ);
			return;
		}
		if (!smtp_client_pending(&sm->cp, total, &v, in))
			return;
		base = v.iov_base;
		r = smtp_client_feed(&sm->cp, base, v.iov_len, &used, &err);
		if (r == SMTP_PARSE_AGAIN && used == 0 && v.iov_len < total) {
			/* A CR at the end of a chain link: join it with
			 * the next byte. */
			base = evbuffer_pullup(in, (ssize_t)v.iov_len + 1);
			r = smtp_client_feed(&sm->cp, base, v.iov_len + 1,
			    &used, &err);
		}
		evbuffer_drain(in, used);
		switch (r) {
		case SMTP_PARSE_AGAIN:
			if (used == 0)
				return;
			break;
		case SMTP_PARSE_DATA:
			break;	/* a refused BDAT chunk: dropped */
		case SMTP_PARSE_DATA_END:
			break;
		case SMTP_PARSE_CHUNK_END:
			if (sm->bdat_refused) {
				sm->bdat_refused = false;
				smtp_reply(s, "530 5.7.0 Authentication "
				    "required\r\n");
			}
			break;
		case SMTP_PARSE_LINE:
			if (sm->cp.sasl_line) {
				if (s->state == SESSION_UPSTREAM_SASL) {
					/* The answer to a provider's
					 * challenge goes to the provider. */
					evbuffer_add_printf(
					    bufferevent_get_output(s->ubev),
					    "%s\r\n", sm->cp.line);
					smtp_client_set_mode(&sm->cp,
					    SMTP_MODE_COMMAND);
					smtp_uset(s, SMTP_U_AUTH);
					session_set_state(s,
					    SESSION_UPSTREAM);
				} else {
					smtp_sasl_input(s, sm->cp.line,
					    sm->cp.line_len);
				}
				explicit_bzero(sm->cp.line, sm->cp.line_len);
			} else if (s->state == SESSION_PREAUTH) {
				smtp_preauth_command(s);
			}
			break;
		case SMTP_PARSE_ERROR:
			session_log(log_info, s, "bad input from %s: %s",
			    s->peer_ip, err);
			smtp_reply(s, "500 5.5.2 %s, closing connection\r\n",
			    err);
			session_close(s, "bad input");
			return;
		}
		if (s->state == SESSION_CLOSING)
			return;
	}
}
