/*
 * upconn.h - connections to a provider ([upstream NAME]): one place that
 * makes the socket or TLS bufferevent, verifies the provider's certificate
 * (lib/tls.c: chain, name or IP, SNI) and words connection errors.  Used
 * by the IMAP login (upstream.c) and by CalDAV sessions (caldav.c).
 */
#ifndef CRM_PROXY_UPCONN_H
#define CRM_PROXY_UPCONN_H

#include <stddef.h>

#include "proxy/config.h"

struct bufferevent;
struct event_base;
struct evdns_base;

/*
 * A client-side TLS bufferevent for u: over `under` (STARTTLS; the new
 * one owns it) or, when under is NULL, over a socket not yet connected.
 * Verification follows u (server_name or host, verify).  NULL on failure.
 */
struct bufferevent *upconn_tls_bev(struct event_base *base,
    const struct upstream_conf *u, struct bufferevent *under);

/*
 * A bufferevent connecting to u (TLS from the first byte when u->tls is
 * implicit, plain otherwise), with timeout_s for connect and handshake.
 * Bytes may be written to it at once; they leave once connected.  NULL
 * with a static reason in *why_r.  Callbacks are the caller's to set.
 */
struct bufferevent *upconn_open(struct event_base *base,
    struct evdns_base *dns, const struct upstream_conf *u,
    unsigned timeout_s, const char **why_r);

/* Words a BEV_EVENT_ERROR on bev: DNS, TLS (OpenSSL's reason) or errno. */
void upconn_error_string(struct bufferevent *bev, int saved_errno, char *buf,
    size_t size);

#endif
