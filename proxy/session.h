/*
 * session.h - one client connection and, after login, its upstream.
 *
 * A session moves through:
 *
 *   PROXY_HEADER -> PREAUTH <-> AUTH_CONTINUE
 *                      |  ^
 *                      v  | (login refused / upstream unavailable)
 *                   UPSTREAM <-> UPSTREAM_SASL
 *                      |
 *                      v
 *                    RELAY -> CLOSING
 *
 * Before login the proxy is the server (session.c).  UPSTREAM is the login
 * to the provider (upstream.c).  RELAY is the full-duplex byte relay with
 * both parsers watching (relay.c).  The session is freed only from a
 * deferred callback, never inside one of its own (STYLE 7).
 */
#ifndef CRM_PROXY_SESSION_H
#define CRM_PROXY_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>

#include "proxy/config.h"
#include "proxy/imap_parse.h"
#include "proxy/sasl.h"

struct bufferevent;
struct evbuffer;
struct event;
struct worker;
struct imap_tap;
struct smtp_session;

enum session_state {
	SESSION_PROXY_HEADER,
	SESSION_PREAUTH,
	SESSION_AUTH_CONTINUE,
	SESSION_UPSTREAM,
	SESSION_UPSTREAM_SASL,
	SESSION_RELAY,
	SESSION_CLOSING,
};

enum upstream_state {
	UPSTREAM_NONE,
	UPSTREAM_CONNECTING,
	UPSTREAM_GREETING,
	UPSTREAM_STARTTLS,
	UPSTREAM_CAPABILITY,
	UPSTREAM_AUTH_CONTINUE,	/* waiting for "+" before the response */
	UPSTREAM_AUTH,		/* waiting for the tagged reply */
};

/* Commands whose tagged reply changes what the session knows. */
enum tracked_cmd {
	TRACKED_SELECT,
	TRACKED_EXAMINE,
	TRACKED_CLOSE,
};

/*
 * One side of the relay.  in/out are that side's input and the output
 * towards it.  A TLS side keeps its bufferevent (in/out are the
 * bufferevent's).  A plaintext side is "raw": the relay borrows the socket
 * from its bufferevent (which stays allocated but disabled) and moves bytes
 * with its own edge-triggered event, reading until a short read and
 * writing as soon as bytes arrive, which halves the system calls per
 * chunk; relay_detach() hands the socket and unsent bytes back.
 */
struct relay_io {
	struct evbuffer *in, *out;
	struct event *ev;		/* raw: READ|WRITE|CLOSED, edge-trig. */
	int fd;				/* raw: the socket */
	bool raw;
	bool readable;			/* raw: input may be waiting */
	bool rdhup;			/* raw: the peer's FIN has arrived */
	bool write_blocked;		/* raw: the socket buffer was full */
	int lowat;			/* raw: SO_RCVLOWAT set, 0 = default */
};

/* A session's splice(2) pipe (relay.c), made on first use: literal data
 * moving from one plaintext side to the other without being copied. */
struct relay_pipe {
	int fd[2];			/* read end, write end */
	bool open;
	bool failed;			/* pipe2(2) failed: copy instead */
	int from;			/* the side whose bytes it holds */
	size_t held;			/* bytes in it, not yet sent on */
};

struct tracked {
	char tag[IMAP_TAG_MAX + 1];
	enum tracked_cmd cmd;
	char *mailbox;
};

#define SESSION_TRACKED_MAX 64

struct session {
	TAILQ_ENTRY(session) entry;
	struct worker *w;
	const struct listen_conf *lc;
	char id[24];
	enum session_state state;
	int fd;
	struct event *header_ev;	/* PROXY header wait */
	struct event *timer;
	time_t deadline;		/* pre-auth: absolute; relay: idle */
	time_t last_activity;

	struct sockaddr_storage peer;
	socklen_t peer_len;
	char peer_ip[64];
	uint16_t peer_port;
	uint32_t ip_hash, user_hash;
	bool ip_counted, user_counted;

	struct bufferevent *cbev;	/* client side */
	bool tls_active;
	bool skip_to_eol;		/* pre-auth: discarding a bad line */
	struct imap_parser cp;		/* client commands */

	/* Pre-auth: the command being collected (line + literal data). */
	char *cmd;
	size_t cmd_len, cmd_cap;
	char tag[IMAP_TAG_MAX + 1];	/* of the login command */
	unsigned auth_failures;

	/* Credentials, held only until the upstream answers; wiped. */
	bool auth_sasl;
	enum sasl_mech mech;
	char *user;
	char *secret;		/* LOGIN password, or the base64 response */

	/* Upstream. */
	const struct upstream_conf *up;
	enum upstream_state ustate;
	struct bufferevent *ubev;
	struct imap_parser sp;		/* server responses */
	bool up_sasl_ir, up_literal_plus, up_caps_known;

	/* Relay. */
	size_t scanned[2];		/* parsed, not yet forwarded, per side */
	bool streaming[2];		/* a long line is being forwarded */
	bool paused[2];			/* reading stopped by backpressure */
	bool eof[2];
	bool blind_logged;
	struct evbuffer *inject;	/* our lines for the client, queued
					 * until a response boundary */
	struct tracked *tracked;
	unsigned ntracked;
	char *selected;			/* selected mailbox, raw */
	uint32_t uidvalidity, pending_uidvalidity;
	uint64_t bytes[2];
	uint64_t spliced;		/* of those, moved by splice(2) */
	struct relay_io io[2];
	struct relay_pipe pipe;
	struct event *relay_kick;	/* deferred resume of a paused side */

	char *close_reason;

	/* Capture tap (tap_session.c); NULL when capture is off. */
	char *login_user;		/* kept for event keys, not a secret */
	struct imap_tap *tap;
	const char *tap_tenant;		/* points into the configuration */
	bool tap_loss_logged;
	struct smtp_session *smtp;	/* SMTP listener: smtp_session.c */
};

enum { SIDE_CLIENT = 0, SIDE_UPSTREAM = 1 };

/* session.c */
/* Takes over fd, an accepted socket already non-blocking (accept4). */
void session_accept(struct worker *w, const struct listen_conf *lc, int fd,
    const struct sockaddr *sa, socklen_t salen);
/* Sends nothing more; flushes what is queued to the client, then frees. */
void session_close(struct session *s, const char *reason);
void session_set_state(struct session *s, enum session_state state);
const char *session_state_name(enum session_state state);
/* Queues text for the client (pre-auth / login replies). */
void session_printf(struct session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Back to PREAUTH after a failed or impossible login; handles pipelined
 * input. */
void session_login_failed(struct session *s, bool counts_as_failure);
/* Wipes and frees the held credentials. */
void session_forget_credentials(struct session *s);
void session_preauth_input(struct session *s);
/* TLS server side over the current client bufferevent (STARTTLS); the
 * caller sets callbacks again.  Returns 0, or -1 (session closing). */
int session_client_tls(struct session *s);
/* Frees s now; only from outside s's own callbacks (worker exit). */
void session_destroy(struct session *s);
/* Worker shutdown: a last BYE where it is safe, then close. */
void session_shutdown(struct session *s);

/* upstream.c */
void upstream_start(struct session *s);
/* A client SASL line to pass upstream (UPSTREAM_SASL state). */
void upstream_sasl_line(struct session *s, const char *line, size_t len);
void upstream_free(struct session *s);

/* relay.c */
void relay_start(struct session *s);
void relay_free(struct session *s);
/* Gives raw sides' sockets and unsent bytes back to their bufferevents;
 * called when the session starts closing.  Idempotent. */
void relay_detach(struct session *s);
/* Where text for the client goes now (relay-aware). */
struct evbuffer *relay_client_output(struct session *s);
/* True when the server->client stream is between two responses. */
bool relay_at_boundary(const struct session *s);

#define session_log(lvl, s, fmt, ...) \
	lvl("session=%s state=%s " fmt, (s)->id, \
	    session_state_name((s)->state), ##__VA_ARGS__)

#endif
