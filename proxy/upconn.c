/* upconn.c - see upconn.h. */
#include "proxy/upconn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "lib/tls.h"

struct bufferevent *
upconn_tls_bev(struct event_base *base, const struct upstream_conf *u,
    struct bufferevent *under)
{
	const char *name = u->server_name ? u->server_name : u->host;
	SSL *ssl = tls_client_ssl_new(u->ssl_ctx, name, u->verify);
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
upconn_open(struct event_base *base, struct evdns_base *dns,
    const struct upstream_conf *u, unsigned timeout_s, const char **why_r)
{
	struct timeval tv = { (time_t)timeout_s, 0 };
	struct bufferevent *bev;

	if (u->tls == TLS_MODE_IMPLICIT)
		bev = upconn_tls_bev(base, u, NULL);
	else
		bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		*why_r = "cannot create connection";
		return NULL;
	}
	bufferevent_set_timeouts(bev, &tv, &tv);
	if (bufferevent_socket_connect_hostname(bev, dns, AF_UNSPEC, u->host,
	    (int)strtol(u->port, NULL, 10)) != 0) {
		bufferevent_free(bev);
		*why_r = "connect failed";
		return NULL;
	}
	return bev;
}

void
upconn_error_string(struct bufferevent *bev, int saved_errno, char *buf,
    size_t size)
{
	unsigned long e;
	int dns = bufferevent_socket_get_dns_error(bev);

	if (dns != 0) {
		snprintf(buf, size, "DNS: %s", evutil_gai_strerror(dns));
	} else if ((e = bufferevent_get_openssl_error(bev)) != 0) {
		char msg[256];

		ERR_error_string_n(e, msg, sizeof(msg));
		snprintf(buf, size, "TLS: %s", msg);
	} else {
		snprintf(buf, size, "%s", saved_errno != 0 ?
		    strerror(saved_errno) : "connection error");
	}
}
