/*
 * proxy_proto.h - the PROXY protocol header (HAProxy, versions 1 and 2)
 * sent by a TCP load balancer in front of the proxy, so the client's address
 * survives.  Accepted only on listeners that enable it and only from the
 * configured load-balancer addresses; the caller enforces both.
 *
 * Bounded: a v1 line is at most 107 bytes; a v2 header at most 16 + 65535
 * bytes, of which TLVs are skipped, never stored.
 */
#ifndef CRM_PROXY_PROTO_H
#define CRM_PROXY_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum proxy_proto_result {
	PROXY_PROTO_OK,		/* header parsed; *consumed_r bytes of it */
	PROXY_PROTO_AGAIN,	/* need more bytes */
	PROXY_PROTO_ERROR,	/* not a valid header; *errstr_r says why */
};

struct proxy_proto_info {
	/* AF_INET / AF_INET6 addresses of the original client and of the
	 * address it connected to; family AF_UNSPEC for "LOCAL"/"UNKNOWN"
	 * (health checks): keep the socket's own addresses then. */
	struct sockaddr_storage src, dst;
	socklen_t src_len, dst_len;
	int version;	/* 1 or 2 */
};

/* Parses a header at the start of data..len.  Never reads past len. */
enum proxy_proto_result proxy_proto_parse(const unsigned char *data,
    size_t len, struct proxy_proto_info *info_r, size_t *consumed_r,
    const char **errstr_r);

#define PROXY_PROTO_READ_MAX 232	/* v2 with addresses and some TLVs */

/*
 * Reads a header straight from the non-blocking socket fd: peeks
 * (MSG_PEEK) and then consumes exactly the header, so not one byte past
 * it (a TLS ClientHello, say) is taken from the layer that reads next.
 * Call when fd is readable.  AGAIN: not all of it is there yet; ERROR:
 * a bad or over-long header, EOF or a read error (*errstr_r says which).
 */
enum proxy_proto_result proxy_proto_read(int fd,
    struct proxy_proto_info *info_r, const char **errstr_r);

/*
 * The client address for logs and per-address limits: sa's address as
 * text in ip (64 bytes hold any IPv6 form), "local" for a non-IP family,
 * and its port in *port_r (0 for "local") when port_r is not NULL.
 */
void proxy_proto_addr_string(const struct sockaddr *sa, char *ip,
    size_t ip_size, uint16_t *port_r);

#endif
