/*
 * fuzz_proxy_proto.c - PROXY protocol v1/v2 headers.
 *
 * Checks: never consumes more than given; a parsed header parses the same
 * from exactly its own bytes; a shorter prefix of it is never OK; the
 * address lengths match the family.
 */
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/proxy_proto.h"

#define FUZZ_CHECK(e) do { if (!(e)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_addr(const struct sockaddr_storage *ss, socklen_t len)
{
	switch (ss->ss_family) {
	case AF_INET:
		FUZZ_CHECK(len == sizeof(struct sockaddr_in));
		break;
	case AF_INET6:
		FUZZ_CHECK(len == sizeof(struct sockaddr_in6));
		break;
	default:
		FUZZ_CHECK(ss->ss_family == AF_UNSPEC && len == 0);
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_proto_info info, again;
	const char *err = NULL;
	size_t used = (size_t)-1, used2;
	enum proxy_proto_result r;

	r = proxy_proto_parse(data, size, &info, &used, &err);
	switch (r) {
	case PROXY_PROTO_AGAIN:
		FUZZ_CHECK(used == 0 && size < 16 + 65535);
		break;
	case PROXY_PROTO_ERROR:
		FUZZ_CHECK(used == 0 && err != NULL);
		break;
	case PROXY_PROTO_OK:
		FUZZ_CHECK(used > 0 && used <= size);
		FUZZ_CHECK(info.version == 1 || info.version == 2);
		FUZZ_CHECK(info.version != 1 || used <= 107);
		check_addr(&info.src, info.src_len);
		check_addr(&info.dst, info.dst_len);
		FUZZ_CHECK(info.src.ss_family == info.dst.ss_family);
		FUZZ_CHECK(proxy_proto_parse(data, used, &again, &used2,
		    &err) == PROXY_PROTO_OK);
		FUZZ_CHECK(used2 == used &&
		    memcmp(&info, &again, sizeof(info)) == 0);
		FUZZ_CHECK(proxy_proto_parse(data, used - 1, &again, &used2,
		    &err) != PROXY_PROTO_OK);
		break;
	default:
		abort();
	}
	return 0;
}
