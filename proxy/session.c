/*
 * session.c - the client side of a session: accept, TLS, the PROXY header,
 * and everything before login, where the proxy speaks IMAP for itself.
 *
 * Before login nothing the client sends reaches a provider: the proxy
 * collects the credentials, picks the route and only then connects
 * (upstream.c).  That keeps unauthenticated clients away from providers
 * and lets limits apply before any upstream work.
 */
#include "proxy/session.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "lib/log.h"
#include "lib/xmalloc.h"
#include "proxy/limits.h"
#include "proxy/proxy_proto.h"
#include "proxy/smtp_session.h"
#include "proxy/worker.h"

static const char *const session_state_names[] = {
	[SESSION_PROXY_HEADER] = "PROXY_HEADER",
	[SESSION_PREAUTH] = "PREAUTH",
	[SESSION_AUTH_CONTINUE] = "AUTH_CONTINUE",
	[SESSION_UPSTREAM] = "UPSTREAM",
	[SESSION_UPSTREAM_SASL] = "UPSTREAM_SASL",
	[SESSION_RELAY] = "RELAY",
	[SESSION_CLOSING] = "CLOSING",
};

static void session_client_read(struct bufferevent *bev, void *arg);
static void session_client_event(struct bufferevent *bev, short what,
    void *arg);
static void session_client_write(struct bufferevent *bev, void *arg);
static void session_timer(evutil_socket_t fd, short what, void *arg);
static void session_start(struct session *s);
static void session_proxy_header(evutil_socket_t fd, short what, void *arg);

const char *
session_state_name(enum session_state state)
{
	return session_state_names[state];
}

void
session_set_state(struct session *s, enum session_state state)
{
	if (s->state == state)
		return;
	log_debug("session=%s state %s -> %s", s->id,
	    session_state_names[s->state], session_state_names[state]);
	s->state = state;
}

void
session_printf(struct session *s, const char *fmt, ...)
{
	va_list ap;

	if (s->cbev == NULL || s->state == SESSION_CLOSING)
		return;
	va_start(ap, fmt);
	evbuffer_add_vprintf(relay_client_output(s), fmt, ap);
	va_end(ap);
}

static void
session_addr_string(struct session *s)
{
	proxy_proto_addr_string((const struct sockaddr *)&s->peer, s->peer_ip,
	    sizeof(s->peer_ip), &s->peer_port);
}

static void
session_free_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	struct worker *w = s->w;

	(void)fd;
	(void)what;
	smtp_session_free(s);
	relay_free(s);
	upstream_free(s);
	if (s->header_ev != NULL)
		event_free(s->header_ev);
	if (s->timer != NULL)
		event_free(s->timer);
	if (s->cbev != NULL)
		bufferevent_free(s->cbev);
	else if (s->fd >= 0)
		close(s->fd);
	if (s->ip_counted)
		limits_release(LIMITS_IP, s->ip_hash);
	if (s->user_counted)
		limits_release(LIMITS_USER, s->user_hash);
	session_forget_credentials(s);
	x_free(&s->cmd);
	x_free(&s->close_reason);
	x_free(&s->login_user);
	TAILQ_REMOVE(&w->sessions, s, entry);
	free(s);
	worker_session_gone(w);
}

void
session_destroy(struct session *s)
{
	session_free_cb(-1, 0, s);
}

static void
session_free_later(struct session *s)
{
	static const struct timeval zero = { 0, 0 };

	if (s->header_ev != NULL)
		event_del(s->header_ev);
	if (s->timer != NULL)
		event_del(s->timer);
	relay_detach(s);
	if (s->cbev != NULL)
		bufferevent_disable(s->cbev, EV_READ | EV_WRITE);
	if (s->ubev != NULL)
		bufferevent_disable(s->ubev, EV_READ | EV_WRITE);
	event_base_once(s->w->base, -1, EV_TIMEOUT, session_free_cb, s, &zero);
}

static void
session_flushed(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	/* A write callback scheduled before session_close() swapped the
	 * callbacks can still arrive (libevent defers them): only an empty
	 * output means the last words are out. */
	if (evbuffer_get_length(bufferevent_get_output(bev)) > 0)
		return;
	session_free_later(s);
}

void
session_close(struct session *s, const char *reason)
{
	char spliced[40] = "";

	if (s->state == SESSION_CLOSING)
		return;
	if (s->spliced > 0)
		snprintf(spliced, sizeof(spliced), " spliced=%llu",
		    (unsigned long long)s->spliced);
	session_log(log_info, s, "closed: %s (user=%s in=%llu out=%llu%s)",
	    reason, s->user_counted && s->close_reason != NULL ?
	    s->close_reason : "-", (unsigned long long)s->bytes[SIDE_CLIENT],
	    (unsigned long long)s->bytes[SIDE_UPSTREAM], spliced);
	relay_detach(s);
	session_set_state(s, SESSION_CLOSING);
	if (s->ubev != NULL)
		bufferevent_disable(s->ubev, EV_READ | EV_WRITE);
	if (s->cbev != NULL) {
		/* After STARTTLS the client's bufferevent is a TLS filter: what
		 * it was given is already encrypted into the socket
		 * bufferevent underneath, so that one is what must drain. */
		struct bufferevent *out = bufferevent_get_underlying(s->cbev);

		if (out == NULL ||
		    evbuffer_get_length(bufferevent_get_output(s->cbev)) > 0)
			out = s->cbev;
		if (evbuffer_get_length(bufferevent_get_output(out)) > 0) {
			/* Let the last words (BYE, a tagged reply) reach the
			 * client, but never wait on it for long. */
			struct timeval tv = { 5, 0 };

			bufferevent_disable(s->cbev, EV_READ);
			if (out != s->cbev)
				bufferevent_disable(out, EV_READ);
			bufferevent_setwatermark(out, EV_WRITE, 0, 0);
			bufferevent_setcb(out, NULL, session_flushed,
			    session_client_event, s);
			bufferevent_set_timeouts(out, NULL, &tv);
			bufferevent_enable(out, EV_WRITE);
			if (s->timer != NULL)
				event_del(s->timer);
			return;
		}
	}
	session_free_later(s);
}

void
session_forget_credentials(struct session *s)
{
	x_free_secret(&s->secret);
	/* The user name stays in close_reason for the close log line. */
	if (s->user != NULL) {
		free(s->close_reason);
		s->close_reason = s->user;
		s->user = NULL;
	}
}

static const char *
session_capabilities(const struct session *s)
{
	bool plain_ok = s->tls_active || s->lc->allow_plaintext_auth;
	bool can_tls = !s->tls_active && s->lc->tls == TLS_MODE_STARTTLS;

	if (plain_ok)
		return can_tls ?
		    "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE "
		    "LITERAL+ STARTTLS AUTH=PLAIN AUTH=XOAUTH2 "
		    "AUTH=OAUTHBEARER" :
		    "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE "
		    "LITERAL+ AUTH=PLAIN AUTH=XOAUTH2 AUTH=OAUTHBEARER";
	return can_tls ?
	    "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ "
	    "STARTTLS LOGINDISABLED" :
	    "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ "
	    "LOGINDISABLED";
}

static void
session_greet(struct session *s)
{
	session_printf(s, "* OK [CAPABILITY %s] IMAP server ready.\r\n",
	    session_capabilities(s));
}

void
session_accept(struct worker *w, const struct listen_conf *lc, int fd,
    const struct sockaddr *sa, socklen_t salen)
{
	struct session *s = xcalloc(1, sizeof(*s));
	int one = 1;

	s->w = w;
	s->lc = lc;
	s->fd = fd;
	snprintf(s->id, sizeof(s->id), "%ld.%llu", w->pid,
	    (unsigned long long)++w->next_id);
	memcpy(&s->peer, sa, salen);
	s->peer_len = salen;
	session_addr_string(s);
	s->state = SESSION_PREAUTH;
	TAILQ_INSERT_TAIL(&w->sessions, s, entry);
	worker_session_new(w);
	/* Small IMAP lines both ways: Nagle would add a round trip. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	s->timer = event_new(w->base, -1, EV_PERSIST, session_timer, s);
	s->deadline = time(NULL) + (time_t)w->conf->limits.preauth_timeout;
	{
		struct timeval tv = { 1, 0 };

		event_add(s->timer, &tv);
	}
	if (lc->proxy_protocol) {
		if (!config_trusted_proxy(lc, sa)) {
			session_log(log_warnx, s,
			    "PROXY header expected from an untrusted address "
			    "%s; closing", s->peer_ip);
			session_close(s, "untrusted load balancer");
			return;
		}
		session_set_state(s, SESSION_PROXY_HEADER);
		s->header_ev = event_new(w->base, fd, EV_READ | EV_PERSIST,
		    session_proxy_header, s);
		event_add(s->header_ev, NULL);
		return;
	}
	session_start(s);
}

/*
 * The PROXY header is read straight from the socket with MSG_PEEK, before
 * any bufferevent exists, so not one byte past it (a TLS ClientHello, say)
 * is consumed by the wrong layer.
 */
static void
session_proxy_header(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	struct proxy_proto_info info;
	const char *errstr = NULL;

	(void)what;
	switch (proxy_proto_read(fd, &info, &errstr)) {
	case PROXY_PROTO_AGAIN:
		return;
	case PROXY_PROTO_ERROR:
		session_log(log_warnx, s, "bad PROXY header from %s: %s",
		    s->peer_ip, errstr);
		session_close(s, "bad PROXY header");
		return;
	case PROXY_PROTO_OK:
		break;
	}
	if (info.src.ss_family == AF_INET || info.src.ss_family == AF_INET6) {
		char lb[64];

		snprintf(lb, sizeof(lb), "%s", s->peer_ip);
		memcpy(&s->peer, &info.src, info.src_len);
		s->peer_len = info.src_len;
		session_addr_string(s);
		session_log(log_debug, s, "PROXY v%d: client %s via %s",
		    info.version, s->peer_ip, lb);
	}
	event_free(s->header_ev);
	s->header_ev = NULL;
	session_set_state(s, SESSION_PREAUTH);
	session_start(s);
}

static void
session_set_client_callbacks(struct session *s)
{
	uint64_t high = s->w->conf->limits.buffer_high;
	uint64_t line = s->w->conf->limits.line_max;

	bufferevent_setcb(s->cbev, session_client_read, session_client_write,
	    session_client_event, s);
	bufferevent_setwatermark(s->cbev, EV_WRITE,
	    (size_t)s->w->conf->limits.buffer_low, 0);
	/* Read at most this much ahead; a pre-auth command may need a whole
	 * line in the buffer. */
	bufferevent_setwatermark(s->cbev, EV_READ, 0,
	    (size_t)(high > line + 1024 ? high : line + 1024));
	bufferevent_enable(s->cbev, EV_READ | EV_WRITE);
}

static void
session_start(struct session *s)
{
	struct worker *w = s->w;
	const struct limits_conf *lim = &w->conf->limits;

	s->ip_hash = limits_hash(s->peer_ip);
	if (!limits_acquire(LIMITS_IP, s->ip_hash, lim->connections_per_ip)) {
		session_log(log_warnx, s, "too many connections from %s",
		    s->peer_ip);
		/* Plain text even on a TLS port: nothing better is possible
		 * without doing the handshake work we are refusing. */
		if (s->lc->tls != TLS_MODE_IMPLICIT) {
			const char *bye = s->lc->protocol == LISTEN_SMTP ?
			    SMTP_TOO_MANY :
			    "* BYE Too many connections from your address.\r\n";

			if (send(s->fd, bye, strlen(bye), MSG_NOSIGNAL) <
			    0) {
				/* nothing more to do */
			}
		}
		session_close(s, "per-address limit");
		return;
	}
	s->ip_counted = true;
	if (s->lc->tls == TLS_MODE_IMPLICIT) {
		SSL *ssl = SSL_new(s->lc->ssl_ctx);

		if (ssl == NULL) {
			session_close(s, "TLS setup failed");
			return;
		}
		s->cbev = bufferevent_openssl_socket_new(w->base, s->fd, ssl,
		    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
		s->tls_active = true;
	} else {
		s->cbev = bufferevent_socket_new(w->base, s->fd,
		    BEV_OPT_CLOSE_ON_FREE);
	}
	if (s->cbev == NULL) {
		session_close(s, "cannot create buffers");
		return;
	}
	s->fd = -1;		/* owned by the bufferevent now */
	if (s->lc->protocol == LISTEN_SMTP) {
		smtp_session_start(s);
		return;
	}
	imap_parser_init(&s->cp, IMAP_DIR_CLIENT, (size_t)lim->line_max);
	session_set_client_callbacks(s);
	session_log(log_debug, s, "connect from %s:%u on %s (tls=%s)",
	    s->peer_ip, s->peer_port, s->lc->name, tls_mode_name(s->lc->tls));
	session_greet(s);
}

static void
session_starttls(struct session *s)
{
	/* RFC 3501 6.2.1 / CVE-2011-0411: whatever the client pipelined
	 * after STARTTLS arrived in plaintext and must not be executed. */
	evbuffer_drain(bufferevent_get_input(s->cbev),
	    evbuffer_get_length(bufferevent_get_input(s->cbev)));
	imap_parser_reset(&s->cp);
	s->skip_to_eol = false;
	s->cmd_len = 0;
	if (session_client_tls(s) == 0)
		session_set_client_callbacks(s);
}

int
session_client_tls(struct session *s)
{
	struct bufferevent *tls;
	SSL *ssl;

	if ((ssl = SSL_new(s->lc->ssl_ctx)) == NULL) {
		session_close(s, "TLS setup failed");
		return -1;
	}
	tls = bufferevent_openssl_filter_new(s->w->base, s->cbev, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (tls == NULL) {
		SSL_free(ssl);
		session_close(s, "TLS setup failed");
		return -1;
	}
	s->cbev = tls;
	s->tls_active = true;
	return 0;
}

static void
session_timer(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	time_t now = time(NULL);

	(void)fd;
	(void)what;
	if (s->state == SESSION_CLOSING)
		return;
	if (s->smtp != NULL) {
		smtp_session_timer(s, now);
		return;
	}
	if (s->state == SESSION_RELAY) {
		if (now - s->last_activity >=
		    (time_t)s->w->conf->limits.idle_timeout) {
			if (relay_at_boundary(s))
				session_printf(s, "* BYE Disconnected for "
				    "inactivity.\r\n");
			session_close(s, "idle timeout");
		}
		return;
	}
	if (now >= s->deadline) {
		session_printf(s, "* BYE Disconnected for inactivity during "
		    "login.\r\n");
		session_close(s, "pre-login timeout");
	}
}

static void
session_client_event(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;
	unsigned long err;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED)
		return;
	if (s->state == SESSION_CLOSING) {
		/* The last words were being flushed and the client is gone
		 * or stuck: session_close() has run already and would do
		 * nothing again, and libevent reports no more events on a
		 * failed bufferevent, so this is the last chance to free. */
		session_free_later(s);
		return;
	}
	if (s->state == SESSION_RELAY && (what & BEV_EVENT_EOF)) {
		s->eof[SIDE_CLIENT] = true;
		session_close(s, "client disconnected");
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		session_free_later(s);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		err = s->tls_active ? bufferevent_get_openssl_error(s->cbev)
		    : 0;
		if (err != 0) {
			char msg[256];

			ERR_error_string_n(err, msg, sizeof(msg));
			session_log(log_info, s, "client TLS error: %s", msg);
			session_close(s, "client TLS error");
		} else {
			session_close(s, errno != 0 ? strerror(errno) :
			    "client connection error");
		}
		return;
	}
	session_close(s, "client disconnected");
}

static void
session_client_read(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	(void)bev;
	switch (s->state) {
	case SESSION_PREAUTH:
	case SESSION_AUTH_CONTINUE:
	case SESSION_UPSTREAM_SASL:
		session_preauth_input(s);
		break;
	case SESSION_UPSTREAM:
		/* Pipelined after the login: kept until the login ends
		 * (the read watermark bounds how much). */
		break;
	case SESSION_RELAY:
	case SESSION_PROXY_HEADER:
	case SESSION_CLOSING:
		break;
	}
}

/* Before login a client that sends without reading (NOOP floods) must not
 * grow our output without bound: stop reading it until it catches up. */
static void
session_client_write(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	(void)bev;
	if (s->paused[SIDE_CLIENT] && s->state != SESSION_CLOSING) {
		s->paused[SIDE_CLIENT] = false;
		bufferevent_enable(s->cbev, EV_READ);
		session_preauth_input(s);
	}
}

/* Appends to the command buffer; the parser's limits bound the total. */
static void
session_cmd_append(struct session *s, const unsigned char *p, size_t n)
{
	if (s->cmd_len + n + 1 > s->cmd_cap) {
		size_t cap = s->cmd_cap == 0 ? 256 : s->cmd_cap;

		while (cap < s->cmd_len + n + 1)
			cap *= 2;
		s->cmd = xreallocarray(s->cmd, cap, 1);
		s->cmd_cap = cap;
	}
	memcpy(s->cmd + s->cmd_len, p, n);
	s->cmd_len += n;
	s->cmd[s->cmd_len] = '\0';
}

static void
session_cmd_reset(struct session *s)
{
	if (s->cmd != NULL)
		explicit_bzero(s->cmd, s->cmd_cap);
	s->cmd_len = 0;
	/* Keep small buffers; give back what a big literal needed. */
	if (s->cmd_cap > 4096) {
		x_free(&s->cmd);
		s->cmd_cap = 0;
	}
}

static bool
session_plaintext_refused(struct session *s, const char *tag)
{
	if (s->tls_active || s->lc->allow_plaintext_auth)
		return false;
	session_printf(s, "%s NO [PRIVACYREQUIRED] Plaintext authentication "
	    "disallowed on non-secure (SSL/TLS) connections.\r\n", tag);
	return true;
}

/* Routes by user and hands over to upstream.c. */
static void
session_login(struct session *s)
{
	const struct limits_conf *lim = &s->w->conf->limits;

	s->up = config_route(s->w->conf, s->user);
	if (s->up == NULL) {
		session_log(log_warnx, s, "no route for user %s", s->user);
		session_printf(s, "%s NO [UNAVAILABLE] No mail server is "
		    "configured for this account.\r\n", s->tag);
		session_login_failed(s, false);
		return;
	}
	s->user_hash = limits_hash(s->user);
	if (!limits_acquire(LIMITS_USER, s->user_hash,
	    lim->connections_per_user)) {
		session_log(log_warnx, s, "too many sessions for user %s",
		    s->user);
		session_printf(s, "%s NO [LIMIT] Too many connections for "
		    "this account.\r\n", s->tag);
		session_login_failed(s, false);
		return;
	}
	s->user_counted = true;
	session_set_state(s, SESSION_UPSTREAM);
	upstream_start(s);
}

void
session_login_failed(struct session *s, bool counts_as_failure)
{
	if (s->user_counted) {
		limits_release(LIMITS_USER, s->user_hash);
		s->user_counted = false;
	}
	session_forget_credentials(s);
	x_free(&s->close_reason);
	upstream_free(s);
	s->up = NULL;
	imap_parser_server_tagged(&s->cp, s->tag);
	session_set_state(s, SESSION_PREAUTH);
	if (counts_as_failure &&
	    ++s->auth_failures >= s->w->conf->limits.auth_failures_max) {
		session_printf(s, "* BYE Too many invalid authentication "
		    "attempts.\r\n");
		session_close(s, "too many authentication failures");
		return;
	}
	session_preauth_input(s);
}

static void
session_sasl_response(struct session *s, const char *b64, size_t len)
{
	unsigned char *raw;
	char user[SASL_USER_MAX + 1];
	const char *errstr = NULL;
	long n;

	if (len == 1 && b64[0] == '*') {
		session_printf(s, "%s BAD Authentication aborted by client.\r\n",
		    s->tag);
		session_login_failed(s, false);
		return;
	}
	raw = xmalloc(len / 4 * 3 + 3);
	n = sasl_base64_decode(b64, len, raw, len / 4 * 3 + 3);
	if (n < 0 || sasl_response_user(s->mech, raw, (size_t)n, user,
	    sizeof(user), &errstr) != 0) {
		if (n > 0)
			explicit_bzero(raw, (size_t)n);
		free(raw);
		session_printf(s, "%s BAD Invalid %s response: %s.\r\n", s->tag,
		    sasl_mech_name(s->mech), n < 0 ? "not base64" : errstr);
		session_login_failed(s, true);
		return;
	}
	explicit_bzero(raw, (size_t)n);
	free(raw);
	if (user[0] == '\0') {
		/* OAUTHBEARER without "a=": the token alone names the user,
		 * which only the provider can read; the default route it is. */
		snprintf(user, sizeof(user), "%s", "");
	}
	s->user = xstrdup(user);
	s->secret = xstrndup(b64, len);
	session_login(s);
}

static void
session_cmd_authenticate(struct session *s, const struct imap_arg *args,
    int nargs)
{
	if (nargs < 1 || nargs > 2 || args[0].type != IMAP_ARG_ATOM) {
		session_printf(s, "%s BAD Usage: AUTHENTICATE mechanism "
		    "[initial-response]\r\n", s->tag);
		imap_parser_server_tagged(&s->cp, s->tag);
		return;
	}
	if (session_plaintext_refused(s, s->tag)) {
		imap_parser_server_tagged(&s->cp, s->tag);
		return;
	}
	s->mech = sasl_mech_parse(args[0].ptr, args[0].len);
	if (s->mech == SASL_MECH_UNKNOWN) {
		session_printf(s, "%s NO [CANNOT] Unsupported authentication "
		    "mechanism.\r\n", s->tag);
		imap_parser_server_tagged(&s->cp, s->tag);
		return;
	}
	s->auth_sasl = true;
	if (nargs == 2) {
		session_sasl_response(s, args[1].ptr, args[1].len);
		return;
	}
	session_printf(s, "+ \r\n");
	session_set_state(s, SESSION_AUTH_CONTINUE);
}

static bool
session_astring_ok(const struct imap_arg *a)
{
	return (a->type == IMAP_ARG_ATOM || a->type == IMAP_ARG_STRING) &&
	    memchr(a->ptr, '\0', a->len) == NULL && a->len <= 1024;
}

static void
session_cmd_login(struct session *s, const struct imap_arg *args, int nargs)
{
	if (nargs != 2 || !session_astring_ok(&args[0]) ||
	    !session_astring_ok(&args[1]) || args[0].len == 0) {
		session_printf(s, "%s BAD Usage: LOGIN user password\r\n",
		    s->tag);
		return;
	}
	if (session_plaintext_refused(s, s->tag))
		return;
	s->auth_sasl = false;
	s->user = xstrndup(args[0].ptr, args[0].len);
	s->secret = xstrndup(args[1].ptr, args[1].len);
	session_login(s);
}

/* One complete pre-auth command is in s->cmd. */
static void
session_command(struct session *s)
{
	const struct imap_line *line = &s->cp.line;
	struct imap_arg args[4];
	const char *errstr = NULL, *name = line->name;
	char *scratch;
	int nargs;

	snprintf(s->tag, sizeof(s->tag), "%s", line->tag);
	if (line->tag[0] == '\0') {
		session_printf(s, "* BAD Error in IMAP command: invalid tag.\r\n");
		return;
	}
	scratch = xmalloc(s->cmd_len + 1);
	nargs = imap_parse_args(s->cmd, s->cmd_len, args, 4, scratch,
	    s->cmd_len + 1, &errstr);
	if (nargs < 0) {
		session_printf(s, "%s BAD Error in IMAP command %s: %s.\r\n",
		    s->tag, name, errstr);
		imap_parser_server_tagged(&s->cp, s->tag);
	} else if (strcmp(name, "CAPABILITY") == 0) {
		session_printf(s, "* CAPABILITY %s\r\n%s OK Pre-login "
		    "capabilities listed, post-login capabilities have more."
		    "\r\n", session_capabilities(s), s->tag);
	} else if (strcmp(name, "NOOP") == 0) {
		session_printf(s, "%s OK NOOP completed.\r\n", s->tag);
	} else if (strcmp(name, "LOGOUT") == 0) {
		session_printf(s, "* BYE Logging out\r\n%s OK Logout "
		    "completed.\r\n", s->tag);
		session_close(s, "logout");
	} else if (strcmp(name, "ID") == 0) {
		session_printf(s, "* ID (\"name\" \"crm-proxy\")\r\n%s OK ID "
		    "completed.\r\n", s->tag);
	} else if (strcmp(name, "STARTTLS") == 0) {
		if (s->tls_active || s->lc->tls != TLS_MODE_STARTTLS) {
			session_printf(s, "%s BAD STARTTLS not available%s.\r\n",
			    s->tag, s->tls_active ? " (TLS already active)" :
			    "");
		} else {
			session_printf(s, "%s OK Begin TLS negotiation now."
			    "\r\n", s->tag);
			session_starttls(s);
		}
	} else if (strcmp(name, "LOGIN") == 0) {
		session_cmd_login(s, args, nargs);
	} else if (strcmp(name, "AUTHENTICATE") == 0) {
		session_cmd_authenticate(s, args, nargs);
	} else {
		session_printf(s, "%s BAD Command %s is not permitted before "
		    "login.\r\n", s->tag, name);
		/* An IDLE or AUTHENTICATE-like mode must not stick. */
		imap_parser_server_tagged(&s->cp, s->tag);
	}
	explicit_bzero(scratch, s->cmd_len + 1);
	free(scratch);
}

/* A literal header arrived before login: we are the server, we decide. */
static bool
session_preauth_literal(struct session *s)
{
	uint64_t size = imap_parser_literal_size(&s->cp);
	const struct imap_line *line = &s->cp.line;

	if (size <= s->w->conf->limits.preauth_literal_max) {
		if (!imap_parser_literal_nonsync(&s->cp)) {
			session_printf(s, "+ OK\r\n");
			imap_parser_server_continuation(&s->cp);
		}
		return true;
	}
	if (imap_parser_literal_nonsync(&s->cp)) {
		/* The bytes are already on their way; RFC 7888 section 4
		 * allows rejecting and closing. */
		session_printf(s, "* BYE Literal too large before login.\r\n");
		session_close(s, "pre-login literal too large");
		return false;
	}
	session_printf(s, "%s BAD Literal too large before login (%llu "
	    "bytes, limit %llu).\r\n", line->tag[0] ? line->tag : "*",
	    (unsigned long long)size,
	    (unsigned long long)s->w->conf->limits.preauth_literal_max);
	imap_parser_server_tagged(&s->cp, line->tag);
	session_cmd_reset(s);
	return true;
}

void
session_preauth_input(struct session *s)
{
	struct evbuffer *in;

	while (s->state == SESSION_PREAUTH ||
	    s->state == SESSION_AUTH_CONTINUE ||
	    s->state == SESSION_UPSTREAM_SASL) {
		struct evbuffer_iovec v;
		const char *errstr = NULL;
		size_t consumed = 0;
		enum imap_parse_result r;

		in = bufferevent_get_input(s->cbev);
		if (evbuffer_get_length(bufferevent_get_output(s->cbev)) >=
		    s->w->conf->limits.buffer_high) {
			s->paused[SIDE_CLIENT] = true;
			bufferevent_disable(s->cbev, EV_READ);
			return;
		}
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
			return;
		if (s->skip_to_eol) {
			char *nl = memchr(v.iov_base, '\n', v.iov_len);

			consumed = nl ? (size_t)(nl - (char *)v.iov_base) + 1 :
			    v.iov_len;
			evbuffer_drain(in, consumed);
			if (nl != NULL)
				s->skip_to_eol = false;
			continue;
		}
		r = imap_parser_feed(&s->cp, v.iov_base, v.iov_len, &consumed,
		    &errstr);
		{
			/* The parser passes over empty lines between
			 * commands; they are no part of the next one. */
			const unsigned char *b = v.iov_base;
			size_t skip = 0;

			while (s->cmd_len == 0 && skip < consumed &&
			    (b[skip] == '\r' || b[skip] == '\n') &&
			    s->cp.line.kind != IMAP_LINE_SASL)
				skip++;
			session_cmd_append(s, b + skip, consumed - skip);
		}
		evbuffer_drain(in, consumed);
		s->last_activity = time(NULL);
		switch (r) {
		case IMAP_PARSE_AGAIN:
			break;
		case IMAP_PARSE_LITERAL:
			if (!session_preauth_literal(s))
				return;
			break;
		case IMAP_PARSE_LINE:
			if (s->cp.line.kind == IMAP_LINE_SASL) {
				size_t n = s->cmd_len;

				while (n > 0 && (s->cmd[n - 1] == '\n' ||
				    s->cmd[n - 1] == '\r'))
					n--;
				if (s->state == SESSION_UPSTREAM_SASL) {
					upstream_sasl_line(s, s->cmd, n);
				} else if (s->state == SESSION_AUTH_CONTINUE) {
					session_sasl_response(s, s->cmd, n);
				}
			} else if (s->cp.line.kind == IMAP_LINE_COMMAND &&
			    s->state == SESSION_PREAUTH) {
				session_command(s);
			} else {
				session_printf(s, "* BAD Unexpected line.\r\n");
			}
			session_cmd_reset(s);
			break;
		case IMAP_PARSE_ERROR:
		case IMAP_PARSE_BLIND: {
			const struct imap_line *line = &s->cp.line;
			bool too_long = s->cmd_len >=
			    s->w->conf->limits.line_max;

			session_log(log_info, s, "bad command from %s: %s",
			    s->peer_ip, errstr ? errstr : "parser blind");
			if (too_long) {
				session_printf(s, "* BYE Line too long.\r\n");
				session_close(s, "line too long");
				return;
			}
			session_printf(s, "%s BAD Error in IMAP command: %s.\r\n",
			    line->tag[0] ? line->tag : "*",
			    errstr ? errstr : "syntax error");
			/* We are the server here, so a resync at the next
			 * line is exactly what the client expects. */
			s->skip_to_eol = s->cmd_len == 0 ||
			    s->cmd[s->cmd_len - 1] != '\n';
			imap_parser_reset(&s->cp);
			if (s->state == SESSION_AUTH_CONTINUE)
				session_login_failed(s, true);
			session_cmd_reset(s);
			break;
		}
		}
		if (s->state == SESSION_CLOSING)
			return;
	}
}

void
session_shutdown(struct session *s)
{
	if (s->state == SESSION_CLOSING)
		return;
	if (s->smtp != NULL) {
		smtp_session_shutdown(s);
		return;
	}
	if (s->state != SESSION_RELAY || relay_at_boundary(s))
		session_printf(s, "* BYE Server shutting down.\r\n");
	session_close(s, "shutdown");
}
