/*
 * test_proxy_proto.c - table-driven tests of proxy/proxy_proto.c.
 *
 * The parser is re-run on a growing buffer, as the session does while the
 * header arrives, so every case is also checked at every prefix length (the
 * one-byte-at-a-time feed): shorter prefixes must say AGAIN (or the same
 * ERROR, once the bytes rule a header out), complete ones the same result.
 * Bytes after the header must never be consumed.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/proxy_proto.h"

#define BIN(s) s, sizeof(s) - 1

struct pp_case {
	const char *name;
	const char *hdr;
	size_t hdr_len;
	enum proxy_proto_result want;
	int version;
	const char *src, *dst;	/* "addr port", NULL for AF_UNSPEC */
};

#define V2SIG "\r\n\r\n\0\r\nQUIT\n"
#define OK PROXY_PROTO_OK
#define ER PROXY_PROTO_ERROR
#define AG PROXY_PROTO_AGAIN

static const struct pp_case cases[] = {
/* ---- v1 ---- */
{ "v1 tcp4", BIN("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"), OK, 1,
  "192.168.0.1 56324", "192.168.0.11 443" },
{ "v1 tcp6", BIN("PROXY TCP6 2001:db8::1 ::1 1234 993\r\n"), OK, 1,
  "2001:db8::1 1234", "::1 993" },
{ "v1 port 0 and 65535", BIN("PROXY TCP4 1.2.3.4 5.6.7.8 0 65535\r\n"),
  OK, 1, "1.2.3.4 0", "5.6.7.8 65535" },
{ "v1 unknown", BIN("PROXY UNKNOWN\r\n"), OK, 1, NULL, NULL },
{ "v1 unknown longest", BIN("PROXY UNKNOWN "
  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"),
  OK, 1, NULL, NULL },
{ "v1 too long", BIN("PROXY UNKNOWN "
  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 655355\r\n"),
  ER, 0, NULL, NULL },
{ "v1 leading zero port", BIN("PROXY TCP4 1.2.3.4 5.6.7.8 80 0443\r\n"),
  ER, 0, NULL, NULL },
{ "v1 port too big", BIN("PROXY TCP4 1.2.3.4 5.6.7.8 80 65536\r\n"),
  ER, 0, NULL, NULL },
{ "v1 port not a number", BIN("PROXY TCP4 1.2.3.4 5.6.7.8 80 +443\r\n"),
  ER, 0, NULL, NULL },
{ "v1 five fields", BIN("PROXY TCP4 1.2.3.4 5.6.7.8 80\r\n"),
  ER, 0, NULL, NULL },
{ "v1 seven fields", BIN("PROXY TCP4 1.2.3.4 5.6.7.8 80 81 82\r\n"),
  ER, 0, NULL, NULL },
{ "v1 double space", BIN("PROXY TCP4 1.2.3.4  5.6.7.8 80 443\r\n"),
  ER, 0, NULL, NULL },
{ "v1 v6 address in tcp4", BIN("PROXY TCP4 ::1 ::1 80 443\r\n"),
  ER, 0, NULL, NULL },
{ "v1 short ipv4", BIN("PROXY TCP4 1.2.3 5.6.7.8 80 443\r\n"),
  ER, 0, NULL, NULL },
{ "v1 unknown protocol", BIN("PROXY TCP5 1.2.3.4 5.6.7.8 80 443\r\n"),
  ER, 0, NULL, NULL },
{ "v1 lower case", BIN("PROXY tcp4 1.2.3.4 5.6.7.8 80 443\r\n"),
  ER, 0, NULL, NULL },
{ "v1 LF only", BIN("PROXY TCP4 1.2.3.4 5.6.7.8 80 443\n"),
  ER, 0, NULL, NULL },
{ "v1 CR inside", BIN("PROXY TCP4 1.2.3.4\r5.6.7.8 80 443\r\n"),
  ER, 0, NULL, NULL },
{ "v1 control byte", BIN("PROXY TCP4 1.2.3.4 5.6.7.8 80 44\0013\r\n"),
  ER, 0, NULL, NULL },
{ "v1 unknownx", BIN("PROXY UNKNOWNX\r\n"), ER, 0, NULL, NULL },
{ "not proxy: imap", BIN("a1 LOGIN user pass\r\n"), ER, 0, NULL, NULL },
{ "not proxy: lower case", BIN("proxy TCP4\r\n"), ER, 0, NULL, NULL },
{ "not proxy: http", BIN("GET / HTTP/1.0\r\n"), ER, 0, NULL, NULL },
/* ---- v2 ---- */
{ "v2 tcp4 with tlv", BIN(V2SIG "\x21\x11\x00\x13"
  "\xc0\xa8\x00\x01" "\x0a\x00\x00\x02" "\xdc\x04" "\x03\xe1"
  "\x04\x00\x04" "abcd"), OK, 2, "192.168.0.1 56324", "10.0.0.2 993" },
{ "v2 tcp6", BIN(V2SIG "\x21\x21\x00\x24"
  "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01"
  "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01" "\x04\xd2" "\x00\x8f"),
  OK, 2, "2001:db8::1 1234", "::1 143" },
{ "v2 local", BIN(V2SIG "\x20\x00\x00\x00"), OK, 2, NULL, NULL },
{ "v2 local with addresses", BIN(V2SIG "\x20\x11\x00\x0c"
  "\x01\x02\x03\x04\x05\x06\x07\x08\x00\x01\x00\x02"), OK, 2, NULL, NULL },
{ "v2 unspec", BIN(V2SIG "\x21\x00\x00\x03" "xyz"), OK, 2, NULL, NULL },
{ "v2 unix", BIN(V2SIG "\x21\x31\x00\x00"), OK, 2, NULL, NULL },
{ "v2 version 1", BIN(V2SIG "\x11\x11\x00\x0c"
  "\x01\x02\x03\x04\x05\x06\x07\x08\x00\x01\x00\x02"), ER, 0, NULL, NULL },
{ "v2 command 2", BIN(V2SIG "\x22\x11\x00\x0c"
  "\x01\x02\x03\x04\x05\x06\x07\x08\x00\x01\x00\x02"), ER, 0, NULL, NULL },
{ "v2 family 4", BIN(V2SIG "\x21\x41\x00\x00"), ER, 0, NULL, NULL },
{ "v2 protocol 3", BIN(V2SIG "\x21\x13\x00\x00"), ER, 0, NULL, NULL },
{ "v2 datagram", BIN(V2SIG "\x21\x12\x00\x0c"
  "\x01\x02\x03\x04\x05\x06\x07\x08\x00\x01\x00\x02"), ER, 0, NULL, NULL },
{ "v2 short ipv4", BIN(V2SIG "\x21\x11\x00\x08"
  "\x01\x02\x03\x04\x05\x06\x07\x08"), ER, 0, NULL, NULL },
{ "v2 short ipv6", BIN(V2SIG "\x21\x21\x00\x0c"
  "\x01\x02\x03\x04\x05\x06\x07\x08\x00\x01\x00\x02"), ER, 0, NULL, NULL },
{ "v2 bad signature", BIN("\r\n\r\n\0\r\nQUIT\r" "\x21\x00\x00\x00"),
  ER, 0, NULL, NULL },
};

static void
addr_str(const struct sockaddr_storage *ss, socklen_t len, char *out,
    size_t size)
{
	char a[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)ss;

		assert_int_equal(len, sizeof(*s));
		inet_ntop(AF_INET, &s->sin_addr, a, sizeof(a));
		snprintf(out, size, "%s %u", a, ntohs(s->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;

		assert_int_equal(len, sizeof(*s));
		inet_ntop(AF_INET6, &s->sin6_addr, a, sizeof(a));
		snprintf(out, size, "%s %u", a, ntohs(s->sin6_port));
	} else {
		assert_int_equal(ss->ss_family, AF_UNSPEC);
		assert_int_equal(len, 0);
		out[0] = '\0';
	}
}

static void
check_info(const struct pp_case *c, const struct proxy_proto_info *info)
{
	char s[80], d[80];

	assert_int_equal(info->version, c->version);
	addr_str(&info->src, info->src_len, s, sizeof(s));
	addr_str(&info->dst, info->dst_len, d, sizeof(d));
	assert_string_equal(s, c->src != NULL ? c->src : "");
	assert_string_equal(d, c->dst != NULL ? c->dst : "");
}

static void
test_case(void **state)
{
	const struct pp_case *c = *state;
	unsigned char buf[256];
	static const char trailer[] = "a1 CAPABILITY\r\n";
	size_t len = c->hdr_len + sizeof(trailer) - 1;
	bool failed = false;

	assert_true(len <= sizeof(buf));
	memcpy(buf, c->hdr, c->hdr_len);
	memcpy(buf + c->hdr_len, trailer, sizeof(trailer) - 1);
	for (size_t k = 0; k <= len; k++) {
		struct proxy_proto_info info;
		const char *err = NULL;
		size_t used = 12345;
		enum proxy_proto_result r;

		r = proxy_proto_parse(buf, k, &info, &used, &err);
		if (r == PROXY_PROTO_AGAIN) {
			if (failed)
				fail_msg("%s: AGAIN after ERROR at %zu",
				    c->name, k);
			assert_int_equal(used, 0);
			if (c->want == OK)
				assert_true(k < c->hdr_len);
			continue;
		}
		if (r == PROXY_PROTO_ERROR) {
			if (c->want != ER)
				fail_msg("%s: ERROR (%s) at %zu", c->name, err,
				    k);
			assert_non_null(err);
			assert_int_equal(used, 0);
			failed = true;
			continue;
		}
		if (c->want != OK)
			fail_msg("%s: OK at %zu", c->name, k);
		assert_int_equal(r, PROXY_PROTO_OK);
		assert_true(k >= c->hdr_len);
		assert_int_equal(used, c->hdr_len);
		check_info(c, &info);
	}
	if (c->want == ER && !failed)
		fail_msg("%s: never failed", c->name);
}

static void
test_huge_v2_length(void **state)
{
	static unsigned char buf[16 + 65535];
	struct proxy_proto_info info;
	const char *err;
	size_t used;

	(void)state;
	memcpy(buf, V2SIG, 12);
	buf[12] = 0x21;
	buf[13] = 0x11;
	buf[14] = buf[15] = 0xff;
	assert_int_equal(proxy_proto_parse(buf, sizeof(buf) - 1, &info, &used,
	    &err), PROXY_PROTO_AGAIN);
	assert_int_equal(proxy_proto_parse(buf, sizeof(buf), &info, &used,
	    &err), PROXY_PROTO_OK);
	assert_int_equal(used, sizeof(buf));
	assert_int_equal(info.src.ss_family, AF_INET);
}

#define NCASES (sizeof(cases) / sizeof(cases[0]))

static void
test_addr_string(void **state)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
	    .sin_port = htons(993) };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6,
	    .sin6_port = htons(1143) };
	struct sockaddr un = { .sa_family = AF_UNIX };
	char ip[64];
	uint16_t port = 7;

	(void)state;
	inet_pton(AF_INET, "192.0.2.7", &sin.sin_addr);
	inet_pton(AF_INET6, "2001:db8::1", &sin6.sin6_addr);
	proxy_proto_addr_string((const struct sockaddr *)&sin, ip, sizeof(ip),
	    &port);
	assert_string_equal(ip, "192.0.2.7");
	assert_int_equal(port, 993);
	proxy_proto_addr_string((const struct sockaddr *)&sin6, ip,
	    sizeof(ip), &port);
	assert_string_equal(ip, "2001:db8::1");
	assert_int_equal(port, 1143);
	proxy_proto_addr_string(&un, ip, sizeof(ip), &port);
	assert_string_equal(ip, "local");
	assert_int_equal(port, 0);
	proxy_proto_addr_string((const struct sockaddr *)&sin, ip, sizeof(ip),
	    NULL);
	assert_string_equal(ip, "192.0.2.7");
}

int
main(void)
{
	static struct CMUnitTest tests[NCASES + 2] = {
		cmocka_unit_test(test_huge_v2_length),
		cmocka_unit_test(test_addr_string),
	};
	size_t n = 2;

	for (size_t i = 0; i < NCASES; i++)
		tests[n++] = (struct CMUnitTest){ cases[i].name, test_case,
		    NULL, NULL, (void *)&cases[i] };
	return _cmocka_run_group_tests("proxy_proto", tests, n, NULL, NULL);
}
