/*
 * net.h - the listening sockets the daemons open.
 */
#ifndef CRM_NET_H
#define CRM_NET_H

#include <sys/socket.h>

/*
 * A TCP socket bound to ss and listening (backlog), non-blocking and
 * close-on-exec, with SO_REUSEADDR so a restart binds at once.  Returns
 * the descriptor, or -1 with errno (nothing left open).
 */
int net_listen(const struct sockaddr_storage *ss, socklen_t len, int backlog);

#endif
