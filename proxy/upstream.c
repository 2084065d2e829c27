/*
 * upstream.c - connecting to the provider and logging in there with the
 * client's own credentials.
 *
 * The proxy never holds provider credentials of its own and never stores the
 * client's: they live in the session from the client's LOGIN/AUTHENTICATE
 * until the provider's tagged reply, then are wiped.  Any failure to reach
 * or talk to the provider becomes "NO [UNAVAILABLE]" for the client within
 * connect_timeout; a refusal by the provider is passed on as the provider
 * worded it, with the client's tag.
 */
#include "proxy/session.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "lib/log.h"
#include "lib/tls.h"
#include "lib/xmalloc.h"
#include "proxy/imap_caps.h"
#include "proxy/upconn.h"
#include "proxy/worker.h"

#define UPSTREAM_LINE_MAX 65536

/* Our own tags towards the provider during login. */
#define TAG_STARTTLS "P0"
#define TAG_CAPA "P1"
#define TAG_ID "P2"
#define TAG_AUTH "P3"

static const char *const upstream_state_names[] = {
	[UPSTREAM_NONE] = "NONE",
	[UPSTREAM_CONNECTING] = "CONNECTING",
	[UPSTREAM_GREETING] = "GREETING",
	[UPSTREAM_STARTTLS] = "STARTTLS",
	[UPSTREAM_CAPABILITY] = "CAPABILITY",
	[UPSTREAM_AUTH_CONTINUE] = "AUTH_CONTINUE",
	[UPSTREAM_AUTH] = "AUTH",
};

static void upstream_read(struct bufferevent *bev, void *arg);
static void upstream_event(struct bufferevent *bev, short what, void *arg);

static void
upstream_set_state(struct session *s, enum upstream_state st)
{
	log_debug("session=%s upstream %s -> %s", s->id,
	    upstream_state_names[s->ustate], upstream_state_names[st]);
	s->ustate = st;
}

/* Safe inside the upstream's own callbacks: libevent holds a reference on
 * a bufferevent while it runs them. */
void
upstream_free(struct session *s)
{
	if (s->ubev != NULL) {
		bufferevent_free(s->ubev);
		s->ubev = NULL;
	}
	s->ustate = UPSTREAM_NONE;
}

/* The provider could not be used: the client may try again later. */
static void
upstream_unavailable(struct session *s, const char *why)
{
	session_log(log_warnx, s, "upstream %s (%s) unavailable: %s",
	    s->up->name, s->up->address ? s->up->address : "-", why);
	session_printf(s, "%s NO [UNAVAILABLE] Mail server unavailable, try "
	    "again later.\r\n", s->tag);
	session_login_failed(s, false);
}

static void
upstream_send(struct session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void
upstream_send(struct session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	evbuffer_add_vprintf(bufferevent_get_output(s->ubev), fmt, ap);
	va_end(ap);
}

static void
upstream_target(const struct session *s, struct upconn_target *t)
{
	*t = (struct upconn_target){
		.host = s->up->host,
		.port = s->up->port,
		.tls = s->up->tls == TLS_MODE_IMPLICIT,
		.ssl_ctx = s->up->ssl_ctx,
		.server_name = s->up->server_name,
		.verify = s->up->verify,
	};
}

static struct bufferevent *
upstream_tls_bev(struct session *s, struct bufferevent *under)
{
	struct upconn_target t;

	upstream_target(s, &t);
	return upconn_tls_bev(s->w->base, &t, under);
}

void
upstream_start(struct session *s)
{
	struct timeval tv = { (time_t)s->w->conf->limits.connect_timeout, 0 };
	struct upconn_target t;
	const char *why = NULL;

	if (s->up->address == NULL) {
		upstream_unavailable(s, "no IMAP address (SMTP only)");
		return;
	}
	upstream_target(s, &t);
	s->ubev = upconn_connect(s->w->base, s->w->dns, &t, &why);
	if (s->ubev == NULL) {
		upstream_unavailable(s, why);
		return;
	}
	s->up_caps_known = s->up_sasl_ir = s->up_literal_plus = false;
	bufferevent_setcb(s->ubev, upstream_read, NULL, upstream_event, s);
	/* One timeout covers connect, TLS, greeting and the login itself. */
	bufferevent_set_timeouts(s->ubev, &tv, &tv);
	upstream_set_state(s, UPSTREAM_CONNECTING);
	session_log(log_debug, s, "connecting to %s (%s, tls=%s)",
	    s->up->name, s->up->address, tls_mode_name(s->up->tls));
	bufferevent_enable(s->ubev, EV_READ | EV_WRITE);
}

static void
upstream_event(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;
	char why[512] = "";

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		/* Also reported when a STARTTLS handshake completes. */
		if (s->ustate == UPSTREAM_CONNECTING) {
			/* Commands are small writes that must not wait for the
			 * ACK of the previous one (Nagle). */
			upconn_nodelay(s->ubev);
			upstream_set_state(s, UPSTREAM_GREETING);
		}
		return;
	}
	if (what & (BEV_EVENT_TIMEOUT | BEV_EVENT_ERROR)) {
		upconn_error(s->ubev, what, why, sizeof(why));
		upstream_unavailable(s, why);
		return;
	}
	upstream_unavailable(s, "connection closed during login");
}

/* Writes an IMAP astring: quoted when it can be, else a LITERAL+ literal. */
static int
upstream_astring(struct session *s, struct evbuffer *out, const char *str)
{
	size_t len = strlen(str);
	bool quotable = true;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)str[i];

		if (c == '\r' || c == '\n' || c >= 0x80 || c == 0)
			quotable = false;
	}
	if (quotable) {
		struct evbuffer_iovec v;
		char *q;

		/* Written straight into the output: the password is never
		 * copied anywhere else. */
		if (evbuffer_reserve_space(out, (ev_ssize_t)(2 * len + 2), &v,
		    1) != 1)
			fatalx("upstream: out of memory");
		q = v.iov_base;
		*q++ = '"';
		for (size_t i = 0; i < len; i++) {
			if (str[i] == '"' || str[i] == '\\')
				*q++ = '\\';
			*q++ = str[i];
		}
		*q++ = '"';
		v.iov_len = (size_t)(q - (char *)v.iov_base);
		if (evbuffer_commit_space(out, &v, 1) != 0)
			fatalx("upstream: cannot commit output");
		return 0;
	}
	if (!s->up_literal_plus)
		return -1;
	evbuffer_add_printf(out, "{%zu+}\r\n", len);
	evbuffer_add(out, str, len);
	return 0;
}

static void
upstream_login(struct session *s)
{
	struct evbuffer *out = bufferevent_get_output(s->ubev);

	if (s->up->forward_client_ip) {
		/* Dovecot and others honour these from trusted networks
		 * (login_trusted_networks), so the provider logs and limits
		 * by the real client address, not ours. */
		upstream_send(s, TAG_ID " ID (\"x-originating-ip\" \"%s\" "
		    "\"x-originating-port\" \"%u\" \"x-session-id\" \"%s\")"
		    "\r\n", s->peer_ip, s->peer_port, s->id);
	}
	if (!s->auth_sasl) {
		static const char login[] = TAG_AUTH " LOGIN ";

		evbuffer_add(out, login, sizeof(login) - 1);
		if (upstream_astring(s, out, s->user) != 0 ||
		    (evbuffer_add(out, " ", 1),
		    upstream_astring(s, out, s->secret)) != 0) {
			/* Cannot be sent safely; never let it half-out. */
			upstream_unavailable(s, "credentials need a literal "
			    "but the server lacks LITERAL+");
			return;
		}
		evbuffer_add(out, "\r\n", 2);
		upstream_set_state(s, UPSTREAM_AUTH);
		return;
	}
	if (s->up_sasl_ir) {
		upstream_send(s, TAG_AUTH " AUTHENTICATE %s %s\r\n",
		    sasl_mech_name(s->mech), s->secret[0] ? s->secret : "=");
		upstream_set_state(s, UPSTREAM_AUTH);
	} else {
		upstream_send(s, TAG_AUTH " AUTHENTICATE %s\r\n",
		    sasl_mech_name(s->mech));
		upstream_set_state(s, UPSTREAM_AUTH_CONTINUE);
	}
}

static void
upstream_learn_caps(struct session *s, const char *line, size_t len)
{
	if (!imap_caps_has(line, len, "IMAP4rev1") &&
	    !imap_caps_has(line, len, "IMAP4rev2"))
		return;
	s->up_caps_known = true;
	s->up_sasl_ir = imap_caps_has(line, len, "SASL-IR");
	s->up_literal_plus = imap_caps_has(line, len, "LITERAL+");
}

static bool
upstream_tagged(const char *line, const char *tag, const char **status_r)
{
	size_t n = strlen(tag);

	if (strncmp(line, tag, n) != 0 || line[n] != ' ')
		return false;
	*status_r = line + n + 1;
	return true;
}

static bool
upstream_ok(const char *status)
{
	return strncasecmp(status, "OK", 2) == 0 &&
	    (status[2] == ' ' || status[2] == '\0');
}

/* Login succeeded: the client gets the provider's words, with its tag. */
static void
upstream_success(struct session *s, const char *status)
{
	static const char *const drop[] = { "COMPRESS=DEFLATE", NULL };
	char *line = xasprintf("%s %s\r\n", s->tag, status);
	size_t len = imap_caps_filter(line, strlen(line), drop);

	evbuffer_add(bufferevent_get_output(s->cbev), line, len);
	free(line);
	session_log(log_info, s, "login user=%s via %s (%s) client=%s tls=%s",
	    s->user, s->up->name, s->up->address, s->peer_ip,
	    s->tls_active ? "yes" : "no");
	s->login_user = s->user != NULL ? xstrdup(s->user) : NULL;
	session_forget_credentials(s);
	x_free(&s->cmd);
	s->cmd_cap = s->cmd_len = 0;
	s->ustate = UPSTREAM_NONE;
	relay_start(s);
}

static void
upstream_line(struct session *s, char *line, size_t len)
{
	const char *status;

	switch (s->ustate) {
	case UPSTREAM_NONE:
	case UPSTREAM_CONNECTING:
	case UPSTREAM_GREETING:
		if (strncasecmp(line, "* OK", 4) != 0) {
			upstream_unavailable(s, strncasecmp(line, "* BYE", 5) ==
			    0 ? "server said BYE" : "unexpected greeting");
			return;
		}
		upstream_learn_caps(s, line, len);
		if (s->up->tls == TLS_MODE_STARTTLS) {
			upstream_send(s, TAG_STARTTLS " STARTTLS\r\n");
			upstream_set_state(s, UPSTREAM_STARTTLS);
		} else if (!s->up_caps_known) {
			upstream_send(s, TAG_CAPA " CAPABILITY\r\n");
			upstream_set_state(s, UPSTREAM_CAPABILITY);
		} else {
			upstream_login(s);
		}
		return;
	case UPSTREAM_STARTTLS:
		if (line[0] == '*')
			return;
		if (!upstream_tagged(line, TAG_STARTTLS, &status) ||
		    !upstream_ok(status)) {
			upstream_unavailable(s, "STARTTLS refused");
			return;
		}
		{
			struct bufferevent *tls;
			struct evbuffer *in = bufferevent_get_input(s->ubev);

			/* Nothing the server sent in plaintext after its OK
			 * may be trusted (RFC 3501 6.2.1). */
			evbuffer_drain(in, evbuffer_get_length(in));
			tls = upstream_tls_bev(s, s->ubev);
			if (tls == NULL) {
				upstream_unavailable(s, "TLS setup failed");
				return;
			}
			s->ubev = tls;
			bufferevent_setcb(s->ubev, upstream_read, NULL,
			    upstream_event, s);
			{
				struct timeval tv = { (time_t)s->w->conf->
				    limits.connect_timeout, 0 };

				bufferevent_set_timeouts(s->ubev, &tv, &tv);
			}
			bufferevent_enable(s->ubev, EV_READ | EV_WRITE);
		}
		/* Capabilities must be asked again over TLS. */
		s->up_caps_known = false;
		upstream_send(s, TAG_CAPA " CAPABILITY\r\n");
		upstream_set_state(s, UPSTREAM_CAPABILITY);
		return;
	case UPSTREAM_CAPABILITY:
		if (line[0] == '*') {
			upstream_learn_caps(s, line, len);
			return;
		}
		if (!upstream_tagged(line, TAG_CAPA, &status) ||
		    !upstream_ok(status)) {
			upstream_unavailable(s, "CAPABILITY failed");
			return;
		}
		upstream_login(s);
		return;
	case UPSTREAM_AUTH_CONTINUE:
		if (line[0] == '+') {
			/* "=" is SASL-IR's spelling of an empty response;
			 * on a continuation line that is an empty line. */
			upstream_send(s, "%s\r\n",
			    strcmp(s->secret, "=") == 0 ? "" : s->secret);
			upstream_set_state(s, UPSTREAM_AUTH);
			return;
		}
		/* A tagged refusal before the continuation. */
		/* FALLTHROUGH */
	case UPSTREAM_AUTH:
		if (line[0] == '*')
			return;
		if (line[0] == '+') {
			/* A challenge the provider wants the client to see,
			 * such as XOAUTH2's JSON error: pass it through and
			 * relay the client's answer. */
			evbuffer_add_printf(bufferevent_get_output(s->cbev),
			    "%s\r\n", line);
			session_set_state(s, SESSION_UPSTREAM_SASL);
			session_preauth_input(s);
			return;
		}
		if (upstream_tagged(line, TAG_ID, &status))
			return;
		if (!upstream_tagged(line, TAG_AUTH, &status)) {
			upstream_unavailable(s, "unexpected reply to login");
			return;
		}
		if (upstream_ok(status)) {
			upstream_success(s, status);
			return;
		}
		session_log(log_info, s, "login refused for user=%s by %s: %s",
		    s->user, s->up->name, status);
		session_printf(s, "%s %s\r\n", s->tag, status);
		session_login_failed(s, true);
		return;
	}
}

static void
upstream_read(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	while (s->state == SESSION_UPSTREAM ||
	    s->state == SESSION_UPSTREAM_SASL) {
		size_t len;
		char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF);

		if (line == NULL) {
			if (evbuffer_get_length(in) > UPSTREAM_LINE_MAX)
				upstream_unavailable(s, "line too long");
			return;
		}
		upstream_line(s, line, len);
		free(line);
		if (bev != s->ubev)
			return;	/* replaced by STARTTLS or freed */
	}
}

void
upstream_sasl_line(struct session *s, const char *line, size_t len)
{
	evbuffer_add(bufferevent_get_output(s->ubev), line, len);
	evbuffer_add(bufferevent_get_output(s->ubev), "\r\n", 2);
	session_set_state(s, SESSION_UPSTREAM);
}
