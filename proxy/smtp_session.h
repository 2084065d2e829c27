/*
 * smtp_session.h - SMTP submission sessions (listeners with protocol =
 * smtp).  They reuse struct session for what every protocol shares
 * (accept, PROXY header, per-address limits, TLS, timers, close and free)
 * and keep their own state here.
 *
 *   PREAUTH   the proxy is the server: greeting, EHLO, STARTTLS, AUTH
 *             (smtp_session.c); nothing reaches a provider
 *   UPSTREAM  EHLO, STARTTLS and AUTH at the routed provider's
 *             smtp_address with the client's own SASL exchange
 *   RELAY     commands and replies relayed with both parsers watching;
 *             each accepted message tapped to crm.mail.v1 (smtp_relay.c)
 */
#ifndef CRM_PROXY_SMTP_SESSION_H
#define CRM_PROXY_SMTP_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "proxy/smtp_parse.h"

struct session;

#define SMTP_TOO_MANY "421 4.7.0 Too many connections from your address\r\n"

/* session.c calls these. */
void smtp_session_start(struct session *s);
void smtp_session_timer(struct session *s, time_t now);
void smtp_session_shutdown(struct session *s);
/* NULL-safe; frees s->smtp. */
void smtp_session_free(struct session *s);

#ifdef SMTP_SESSION_INTERNAL

#include <event2/buffer.h>

enum smtp_ustate {
	SMTP_U_NONE,
	SMTP_U_GREETING,
	SMTP_U_EHLO,
	SMTP_U_STARTTLS,
	SMTP_U_AUTH,		/* waiting for 334 / 235 / failure */
	SMTP_U_CLIENT_SASL,	/* a challenge went to the client */
};

/* What a reply the relay is waiting for answers. */
enum smtp_pending_kind {
	SMTP_P_OTHER,
	SMTP_P_EHLO,
	SMTP_P_HELO,
	SMTP_P_MAIL,
	SMTP_P_RCPT,
	SMTP_P_DATA,
	SMTP_P_MESSAGE,		/* the end of a message's data */
	SMTP_P_AUTH,
	SMTP_P_RSET,
	SMTP_P_LOCAL,		/* answered by the proxy, in order */
};

struct smtp_pending {
	enum smtp_pending_kind kind;
	char *arg;		/* MAIL/RCPT path; LOCAL: the reply */
};

#define SMTP_PENDING_MAX 512	/* pipelined commands in flight */
#define SMTP_RCPT_MAX 1000
#define SMTP_EHLO_REPLY_MAX 16384

struct smtp_session {
	struct smtp_client_parser cp;
	struct smtp_server_parser sp;
	char helo[256];		/* the client's EHLO name */
	bool ehlo_seen, esmtp;

	/* Login. */
	enum smtp_ustate ustate;
	bool mech_login;	/* AUTH LOGIN (else a SASL mechanism) */
	int login_step;		/* AUTH LOGIN: 0 user, 1 password */
	int sasl_mech;		/* enum sasl_mech */
	bool bdat_refused;	/* pre-auth BDAT: answer after its chunk */
	char *user;		/* authenticated user (routing, the key) */
	char *resp;		/* base64 SASL response, wiped after use */
	char *login_user_b64, *login_pass_b64;
	char mech[16];
	bool up_starttls_done;

	/* Relay. */
	struct smtp_pending pending[SMTP_PENDING_MAX];
	unsigned phead, pcount;
	bool hold;		/* client input waits for a reply */
	struct evbuffer *ehlo_reply;	/* EHLO reply being filtered */
	bool ehlo_dropped_last;

	/* Envelope and tap. */
	char *mail_from;
	char **rcpts;
	unsigned nrcpts;
	bool in_message;	/* DATA accepted, message streaming */
	bool tap_overflow;	/* message over payload_max: not captured */
	struct evbuffer *msg;	/* the message, dot-unstuffed */
	uint64_t messages, captured, capture_lost;
	bool capture_warned;
};

/* smtp_session.c */
/* Whether the client parser has something to do: buffered bytes (*v is
 * the first chain link), or the end of an empty BDAT chunk, which needs
 * no byte (then *v is empty). */
bool smtp_client_pending(const struct smtp_client_parser *p, size_t total,
    struct evbuffer_iovec *v, struct evbuffer *in);
void smtp_reply(struct session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void smtp_fatal(struct session *s, const char *reply, const char *reason);

/* smtp_relay.c */
void smtp_relay_start(struct session *s);
void smtp_relay_client_read(struct session *s);
void smtp_relay_server_read(struct session *s);
void smtp_relay_free(struct session *s);

#endif /* SMTP_SESSION_INTERNAL */

#endif
