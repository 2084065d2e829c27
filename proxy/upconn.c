/* upconn.c - see upconn.h. */
#include "proxy/upconn.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "lib/conf.h"
#include "lib/tls.h"

struct bufferevent *
upconn_tls_bev(struct event_base *base, const struct upconn_target *t,
    struct bufferevent *under)
{
	const char *name = t->server_name != NULL ? t->server_name : t->host;
	SSL *ssl = tls_client_ssl_new(t->ssl_ctx, name, t->verify);
	struct bufferevent *bev;

	if (ssl == NULL)
		return NULL;
	if (under != NULL)
		bev = bufferevent_openssl_filter_new(base, under, ssl,
		    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	else
		bev = bufferevent_openssl_socket_new(base, -1, ssl,
		    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		SSL_free(ssl);
	return bev;
}

struct bufferevent *
upconn_connect(struct event_base *base, struct evdns_base *dns,
    const struct upconn_target *t, const char **why_r)
{
	struct bufferevent *bev;
	struct sockaddr_storage ss;
	socklen_t sslen;
	int port, rc;

	if (t->tls)
		bev = upconn_tls_bev(base, t, NULL);
	else
		bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		*why_r = "cannot create connection";
		return NULL;
	}
	port = (int)strtol(t->port, NULL, 10);
	/* A numeric host is connected to directly: libevent's resolver path
	 * would parse it again on every connection (its getaddrinfo
	 * emulation, an sscanf per address). */
	if (conf_sockaddr_numeric(t->host, (unsigned)port, &ss, &sslen))
		rc = bufferevent_socket_connect(bev, (struct sockaddr *)&ss,
		    (int)sslen);
	else
		rc = bufferevent_socket_connect_hostname(bev, dns, AF_UNSPEC,
		    t->host, port);
	if (rc != 0) {
		bufferevent_free(bev);
		*why_r = "connect failed";
		return NULL;
	}
	return bev;
}

void
upconn_error(struct bufferevent *bev, short what, char *why, size_t size)
{
	unsigned long e;
	int dns;

	if (what & BEV_EVENT_TIMEOUT) {
		snprintf(why, size, "timed out");
		return;
	}
	if (!(what & BEV_EVENT_ERROR)) {
		snprintf(why, size, "connection closed");
		return;
	}
	dns = bufferevent_socket_get_dns_error(bev);
	if (dns != 0) {
		snprintf(why, size, "DNS: %s", evutil_gai_strerror(dns));
	} else if ((e = bufferevent_get_openssl_error(bev)) != 0) {
		snprintf(why, size, "TLS: ");
		if (size > 5)
			ERR_error_string_n(e, why + 5, size - 5);
	} else {
		snprintf(why, size, "%s",
		    errno != 0 ? strerror(errno) : "connection error");
	}
}

void
upconn_nodelay(struct bufferevent *bev)
{
	evutil_socket_t fd = bufferevent_getfd(bev);
	int one = 1;

	if (fd >= 0)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
}
