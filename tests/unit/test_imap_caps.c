/*
 * test_imap_caps.c - table-driven tests of proxy/imap_caps.c: finding a
 * capability in an untagged CAPABILITY response or a [CAPABILITY] code,
 * and cutting tokens out of the list in place.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/imap_caps.h"

struct has_case {
	const char *line;
	const char *token;
	bool want;
};

static const struct has_case has_cases[] = {
	{ "* CAPABILITY IMAP4rev1 SASL-IR LITERAL+\r\n", "SASL-IR", true },
	{ "* CAPABILITY IMAP4rev1 SASL-IR LITERAL+\r\n", "literal+", true },
	{ "* capability imap4rev1\r\n", "IMAP4rev1", true },
	{ "* CAPABILITY IMAP4rev1 SASL-IR\r\n", "IMAP4", false },
	{ "* CAPABILITY IMAP4rev1 SASL-IR\r\n", "SASL-IRX", false },
	{ "* CAPABILITY IMAP4rev1  SASL-IR \r\n", "SASL-IR", true },
	{ "* CAPABILITY\r\n", "IMAP4rev1", false },
	{ "* CAPABILITY IDLE\n MOVE\r\n", "MOVE", false },
	{ "* CAPABILITY\n[CAPABILITY MOVE]\r\n", "MOVE", false },
	{ "* OK\n[CAPABILITY MOVE]\r\n", "MOVE", false },
	{ "* OK [CAPABILITY IDLE\nMOVE]\r\n", "MOVE", false },
	{ "* CAPABILITYX IMAP4rev1\r\n", "IMAP4rev1", false },
	{ "* OK [CAPABILITY IMAP4rev1 ID IDLE] ready\r\n", "IDLE", true },
	{ "* OK [CAPABILITY IMAP4rev1 ID IDLE] ready\r\n", "ready", false },
	{ "a1 OK [CAPABILITY IMAP4rev2 MOVE] Logged in\r\n", "MOVE", true },
	{ "* OK [CAPABILITY IMAP4rev1 ID IDLE ready\r\n", "ID", false },
	{ "* OK ready\r\n[CAPABILITY ID]\r\n", "ID", false },
	{ "* OK [ALERT] [CAPABILITY ID]\r\n", "ID", false },
	{ "* OK [CAPABILITY ID\r\n IDLE]\r\n", "IDLE", false },
	{ "* OK [capability id] hi\r\n", "ID", true },
	{ "", "ID", false },
	{ "[", "ID", false },
	{ "[CAPABILITY", "ID", false },
	{ "[CAPABILITY ID]", "ID", true },
};

static void
test_has(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(has_cases) / sizeof(has_cases[0]); i++) {
		const struct has_case *c = &has_cases[i];

		if (imap_caps_has(c->line, strlen(c->line), c->token) !=
		    c->want)
			fail_msg("case %zu: \"%s\" has %s: want %d", i, c->line,
			    c->token, c->want);
	}
}

struct filter_case {
	const char *in;
	const char *out;
};

static const char *const drop[] = { "COMPRESS=DEFLATE", "X-DROP", NULL };

static const struct filter_case filter_cases[] = {
	{ "* CAPABILITY IMAP4rev1 COMPRESS=DEFLATE IDLE\r\n",
	  "* CAPABILITY IMAP4rev1 IDLE\r\n" },
	{ "* CAPABILITY COMPRESS=DEFLATE IMAP4rev1\r\n",
	  "* CAPABILITY IMAP4rev1\r\n" },
	{ "* CAPABILITY IMAP4rev1 COMPRESS=DEFLATE\r\n",
	  "* CAPABILITY IMAP4rev1\r\n" },
	{ "* CAPABILITY IMAP4rev1 compress=deflate X-DROP IDLE X-DROP\r\n",
	  "* CAPABILITY IMAP4rev1 IDLE\r\n" },
	{ "* CAPABILITY IMAP4rev1 COMPRESS=DEFLATEX X-DROPS IDLE\r\n",
	  "* CAPABILITY IMAP4rev1 COMPRESS=DEFLATEX X-DROPS IDLE\r\n" },
	{ "* CAPABILITY IMAP4rev1  COMPRESS=DEFLATE  IDLE\r\n",
	  "* CAPABILITY IMAP4rev1  IDLE\r\n" },
	{ "* CAPABILITY COMPRESS=DEFLATE\r\n", "* CAPABILITY\r\n" },
	/* a bare LF ends the list (found by fuzz_imap_caps) */
	{ "* CAPABILITY I X-DROP\n X-DROP\n", "* CAPABILITY I\n X-DROP\n" },
	{ "* CAPABILITY IDLE X-DROP\r X-DROP\r\n",
	  "* CAPABILITY IDLE\r X-DROP\r\n" },
	{ "a1 OK [CAPABILITY IMAP4rev1 COMPRESS=DEFLATE MOVE] Logged in\r\n",
	  "a1 OK [CAPABILITY IMAP4rev1 MOVE] Logged in\r\n" },
	{ "a1 OK [CAPABILITY COMPRESS=DEFLATE] Logged in\r\n",
	  "a1 OK [CAPABILITY] Logged in\r\n" },
	/* the text after the code is not the list */
	{ "a1 OK [CAPABILITY IMAP4rev1] COMPRESS=DEFLATE\r\n",
	  "a1 OK [CAPABILITY IMAP4rev1] COMPRESS=DEFLATE\r\n" },
	{ "* OK COMPRESS=DEFLATE\r\n", "* OK COMPRESS=DEFLATE\r\n" },
	{ "* OK [CAPABILITY IMAP4rev1 COMPRESS=DEFLATE\r\n",
	  "* OK [CAPABILITY IMAP4rev1 COMPRESS=DEFLATE\r\n" },
	{ "", "" },
};

static void
test_filter(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(filter_cases) / sizeof(filter_cases[0]);
	    i++) {
		const struct filter_case *c = &filter_cases[i];
		size_t len = strlen(c->in), n;
		/* exactly len bytes, no NUL: the filter must not read past */
		char *buf = malloc(len + 1);

		memcpy(buf, c->in, len);
		n = imap_caps_filter(buf, len, drop);
		if (n != strlen(c->out) || memcmp(buf, c->out, n) != 0)
			fail_msg("case %zu: \"%s\" -> \"%.*s\", want \"%s\"",
			    i, c->in, (int)n, buf, c->out);
		free(buf);
	}
}

/* A real Dovecot greeting, as long as they come. */
static void
test_long_list(void **state)
{
	char line[2048];
	size_t n;

	(void)state;
	n = (size_t)snprintf(line, sizeof(line), "%s", "* OK [CAPABILITY "
	    "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT "
	    "SORT=DISPLAY THREAD=REFERENCES THREAD=REFS THREAD=ORDEREDSUBJECT "
	    "MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN NAMESPACE "
	    "UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH "
	    "ESORT SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE "
	    "COMPRESS=DEFLATE SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW "
	    "STATUS=SIZE SAVEDATE LITERAL+ NOTIFY] Dovecot ready.\r\n");
	assert_true(imap_caps_has(line, n, "NOTIFY"));
	assert_true(imap_caps_has(line, n, "IMAP4rev1"));
	assert_false(imap_caps_has(line, n, "Dovecot"));
	n = imap_caps_filter(line, n, drop);
	line[n] = '\0';
	assert_null(strstr(line, "COMPRESS"));
	assert_non_null(strstr(line, " MOVE SNIPPET=FUZZY "));
	assert_true(imap_caps_has(line, n, "NOTIFY"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_has),
		cmocka_unit_test(test_filter),
		cmocka_unit_test(test_long_list),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
