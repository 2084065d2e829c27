/*
 * test_embedder_parse.c - the remote embedder's response parser: what an
 * OpenAI-compatible endpoint may answer, good and bad.  The parser takes a
 * whole body (libcurl has buffered it under a cap), so there is no
 * incremental feeding to split; instead every good case is also checked
 * truncated at every length, which must fail cleanly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "enrich/embed/embedder.h"

struct pcase {
	const char *name;
	const char *body;
	size_t n, dim;
	int rc;
	const char *err_has;	/* substring of the error, when rc == -1 */
	float first, last;	/* out[0], out[n*dim-1] on success */
};

static const struct pcase cases[] = {
	{ "two in order", "{\"data\":[{\"index\":0,\"embedding\":[1,2]},"
	    "{\"index\":1,\"embedding\":[3,4]}]}", 2, 2, 0, NULL, 1, 4 },
	{ "two reversed", "{\"data\":[{\"index\":1,\"embedding\":[3,4]},"
	    "{\"index\":0,\"embedding\":[1,2]}]}", 2, 2, 0, NULL, 1, 4 },
	{ "no index", "{\"object\":\"list\",\"data\":[{\"embedding\":"
	    "[0.5,-0.25]}],\"usage\":{}}", 1, 2, 0, NULL, 0.5f, -0.25f },
	{ "wrong dimension", "{\"data\":[{\"index\":0,\"embedding\":[1,2,3]}]}",
	    1, 2, -1, "dimension 3, configured 2", 0, 0 },
	{ "too few", "{\"data\":[{\"index\":0,\"embedding\":[1,2]}]}", 2, 2,
	    -1, "1 vectors for 2 texts", 0, 0 },
	{ "repeated index", "{\"data\":[{\"index\":0,\"embedding\":[1,2]},"
	    "{\"index\":0,\"embedding\":[3,4]}]}", 2, 2, -1, "repeated", 0, 0 },
	{ "index out of range", "{\"data\":[{\"index\":1,\"embedding\":[1]}]}",
	    1, 1, -1, "bad index", 0, 0 },
	{ "negative index", "{\"data\":[{\"index\":-1,\"embedding\":[1]}]}",
	    1, 1, -1, "bad index", 0, 0 },
	{ "string number", "{\"data\":[{\"embedding\":[\"1\"]}]}", 1, 1, -1,
	    "finite", 0, 0 },
	{ "overflowing float", "{\"data\":[{\"embedding\":[1e39]}]}", 1, 1,
	    -1, "finite", 0, 0 },
	{ "base64", "{\"data\":[{\"embedding\":\"AACAPw==\"}]}", 1, 1, -1,
	    "no embedding array", 0, 0 },
	{ "no data", "{\"error\":{\"message\":\"x\"}}", 1, 1, -1,
	    "no \"data\"", 0, 0 },
	{ "not JSON", "<html>502 Bad Gateway</html>", 1, 1, -1, "malformed",
	    0, 0 },
	{ "duplicate key", "{\"data\":[],\"data\":[]}", 1, 1, -1, "malformed",
	    0, 0 },
	{ "empty", "", 1, 1, -1, "malformed", 0, 0 },
};

static void
test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct pcase *c = &cases[i];
		float out[16];
		char err[EMBEDDER_ERR_MAX] = "";
		int rc = embedder_parse_response(c->body, strlen(c->body),
		    c->n, c->dim, out, err, sizeof(err));

		if (rc != c->rc)
			fail_msg("%s: rc %d (%s)", c->name, rc, err);
		if (rc == 0) {
			assert_true(out[0] == c->first);
			assert_true(out[c->n * c->dim - 1] == c->last);
		} else if (strstr(err, c->err_has) == NULL)
			fail_msg("%s: error '%s' lacks '%s'", c->name, err,
			    c->err_has);
	}
}

static void
test_truncated(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct pcase *c = &cases[i];
		size_t len = strlen(c->body);

		if (c->rc != 0)
			continue;
		for (size_t l = 0; l < len; l++) {
			float out[16];
			char err[EMBEDDER_ERR_MAX];
			/* a copy of exactly l bytes, so reads past it trap */
			char *b = malloc(l ? l : 1);

			memcpy(b, c->body, l);
			assert_int_equal(embedder_parse_response(b, l, c->n,
			    c->dim, out, err, sizeof(err)), -1);
			free(b);
		}
	}
}

static void
test_error_message(void **state)
{
	static const struct {
		const char *body, *want;
		int rc;
	} t[] = {
		{ "{\"error\":{\"message\":\"Incorrect API key\"}}",
		    "Incorrect API key", 0 },
		{ "{\"error\":\"model not found\"}", "model not found", 0 },
		{ "{\"detail\":\"Not Found\"}", "Not Found", 0 },
		{ "{\"error\":{\"message\":\"a\\nb\\u0007\"}}", "a?b?", 0 },
		{ "{\"error\":{}}", NULL, -1 },
		{ "oops", NULL, -1 },
	};
	char err[EMBEDDER_ERR_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int rc = embedder_parse_error(t[i].body, strlen(t[i].body),
		    err, sizeof(err));

		assert_int_equal(rc, t[i].rc);
		if (rc == 0)
			assert_string_equal(err, t[i].want);
	}
	/* a long message is cut to fit */
	{
		char small[8];
		const char *b = "{\"error\":\"0123456789abcdef\"}";

		assert_int_equal(embedder_parse_error(b, strlen(b), small,
		    sizeof(small)), 0);
		assert_string_equal(small, "0123456");
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_error_message),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
