/*
 * fuzz_api_req.c - crm-api's request-target parser (api/api_req.c) on
 * arbitrary targets.  The first byte picks a path prefix (/v1/search?,
 * /v1/accounts?, /v1/health?, or none) so the fuzzer spends its time in
 * the query string.  Invariants: no crash; on success the search text is
 * valid UTF-8 without control bytes and not blank, the limit is 1..100,
 * an account filter is not negative; on failure there is a message; and
 * the same target parses the same way twice.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_req.h"
#include "lib/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(e) do { if (!(e)) abort(); } while (0)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const prefix[] = { "/v1/search?", "/v1/accounts?",
	    "/v1/health?", "" };
	static struct api_req a, b;
	char t[API_TARGET_MAX + 64];
	const char *e1 = NULL, *e2 = NULL;
	size_t plen, n;
	int r1, r2;

	if (size == 0 || size > API_TARGET_MAX + 32)
		return 0;
	plen = strlen(prefix[data[0] & 3]);
	memcpy(t, prefix[data[0] & 3], plen);
	memcpy(t + plen, data + 1, size - 1);
	n = plen + size - 1;
	r1 = api_req_parse(t, n, 1795186800, &a, &e1);
	r2 = api_req_parse(t, n, 1795186800, &b, &e2);
	FUZZ_CHECK(r1 == r2 && (r1 == 0 || (e1 != NULL && e1 == e2)));
	if (r1 != 0)
		return 0;
	FUZZ_CHECK(memcmp(&a, &b, sizeof(a)) == 0);
	FUZZ_CHECK(a.limit >= 1 && a.limit <= API_LIMIT_MAX);
	FUZZ_CHECK(a.account >= -1);
	if (a.route == API_ROUTE_SEARCH) {
		size_t ql = strlen(a.q);

		FUZZ_CHECK(ql > 0 && ql <= API_QUERY_MAX &&
		    utf8_valid(a.q, ql) && strspn(a.q, " ") < ql);
		for (size_t i = 0; i < ql; i++)
			FUZZ_CHECK((unsigned char)a.q[i] >= 0x20 &&
			    a.q[i] != 0x7f);
	} else {
		FUZZ_CHECK(a.q[0] == '\0');
	}
	return 0;
}
