/*
 * test_api_req.c - crm-api's request targets (api/api_req.c): routes,
 * form decoding, every parameter's bounds, refusals; and the bearer
 * token's form and hash (lib/api_token.c).  Each target is also parsed
 * from a buffer cut exactly at its length, so nothing reads past it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/api_req.h"
#include "lib/api_token.h"

#define NOW 1795186800	/* 2026-11-20T09:00:00Z */

static int
parse(const char *t, struct api_req *r, const char **err)
{
	size_t n = strlen(t);
	char *exact = malloc(n > 0 ? n : 1);
	int rc;

	memcpy(exact, t, n);
	rc = api_req_parse(exact, n, NOW, r, err);
	free(exact);
	return rc;
}

static void
test_routes(void **state)
{
	static const struct {
		const char *t;
		enum api_route route;
	} c[] = {
		{ "/v1/health", API_ROUTE_HEALTH },
		{ "/v1/accounts", API_ROUTE_ACCOUNTS },
		{ "/v1/accounts?", API_ROUTE_ACCOUNTS },
		{ "/v1/search?q=x", API_ROUTE_SEARCH },
		{ "/v1/healthz", API_ROUTE_NONE },
		{ "/v1/health/", API_ROUTE_NONE },
		{ "/v2/search?q=x", API_ROUTE_NONE },
		{ "/", API_ROUTE_NONE },
		{ "", API_ROUTE_NONE },
		{ "/V1/HEALTH", API_ROUTE_NONE },
	};
	struct api_req r;
	const char *err;

	(void)state;
	for (size_t i = 0; i < sizeof(c) / sizeof(*c); i++) {
		assert_int_equal(parse(c[i].t, &r, &err), 0);
		assert_int_equal(r.route, c[i].route);
	}
}

static void
test_search(void **state)
{
	struct api_req r;
	const char *err = NULL;

	(void)state;
	assert_int_equal(parse("/v1/search?q=buyer+complained%20about%2Bpricing"
	    "&limit=25&account=105&since=30d&until=2026-11-01&dates=0", &r,
	    &err), 0);
	assert_string_equal(r.q, "buyer complained about+pricing");
	assert_int_equal(r.limit, 25);
	assert_int_equal(r.account, 105);
	assert_true(r.has_since && r.has_until);
	assert_int_equal(r.since, NOW - 30 * 86400);
	/* 2026-11-01, the whole day */
	assert_int_equal(r.until, 1793491200 + 86399);
	assert_false(r.dates);

	/* defaults; a UTF-8 query; empty pairs skipped */
	assert_int_equal(parse("/v1/search?&q=%C3%A9t%C3%A9+%E4%BE%A1%E6%A0%BC&&",
	    &r, &err), 0);
	assert_string_equal(r.q, "\xc3\xa9t\xc3\xa9 \xe4\xbe\xa1\xe6\xa0\xbc");
	assert_int_equal(r.limit, API_LIMIT_DEFAULT);
	assert_int_equal(r.account, -1);
	assert_false(r.has_since || r.has_until);
	assert_true(r.dates);

	assert_int_equal(parse("/v1/accounts?limit=100", &r, &err), 0);
	assert_int_equal(r.limit, 100);
}

static void
test_refused(void **state)
{
	static const char *const bad[] = {
		"/v1/search",				/* no q */
		"/v1/search?q=",
		"/v1/search?q=+++",			/* blank */
		"/v1/search?q=a&q=b",			/* twice */
		"/v1/search?q=a&tenant=acme",		/* unknown name */
		"/v1/search?q=a&Q=b",
		"/v1/search?q=a&limit=0",
		"/v1/search?q=a&limit=101",
		"/v1/search?q=a&limit=-1",
		"/v1/search?q=a&limit=1e2",
		"/v1/search?q=a&limit=99999999999999999999",
		"/v1/search?q=a&account=-5",
		"/v1/search?q=a&account=9223372036854775808",
		"/v1/search?q=a&account=",
		"/v1/search?q=a&since=soon",
		"/v1/search?q=a&until=2026-02-30",
		"/v1/search?q=a&dates=yes",
		"/v1/search?q=%zz",			/* bad escape */
		"/v1/search?q=%4",
		"/v1/search?q=a%00b",			/* NUL */
		"/v1/search?q=a%0Ab",			/* control byte */
		"/v1/search?q=%7F",
		"/v1/search?q=%FF%FE",			/* not UTF-8 */
		"/v1/search?q=%C0%AF",			/* overlong */
		"/v1/search?q=%ED%A0%80",		/* surrogate */
		"/v1/accounts?q=x",			/* not this endpoint's */
		"/v1/accounts?limit",			/* no value */
		"/v1/health?x=1",
	};
	struct api_req r;
	const char *err;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		err = NULL;
		if (parse(bad[i], &r, &err) != -1)
			fail_msg("accepted: %s", bad[i]);
		assert_non_null(err);
	}
}

static void
test_bounds(void **state)
{
	char t[API_TARGET_MAX + 16];
	struct api_req r;
	const char *err;
	size_t n;

	(void)state;
	/* q of exactly API_QUERY_MAX bytes, then one more */
	n = (size_t)snprintf(t, sizeof(t), "/v1/search?q=");
	memset(t + n, 'a', API_QUERY_MAX);
	t[n + API_QUERY_MAX] = '\0';
	assert_int_equal(parse(t, &r, &err), 0);
	assert_int_equal(strlen(r.q), API_QUERY_MAX);
	t[n + API_QUERY_MAX] = 'a';
	t[n + API_QUERY_MAX + 1] = '\0';
	assert_int_equal(parse(t, &r, &err), -1);
	/* the whole target over API_TARGET_MAX */
	memset(t, 'a', API_TARGET_MAX + 1);
	memcpy(t, "/v1/health?", 11);
	assert_int_equal(api_req_parse(t, API_TARGET_MAX + 1, NOW, &r, &err),
	    -1);
	/* a NUL inside the target */
	assert_int_equal(api_req_parse("/v1/health\0x", 12, NOW, &r, &err),
	    -1);
}

static void
test_token(void **state)
{
	char a[API_TOKEN_LEN + 1], b[API_TOKEN_LEN + 1], h[67], h2[67];

	(void)state;
	assert_int_equal(api_token_new(a), 0);
	assert_int_equal(api_token_new(b), 0);
	assert_int_equal(strlen(a), API_TOKEN_LEN);
	assert_memory_equal(a, "crm_", 4);
	assert_string_not_equal(a, b);
	assert_true(api_token_form_ok(a, strlen(a)));
	assert_false(api_token_form_ok(a, strlen(a) - 1));
	a[10] = '=';
	assert_false(api_token_form_ok(a, strlen(a)));
	a[10] = 'A';
	a[0] = 'C';
	assert_false(api_token_form_ok(a, strlen(a)));
	/* SHA-256("abc"), as bytea input */
	assert_int_equal(api_token_hash("abc", 3, h), 0);
	assert_string_equal(h, "\\xba7816bf8f01cfea414140de5dae2223b00361a3"
	    "96177a9cb410ff61f20015ad");
	assert_int_equal(api_token_hash(b, strlen(b), h2), 0);
	assert_string_not_equal(h, h2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_search),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_token),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
