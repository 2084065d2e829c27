/*
 * test_api_rate.c - crm-api's token buckets (api/api_rate.c): the burst,
 * the refill, the wait a refusal names, independent tokens, and a table
 * that stays within its slots however many tokens come.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "api/api_rate.h"

static void
test_burst_then_refill(void **state)
{
	struct api_rate *r = api_rate_new(2, 1, 3, 8);	/* 2/s, bursts of 3 */
	uint64_t t = 1000000;

	(void)state;
	assert_non_null(r);
	for (int i = 0; i < 3; i++)
		assert_int_equal(api_rate_take(r, "acme/dash", t), 0);
	/* empty: one request comes back every 500 ms */
	assert_int_equal(api_rate_take(r, "acme/dash", t), 500);
	assert_int_equal(api_rate_take(r, "acme/dash", t + 499), 1);
	assert_int_equal(api_rate_take(r, "acme/dash", t + 500), 0);
	assert_int_equal(api_rate_take(r, "acme/dash", t + 500), 500);
	/* a refused request costs nothing: after 250 ms half of one is back */
	assert_int_equal(api_rate_take(r, "acme/dash", t + 750), 250);
	/* a long pause refills to the burst, not beyond */
	t += 60000;
	for (int i = 0; i < 3; i++)
		assert_int_equal(api_rate_take(r, "acme/dash", t), 0);
	assert_true(api_rate_take(r, "acme/dash", t) > 0);
	/* a clock that steps back refills nothing and breaks nothing */
	assert_true(api_rate_take(r, "acme/dash", t - 5000) > 0);
	api_rate_free(&r);
	assert_null(r);
}

static void
test_tokens_independent(void **state)
{
	struct api_rate *r = api_rate_new(1, 1, 1, 8);

	(void)state;
	assert_int_equal(api_rate_take(r, "acme/a", 0), 0);
	assert_int_equal(api_rate_take(r, "acme/a", 0), 1000);
	assert_int_equal(api_rate_take(r, "acme/b", 0), 0);
	assert_int_equal(api_rate_take(r, "globex/a", 0), 0);
	assert_int_equal(api_rate_used(r), 3);
	api_rate_free(&r);
}

static void
test_bounded_table(void **state)
{
	struct api_rate *r = api_rate_new(1, 1, 2, 4);
	char key[32];

	(void)state;
	/* "t0" spends its burst, then 1,000 other tokens pass through */
	assert_int_equal(api_rate_take(r, "t0", 0), 0);
	assert_int_equal(api_rate_take(r, "t0", 0), 0);
	assert_true(api_rate_take(r, "t0", 0) > 0);
	for (int i = 1; i <= 1000; i++) {
		snprintf(key, sizeof(key), "t%d", i);
		assert_int_equal(api_rate_take(r, key, (uint64_t)i), 0);
		assert_true(api_rate_used(r) <= 4);
	}
	/* t0 was forgotten (used longest ago) and starts full again */
	assert_int_equal(api_rate_take(r, "t0", 1000), 0);
	/* the three most recent are still there: t1000 spent one of two */
	assert_int_equal(api_rate_take(r, "t1000", 1000), 0);
	assert_true(api_rate_take(r, "t1000", 1000) > 0);
	api_rate_free(&r);
}

static void
test_limits(void **state)
{
	struct api_rate *r;
	char big[API_RATE_KEY_MAX + 50];

	(void)state;
	assert_null(api_rate_new(0, 1, 1, 1));
	assert_null(api_rate_new(API_RATE_N_MAX + 1, 1, 1, 1));
	assert_null(api_rate_new(1, 2, 1, 1));
	assert_null(api_rate_new(1, 1, 0, 1));
	assert_null(api_rate_new(1, 1, API_BURST_MAX + 1, 1));
	assert_null(api_rate_new(1, 1, 1, 0));
	/* keys past the bound are cut: the two share one bucket */
	r = api_rate_new(1, 1, 1, 2);
	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(api_rate_take(r, big, 0), 0);
	big[sizeof(big) - 2] = 'x';
	assert_true(api_rate_take(r, big, 0) > 0);
	assert_int_equal(api_rate_used(r), 1);
	api_rate_free(&r);
}

static void
test_parse(void **state)
{
	static const struct {
		const char *s;
		unsigned n, secs;
	} good[] = { { "10", 10, 1 }, { "10/s", 10, 1 }, { "30/min", 30, 60 },
	    { "1/h", 1, 3600 }, { "0", 0, 1 }, { "0/min", 0, 60 },
	    { "100000/s", 100000, 1 } };
	static const char *const bad[] = { "", "/s", "x", "10/sec", "10 /s",
	    "-1", "1.5", "10/", "100001", "99999999999999999999", "10/s ",
	    "1/d" };
	char err[160];
	unsigned n, secs;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(api_rate_parse(good[i].s, &n, &secs, err,
		    sizeof(err)), 0);
		assert_int_equal(n, good[i].n);
		assert_int_equal(secs, good[i].secs);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = secs = 7;
		assert_int_equal(api_rate_parse(bad[i], &n, &secs, err,
		    sizeof(err)), -1);
		assert_int_equal(n, 7);
		assert_true(strncmp(err, "rate ", 5) == 0);
	}
	/* the slowest rate is exact: one an hour */
	{
		struct api_rate *one = api_rate_new(1, 3600, 1, 1);

		assert_non_null(one);
		assert_int_equal(api_rate_take(one, "k", 0), 0);
		assert_int_equal(api_rate_take(one, "k", 0), 3600000);
		assert_int_equal(api_rate_take(one, "k", 3599999), 1);
		assert_int_equal(api_rate_take(one, "k", 3600000), 0);
		api_rate_free(&one);
	}
	/* 30/min: one every 2 s */
	{
		struct api_rate *r = api_rate_new(30, 60, 1, 1);

		assert_int_equal(api_rate_take(r, "k", 0), 0);
		assert_int_equal(api_rate_take(r, "k", 0), 2000);
		assert_int_equal(api_rate_take(r, "k", 1500), 500);
		api_rate_free(&r);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_refill),
		cmocka_unit_test(test_tokens_independent),
		cmocka_unit_test(test_bounded_table),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
