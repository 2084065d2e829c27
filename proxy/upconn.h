/*
 * upconn.h - the connection to a provider, shared by the IMAP and SMTP
 * logins: a bufferevent that connects by name (implicit TLS or plain), the
 * TLS layer added for STARTTLS, and a readable reason for a failure.
 * Certificate verification is lib/tls.c's, on unless configured off.
 */
#ifndef CRM_PROXY_UPCONN_H
#define CRM_PROXY_UPCONN_H

#include <stdbool.h>
#include <stddef.h>

struct bufferevent;
struct event_base;
struct evdns_base;

struct upconn_target {
	const char *host, *port;
	bool tls;		/* implicit TLS from the first byte */
	void *ssl_ctx;		/* SSL_CTX * (client side) */
	const char *server_name;	/* SNI + name checked; NULL: host */
	bool verify;
};

/*
 * A TLS client bufferevent for t: over `under` (STARTTLS; takes it over,
 * freeing it with itself) or over a new socket (under NULL).  NULL on
 * failure (nothing is taken over then).
 */
struct bufferevent *upconn_tls_bev(struct event_base *base,
    const struct upconn_target *t, struct bufferevent *under);

/* Starts connecting to t: a new bufferevent (TLS when t->tls), or NULL
 * with *why_r set.  Callbacks and timeouts are the caller's to set before
 * the event loop runs again. */
struct bufferevent *upconn_connect(struct event_base *base,
    struct evdns_base *dns, const struct upconn_target *t,
    const char **why_r);

/* Once connected: no Nagle delay on the provider leg (small command and
 * reply lines each way; Nagle plus delayed ACKs would add ~40 ms). */
void upconn_nodelay(struct bufferevent *bev);

/* Why bev failed, for a log line: DNS, TLS (OpenSSL's reason) or errno. */
void upconn_error(struct bufferevent *bev, short what, char *why,
    size_t size);

#endif
