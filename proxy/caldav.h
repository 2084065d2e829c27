/*
 * caldav.h - CalDAV sessions: an HTTPS listener (protocol = caldav) whose
 * requests are relayed, byte for byte, to the user's CalDAV server.
 *
 * One client connection is paired with at most one upstream connection at
 * a time.  Each request is routed by its Basic user name, else by its Host
 * ([route caldav]); Bearer tokens and every other credential pass through
 * untouched and the proxy stores none of them.  Both directions are parsed
 * (http_parse.h) only to find message boundaries: keep-alive, pipelining
 * and chunked bodies work, bodies stream, and memory per session is
 * bounded by the backpressure watermarks plus one head per direction.
 * After 101 Switching Protocols (or a 2xx to CONNECT) the connection is a
 * byte tunnel: nothing is parsed or captured any more.
 */
#ifndef CRM_PROXY_CALDAV_H
#define CRM_PROXY_CALDAV_H

#include <sys/socket.h>

#include "proxy/config.h"

struct worker;

/* A client connected on a protocol = caldav listener; fd is already
 * non-blocking (accept4) and now belongs to the session. */
void caldav_accept(struct worker *w, const struct listen_conf *lc, int fd,
    const struct sockaddr *sa, socklen_t salen);
/* Worker shutdown: close every CalDAV session; what is already queued
 * for a client gets up to 5 s to leave. */
void caldav_shutdown_all(struct worker *w);
/* Worker exit: free what is left, now. */
void caldav_destroy_all(struct worker *w);

#endif
