/*
 * test_enrich_text.c - enrich/textutil: UTF-8 repair and address
 * canonicalisation.  Table-driven.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "enrich/textutil.h"

static const struct {
	const char *in;
	size_t len;
	size_t max;
	const char *out;
} utf8_cases[] = {
	{ "plain", 5, 100, "plain" },
	{ "caf\xc3\xa9", 5, 100, "caf\xc3\xa9" },
	{ "caf\xe9!", 5, 100, "caf\xef\xbf\xbd!" },		/* Latin-1 */
	{ "a\0b", 3, 100, "a\xef\xbf\xbd" "b" },		/* NUL */
	{ "\xc0\xaf", 2, 100, "\xef\xbf\xbd\xef\xbf\xbd" },	/* overlong */
	{ "\xed\xa0\x80", 3, 100, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
	{ "\xf4\x90\x80\x80", 4, 100,		/* above U+10FFFF */
	    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
	{ "\xf0\x9f\x98\x80x", 5, 100, "\xf0\x9f\x98\x80x" },
	{ "\xe2\x82", 2, 100, "\xef\xbf\xbd\xef\xbf\xbd" },	/* truncated */
	{ "tab\tcr\rlf\n\x01", 11, 100, "tab\tcr\rlf\n\xef\xbf\xbd" },
	{ "abcdef", 6, 3, "abc" },
	{ "\xc3\xa9\xc3\xa9", 4, 3, "\xc3\xa9" },	/* cut on a boundary */
	{ "", 0, 10, "" },
};

static void
test_utf8_clean(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(utf8_cases) / sizeof(utf8_cases[0]);
	    i++) {
		char *o = text_utf8_clean(utf8_cases[i].in, utf8_cases[i].len,
		    utf8_cases[i].max);
		assert_string_equal(o, utf8_cases[i].out);
		free(o);
	}
}

static const struct {
	const char *in;
	const char *out;	/* NULL: refused */
	const char *domain;
} addr_cases[] = {
	{ "Carol@Initech.COM", "carol@initech.com", "initech.com" },
	{ "a@b", "a@b", "b" },
	{ "no-at-sign", NULL, NULL },
	{ "@example.com", NULL, NULL },
	{ "user@", NULL, NULL },
	{ "two@at@x", NULL, NULL },
	{ "sp ace@x", NULL, NULL },
	{ "<a@b>", NULL, NULL },
	{ "", NULL, NULL },
};

static void
test_address_canon(void **state)
{
	char big[400];

	(void)state;
	for (size_t i = 0; i < sizeof(addr_cases) / sizeof(addr_cases[0]);
	    i++) {
		const char *dom = NULL;
		char *o = text_address_canon(addr_cases[i].in, &dom);
		if (addr_cases[i].out == NULL) {
			assert_null(o);
			continue;
		}
		assert_non_null(o);
		assert_string_equal(o, addr_cases[i].out);
		assert_string_equal(dom, addr_cases[i].domain);
		free(o);
	}
	memset(big, 'a', sizeof(big));
	big[200] = '@';
	big[sizeof(big) - 1] = '\0';
	{
		const char *dom;
		assert_null(text_address_canon(big, &dom));	/* > 320 */
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8_clean),
		cmocka_unit_test(test_address_canon),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
