/*
 * test_lib_util.c - lib/civil.c and lib/sink.c.
 *
 * civil_days() is checked against a table of known day numbers and
 * against timegm(3) for every day from 1600 to 2400 (leap centuries
 * included); the sink against its limit, fed whole and in pieces.
 */
#define _DEFAULT_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "lib/civil.h"
#include "lib/sink.h"

static const struct {
	int64_t y, m, d, days;
} dates[] = {
	{ 1970, 1, 1, 0 },
	{ 1969, 12, 31, -1 },
	{ 1970, 3, 1, 59 },
	{ 2000, 2, 29, 11016 },
	{ 2000, 3, 1, 11017 },
	{ 2024, 2, 29, 19782 },
	{ 2026, 11, 26, 20783 },
	{ 1900, 3, 1, -25508 },		/* 1900 is not a leap year */
	{ 1600, 1, 1, -135140 },
	{ 0, 3, 1, -719468 },		/* the algorithm's epoch */
	{ -1, 12, 31, -719529 },
};

static void
test_civil_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(dates) / sizeof(dates[0]); i++)
		assert_int_equal(civil_days(dates[i].y, dates[i].m,
		    dates[i].d), dates[i].days);
}

static void
test_civil_timegm(void **state)
{
	int64_t prev = civil_days(1600, 1, 1) - 1;

	(void)state;
	for (int y = 1600; y <= 2400; y++)
		for (int m = 1; m <= 12; m++)
			for (int d = 1; d <= 31; d++) {
				struct tm tm = { .tm_year = y - 1900,
				    .tm_mon = m - 1, .tm_mday = d };
				time_t t = timegm(&tm);

				if (tm.tm_mday != d)
					continue;	/* no such day */
				assert_int_equal(civil_days(y, m, d) * 86400,
				    (int64_t)t);
				assert_int_equal(civil_days(y, m, d), prev + 1);
				prev++;
			}
}

static void
test_sink_limit(void **state)
{
	static char data[10000];
	struct sink s;

	(void)state;
	memset(data, 'x', sizeof(data));
	sink_init(&s, 9000);
	/* in pieces of every size up to the limit */
	for (size_t n = 0, k = 1; n + k <= 9000; n += k, k = k % 997 + 1)
		assert_int_equal(sink_write(data, 1, k, &s), k);
	assert_false(s.overflow);
	assert_int_equal(strlen(s.buf), s.len);
	assert_true(s.len <= 9000);
	/* one byte past the limit fails the transfer, and keeps nothing */
	{
		size_t room = 9000 - s.len, had = s.len;

		assert_int_equal(sink_write(data, 1, room + 1, &s), 0);
		assert_true(s.overflow);
		assert_int_equal(s.len, had);
	}
	sink_fini(&s);
	assert_null(s.buf);
	assert_int_equal(s.len, 0);
	assert_int_equal(s.max, 9000);

	/* size * nmemb that wraps around is refused, not truncated */
	sink_init(&s, 100);
	assert_int_equal(sink_write(data, SIZE_MAX / 2 + 2, 2, &s), 0);
	assert_true(s.overflow);
	sink_fini(&s);

	/* whole, exactly at the limit */
	sink_init(&s, 10000);
	assert_int_equal(sink_write(data, 2, 5000, &s), 10000);
	assert_false(s.overflow);
	assert_int_equal(s.buf[10000], '\0');
	sink_fini(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_civil_table),
		cmocka_unit_test(test_civil_timegm),
		cmocka_unit_test(test_sink_limit),
	};

	return cmocka_run_group_tests_name("lib_util", tests, NULL, NULL);
}
