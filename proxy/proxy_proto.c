/*
 * proxy_proto.c - HAProxy PROXY protocol v1 and v2 headers
 * (https://www.haproxy.org/download/2.8/doc/proxy-protocol.txt).
 *
 * The header decides which client address every log line and tap record
 * names, so anything not exactly in the spec is refused: a load balancer
 * either speaks it correctly or the connection is not worth guessing about.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "proxy/proxy_proto.h"

#define V1_MAX 107		/* spec 2.1: worst case, CRLF included */
#define V2_HDR 16

static const unsigned char v2_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};
static const char v1_sig[] = "PROXY ";

static enum proxy_proto_result
proxy_proto_error(const char *why, const char **errstr_r)
{
	*errstr_r = why;
	return PROXY_PROTO_ERROR;
}

/* Splits the v1 line (without CRLF) on single spaces; at most max fields. */
static int
v1_fields(const char *line, size_t len, const char **f, size_t *flen,
    int max)
{
	int n = 0;
	size_t start = 0;

	for (size_t i = 0; i <= len; i++) {
		if (i < len && line[i] != ' ')
			continue;
		if (i == start || n == max)
			return -1;	/* empty field or too many */
		f[n] = line + start;
		flen[n++] = i - start;
		start = i + 1;
	}
	return n;
}

static bool
v1_port(const char *s, size_t len, uint16_t *port_r)
{
	uint32_t v = 0;

	/* spec 2.1: decimal, no leading zero */
	if (len == 0 || len > 5 || (len > 1 && s[0] == '0'))
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint32_t)(s[i] - '0');
	}
	if (v > 65535)
		return false;
	*port_r = (uint16_t)v;
	return true;
}

static bool
v1_addr(int family, const char *s, size_t len, uint16_t port,
    struct sockaddr_storage *ss, socklen_t *len_r)
{
	char buf[INET6_ADDRSTRLEN];

	if (len >= sizeof(buf))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, buf, &sin->sin_addr) != 1)
			return false;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		*len_r = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, buf, &sin6->sin6_addr) != 1)
			return false;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		*len_r = sizeof(*sin6);
	}
	return true;
}

static enum proxy_proto_result
v1_parse(const unsigned char *data, size_t len,
    struct proxy_proto_info *info, size_t *consumed_r, const char **errstr_r)
{
	const char *line = (const char *)data, *f[6];
	size_t flen[6], end, scan = len < V1_MAX ? len : V1_MAX;
	const unsigned char *lf;
	uint16_t sport, dport;
	int family, n;

	lf = memchr(data, '\n', scan);
	if (lf == NULL) {
		if (len >= V1_MAX)
			return proxy_proto_error("v1 header too long",
			    errstr_r);
		/* refuse early what can never become a header: only
		 * printable bytes, and a CR only as the last one so far */
		for (size_t i = 0; i < len; i++) {
			if ((data[i] < 0x20 || data[i] > 0x7e) &&
			    !(data[i] == '\r' && i == len - 1))
				return proxy_proto_error(
				    "v1 header: invalid byte", errstr_r);
		}
		return PROXY_PROTO_AGAIN;
	}
	end = (size_t)(lf - data);
	if (end == 0 || data[end - 1] != '\r' ||
	    memchr(data, '\r', end - 1) != NULL)
		return proxy_proto_error("v1 header: line must end in CRLF",
		    errstr_r);
	*consumed_r = end + 1;
	end--;			/* drop CR */
	for (size_t i = 0; i < end; i++) {
		if (data[i] < 0x20 || data[i] > 0x7e)
			return proxy_proto_error("v1 header: invalid byte",
			    errstr_r);
	}
	info->version = 1;
	/* "PROXY UNKNOWN" may carry anything after it (spec 2.1) */
	if (end >= 13 && memcmp(line, "PROXY UNKNOWN", 13) == 0 &&
	    (end == 13 || line[13] == ' '))
		return PROXY_PROTO_OK;
	n = v1_fields(line, end, f, flen, 6);
	if (n != 6)
		return proxy_proto_error("v1 header: expected 6 fields",
		    errstr_r);
	if (flen[1] == 4 && memcmp(f[1], "TCP4", 4) == 0)
		family = AF_INET;
	else if (flen[1] == 4 && memcmp(f[1], "TCP6", 4) == 0)
		family = AF_INET6;
	else
		return proxy_proto_error("v1 header: unknown protocol",
		    errstr_r);
	if (!v1_port(f[4], flen[4], &sport) || !v1_port(f[5], flen[5], &dport))
		return proxy_proto_error("v1 header: bad port", errstr_r);
	if (!v1_addr(family, f[2], flen[2], sport, &info->src,
	    &info->src_len) ||
	    !v1_addr(family, f[3], flen[3], dport, &info->dst,
	    &info->dst_len)) {
		return proxy_proto_error("v1 header: bad address", errstr_r);
	}
	return PROXY_PROTO_OK;
}

static enum proxy_proto_result
v2_parse(const unsigned char *data, size_t len,
    struct proxy_proto_info *info, size_t *consumed_r, const char **errstr_r)
{
	size_t body, total;
	unsigned family, proto;

	if (len < V2_HDR)
		return PROXY_PROTO_AGAIN;
	if ((data[12] & 0xf0) != 0x20)
		return proxy_proto_error("v2 header: unsupported version",
		    errstr_r);
	if ((data[12] & 0x0f) > 1)
		return proxy_proto_error("v2 header: unknown command",
		    errstr_r);
	family = data[13] >> 4;
	proto = data[13] & 0x0f;
	body = (size_t)data[14] << 8 | data[15];
	total = V2_HDR + body;
	if (family > 3 || proto > 2)
		return proxy_proto_error("v2 header: unknown address family",
		    errstr_r);
	if (len < total)
		return PROXY_PROTO_AGAIN;
	info->version = 2;
	*consumed_r = total;
	/* LOCAL (health check) or UNSPEC/UNIX: keep the socket's own
	 * addresses; TLVs after the addresses are skipped unread. */
	if ((data[12] & 0x0f) == 0 || family == 0 || family == 3)
		return PROXY_PROTO_OK;
	if (proto == 2)
		return proxy_proto_error("v2 header: datagram transport",
		    errstr_r);
	if (family == 1) {
		struct sockaddr_in *src = (struct sockaddr_in *)&info->src;
		struct sockaddr_in *dst = (struct sockaddr_in *)&info->dst;

		if (body < 12)
			return proxy_proto_error("v2 header: short IPv4 block",
			    errstr_r);
		src->sin_family = dst->sin_family = AF_INET;
		memcpy(&src->sin_addr, data + 16, 4);
		memcpy(&dst->sin_addr, data + 20, 4);
		memcpy(&src->sin_port, data + 24, 2);	/* network order */
		memcpy(&dst->sin_port, data + 26, 2);
		info->src_len = info->dst_len = sizeof(struct sockaddr_in);
	} else {
		struct sockaddr_in6 *src = (struct sockaddr_in6 *)&info->src;
		struct sockaddr_in6 *dst = (struct sockaddr_in6 *)&info->dst;

		if (body < 36)
			return proxy_proto_error("v2 header: short IPv6 block",
			    errstr_r);
		src->sin6_family = dst->sin6_family = AF_INET6;
		memcpy(&src->sin6_addr, data + 16, 16);
		memcpy(&dst->sin6_addr, data + 32, 16);
		memcpy(&src->sin6_port, data + 48, 2);
		memcpy(&dst->sin6_port, data + 50, 2);
		info->src_len = info->dst_len = sizeof(struct sockaddr_in6);
	}
	return PROXY_PROTO_OK;
}

enum proxy_proto_result
proxy_proto_parse(const unsigned char *data, size_t len,
    struct proxy_proto_info *info_r, size_t *consumed_r,
    const char **errstr_r)
{
	enum proxy_proto_result r;
	size_t n;

	memset(info_r, 0, sizeof(*info_r));
	info_r->src.ss_family = info_r->dst.ss_family = AF_UNSPEC;
	*consumed_r = 0;
	*errstr_r = NULL;
	if (len == 0)
		return PROXY_PROTO_AGAIN;
	/* Decide on the signature as soon as the bytes so far rule one
	 * out, so a client speaking plain IMAP fails fast. */
	n = len < sizeof(v2_sig) ? len : sizeof(v2_sig);
	if (memcmp(data, v2_sig, n) == 0) {
		r = len < sizeof(v2_sig) ? PROXY_PROTO_AGAIN :
		    v2_parse(data, len, info_r, consumed_r, errstr_r);
	} else {
		n = len < sizeof(v1_sig) - 1 ? len : sizeof(v1_sig) - 1;
		if (memcmp(data, v1_sig, n) != 0)
			return proxy_proto_error("not a PROXY protocol header",
			    errstr_r);
		r = len < sizeof(v1_sig) - 1 ? PROXY_PROTO_AGAIN :
		    v1_parse(data, len, info_r, consumed_r, errstr_r);
	}
	if (r != PROXY_PROTO_OK) {
		/* nothing half-filled escapes */
		memset(info_r, 0, sizeof(*info_r));
		info_r->src.ss_family = info_r->dst.ss_family = AF_UNSPEC;
		*consumed_r = 0;
	}
	return r;
}

enum proxy_proto_result
proxy_proto_read(int fd, struct proxy_proto_info *info_r,
    const char **errstr_r)
{
	unsigned char buf[PROXY_PROTO_READ_MAX];
	size_t consumed = 0;
	ssize_t n;

	n = recv(fd, buf, sizeof(buf), MSG_PEEK);
	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return PROXY_PROTO_AGAIN;
		return proxy_proto_error(n == 0 ?
		    "disconnected before PROXY header" : "read error",
		    errstr_r);
	}
	switch (proxy_proto_parse(buf, (size_t)n, info_r, &consumed,
	    errstr_r)) {
	case PROXY_PROTO_AGAIN:
		if ((size_t)n == sizeof(buf))
			return proxy_proto_error("PROXY header too long",
			    errstr_r);
		return PROXY_PROTO_AGAIN;
	case PROXY_PROTO_ERROR:
		return PROXY_PROTO_ERROR;
	case PROXY_PROTO_OK:
		break;
	}
	if (recv(fd, buf, consumed, 0) != (ssize_t)consumed)
		return proxy_proto_error("read error", errstr_r);
	return PROXY_PROTO_OK;
}

void
proxy_proto_addr_string(const struct sockaddr *sa, char *ip, size_t ip_size,
    uint16_t *port_r)
{
	uint16_t port = 0;

	ip[0] = '\0';
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)sa;

		inet_ntop(AF_INET, &sin->sin_addr, ip, (socklen_t)ip_size);
		port = ntohs(sin->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)sa;

		inet_ntop(AF_INET6, &sin6->sin6_addr, ip, (socklen_t)ip_size);
		port = ntohs(sin6->sin6_port);
	} else {
		snprintf(ip, ip_size, "local");
	}
	if (port_r != NULL)
		*port_r = port;
}
