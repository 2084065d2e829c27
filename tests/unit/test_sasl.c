/*
 * test_sasl.c - table-driven tests of proxy/sasl.c: base64 (RFC 4648
 * vectors, strictness, round trips) and user extraction for PLAIN, XOAUTH2
 * and OAUTHBEARER.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/sasl.h"

#define BIN(s) s, sizeof(s) - 1

struct b64_case {
	const char *in;
	long want;		/* decoded length or -1 */
	const char *out;
};

static const struct b64_case b64_cases[] = {
	{ "", 0, "" },
	{ "=", 0, "" },
	{ "Zg==", 1, "f" },
	{ "Zm8=", 2, "fo" },
	{ "Zm9v", 3, "foo" },
	{ "Zm9vYg==", 4, "foob" },
	{ "Zm9vYmE=", 5, "fooba" },
	{ "Zm9vYmFy", 6, "foobar" },
	{ "AGZyZWQAdGVzdA==", 10, "\0fred\0test" },
	{ "+/+/", 3, "\xfb\xff\xbf" },
	{ "Zh==", -1, NULL },		/* non-zero pad bits */
	{ "Zm9=", -1, NULL },
	{ "Zg=", -1, NULL },		/* length not a multiple of 4 */
	{ "Zg", -1, NULL },
	{ "Z===", -1, NULL },
	{ "====", -1, NULL },
	{ "=Zg=", -1, NULL },
	{ "Zg==Zg==", -1, NULL },	/* padding in the middle */
	{ "Zm9v\n", -1, NULL },
	{ "Zm 9", -1, NULL },
	{ "Zm9-", -1, NULL },		/* base64url alphabet */
	{ "==", -1, NULL },
};

static void
test_base64_decode(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(b64_cases) / sizeof(b64_cases[0]); i++) {
		const struct b64_case *c = &b64_cases[i];
		unsigned char out[64];
		long n;

		n = sasl_base64_decode(c->in, strlen(c->in), out, sizeof(out));
		if (n != c->want)
			fail_msg("decode \"%s\": got %ld want %ld", c->in, n,
			    c->want);
		if (n > 0)
			assert_memory_equal(out, c->out, (size_t)n);
	}
}

static void
test_base64_decode_bounds(void **state)
{
	unsigned char out[6];

	(void)state;
	assert_int_equal(sasl_base64_decode("Zm9vYmFy", 8, out, 6), 6);
	assert_int_equal(sasl_base64_decode("Zm9vYmFy", 8, out, 5), -1);
	assert_int_equal(sasl_base64_decode("Zm9vYg==", 8, out, 4), 4);
	assert_int_equal(sasl_base64_decode("Zm9vYg==", 8, out, 3), -1);
}

static void
test_base64_encode(void **state)
{
	static const char *const vec[][2] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" },
		{ "foo", "Zm9v" }, { "foob", "Zm9vYg==" },
		{ "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
	};
	char out[16];

	(void)state;
	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		size_t len = strlen(vec[i][0]);

		assert_int_equal(sasl_base64_encode(
		    (const unsigned char *)vec[i][0], len, out, sizeof(out)),
		    strlen(vec[i][1]));
		assert_string_equal(out, vec[i][1]);
	}
	/* out_size must hold the NUL */
	assert_int_equal(sasl_base64_encode((const unsigned char *)"foo", 3,
	    out, 4), -1);
	assert_int_equal(sasl_base64_encode((const unsigned char *)"foo", 3,
	    out, 5), 4);
	assert_int_equal(sasl_base64_encode((const unsigned char *)"", 0,
	    out, 0), -1);
}

static void
test_base64_round_trip(void **state)
{
	unsigned char in[96], back[96];
	char enc[133];
	uint32_t rng = 12345;

	(void)state;
	for (size_t len = 0; len <= sizeof(in); len++) {
		long e, d;

		for (size_t i = 0; i < len; i++) {
			rng = rng * 1103515245u + 12345u;
			in[i] = (unsigned char)(rng >> 16);
		}
		e = sasl_base64_encode(in, len, enc, sizeof(enc));
		assert_int_equal(e, (long)((len + 2) / 3 * 4));
		d = sasl_base64_decode(enc, (size_t)e, back, sizeof(back));
		if (len == 0)
			assert_int_equal(d, 0);
		else {
			assert_int_equal(d, (long)len);
			assert_memory_equal(back, in, len);
		}
	}
}

static void
test_mech(void **state)
{
	(void)state;
	assert_int_equal(sasl_mech_parse("plain", 5), SASL_MECH_PLAIN);
	assert_int_equal(sasl_mech_parse("PLAIN", 5), SASL_MECH_PLAIN);
	assert_int_equal(sasl_mech_parse("XOauth2", 7), SASL_MECH_XOAUTH2);
	assert_int_equal(sasl_mech_parse("OAUTHBEARER", 11),
	    SASL_MECH_OAUTHBEARER);
	assert_int_equal(sasl_mech_parse("PLAINX", 6), SASL_MECH_UNKNOWN);
	assert_int_equal(sasl_mech_parse("PLAINX", 4), SASL_MECH_UNKNOWN);
	assert_int_equal(sasl_mech_parse("", 0), SASL_MECH_UNKNOWN);
	assert_int_equal(sasl_mech_parse("CRAM-MD5", 8), SASL_MECH_UNKNOWN);
	assert_string_equal(sasl_mech_name(SASL_MECH_XOAUTH2), "XOAUTH2");
	assert_string_equal(sasl_mech_name(SASL_MECH_PLAIN), "PLAIN");
	assert_string_equal(sasl_mech_name((enum sasl_mech)42), "UNKNOWN");
}

struct user_case {
	const char *name;
	enum sasl_mech mech;
	const char *resp;
	size_t len;
	const char *want;	/* user, or NULL for an error */
};

#define P SASL_MECH_PLAIN
#define X SASL_MECH_XOAUTH2
#define O SASL_MECH_OAUTHBEARER

static const char user255[] =
    "u12345678901234567890123456789012345678901234567890123456789012345678"
    "9012345678901234567890123456789012345678901234567890123456789012345678"
    "9012345678901234567890123456789012345678901234567890123456789012345678"
    "9012345678901234567890123456789012345678901234";

static const struct user_case user_cases[] = {
{ "plain authcid", P, BIN("\0fred\0test"), "fred" },
{ "plain authzid wins", P, BIN("admin\0fred\0test"), "admin" },
{ "plain empty password", P, BIN("\0fred\0"), "fred" },
{ "plain one NUL", P, BIN("fred\0test"), NULL },
{ "plain no NUL", P, BIN("fredtest"), NULL },
{ "plain three NULs", P, BIN("\0fred\0te\0st"), NULL },
{ "plain empty user", P, BIN("\0\0pass"), NULL },
{ "plain LF in user", P, BIN("\0fr\ned\0x"), NULL },
{ "plain CR in authzid", P, BIN("a\rb\0fred\0x"), NULL },
{ "plain 255-byte user", P, BIN("\0"
    "u12345678901234567890123456789012345678901234567890123456789012345678"
    "9012345678901234567890123456789012345678901234567890123456789012345678"
    "9012345678901234567890123456789012345678901234567890123456789012345678"
    "9012345678901234567890123456789012345678901234" "\0pw"), user255 },
{ "plain 256-byte user", P, BIN("\0" "x"
    "u12345678901234567890123456789012345678901234567890123456789012345678"
    "9012345678901234567890123456789012345678901234567890123456789012345678"
    "9012345678901234567890123456789012345678901234567890123456789012345678"
    "9012345678901234567890123456789012345678901234" "\0pw"), NULL },
{ "xoauth2", X, BIN("user=someuser@example.com\001auth=Bearer "
    "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\001\001"),
    "someuser@example.com" },
{ "xoauth2 auth first", X, BIN("auth=Bearer x\001user=a@b\001\001"), "a@b" },
{ "xoauth2 no terminator", X, BIN("user=a@b\001auth=Bearer x\001"), NULL },
{ "xoauth2 no user", X, BIN("auth=Bearer x\001\001"), NULL },
{ "xoauth2 no auth", X, BIN("user=a@b\001\001"), NULL },
{ "xoauth2 empty user", X, BIN("user=\001auth=Bearer x\001\001"), NULL },
{ "xoauth2 trailing data", X, BIN("user=a\001auth=Bearer x\001\001z"), NULL },
{ "xoauth2 pair without =", X, BIN("user=a\001auth\001\001"), NULL },
{ "xoauth2 NUL in user", X, BIN("user=a\0b\001auth=Bearer x\001\001"), NULL },
{ "oauthbearer", O, BIN("n,a=user@example.com,\001host=server.example.com"
    "\001port=143\001auth=Bearer vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg=="
    "\001\001"), "user@example.com" },
{ "oauthbearer escapes", O, BIN("n,a=a=2Cb=3Dc,\001auth=Bearer x\001\001"),
    "a,b=c" },
{ "oauthbearer no authzid", O, BIN("n,,\001auth=Bearer x\001\001"), "" },
{ "oauthbearer y flag", O, BIN("y,a=u,\001auth=Bearer x\001\001"), "u" },
{ "oauthbearer p flag", O, BIN("p=tls-unique,a=u,\001auth=Bearer x\001\001"),
    "u" },
{ "oauthbearer bad escape", O, BIN("n,a=u=41,\001auth=Bearer x\001\001"),
    NULL },
{ "oauthbearer short escape", O, BIN("n,a=u=2"), NULL },
{ "oauthbearer unterminated", O, BIN("n,a=u"), NULL },
{ "oauthbearer bad flag", O, BIN("x,a=u,\001auth=Bearer x\001\001"), NULL },
{ "oauthbearer empty p", O, BIN("p=,a=u,\001auth=Bearer x\001\001"), NULL },
{ "oauthbearer missing ^A", O, BIN("n,a=u,auth=Bearer x\001\001"), NULL },
{ "oauthbearer empty a=", O, BIN("n,a=,\001auth=Bearer x\001\001"), NULL },
{ "oauthbearer no auth", O, BIN("n,a=u,\001host=x\001\001"), NULL },
{ "empty response", P, "", 0, NULL },
{ "unknown mechanism", SASL_MECH_UNKNOWN, BIN("\0a\0b"), NULL },
};

static void
test_user(void **state)
{
	const struct user_case *c = *state;
	char user[SASL_USER_MAX + 1];
	const char *err = NULL;
	int r;

	memset(user, 'X', sizeof(user));
	r = sasl_response_user(c->mech, (const unsigned char *)c->resp, c->len,
	    user, sizeof(user), &err);
	if (c->want == NULL) {
		assert_int_equal(r, -1);
		assert_non_null(err);
		assert_string_equal(user, "");
	} else {
		if (r != 0)
			fail_msg("%s: %s", c->name, err);
		assert_string_equal(user, c->want);
	}
}

static void
test_user_limits(void **state)
{
	static unsigned char big[SASL_RESPONSE_MAX + 1];
	char small[SASL_USER_MAX], user[SASL_USER_MAX + 1];
	const char *err;

	(void)state;
	assert_int_equal(sasl_response_user(SASL_MECH_PLAIN,
	    (const unsigned char *)"\0a\0b", 4, small, sizeof(small), &err),
	    -1);
	big[1] = 'a';
	assert_int_equal(sasl_response_user(SASL_MECH_PLAIN, big,
	    sizeof(big), user, sizeof(user), &err), -1);
	assert_string_equal(err, "initial response too long");
	big[2] = '\0';
	assert_int_equal(sasl_response_user(SASL_MECH_PLAIN, big,
	    sizeof(big) - 1, user, sizeof(user), &err), -1);
}

#define NUSER (sizeof(user_cases) / sizeof(user_cases[0]))

int
main(void)
{
	static struct CMUnitTest tests[NUSER + 6] = {
		cmocka_unit_test(test_base64_decode),
		cmocka_unit_test(test_base64_decode_bounds),
		cmocka_unit_test(test_base64_encode),
		cmocka_unit_test(test_base64_round_trip),
		cmocka_unit_test(test_mech),
		cmocka_unit_test(test_user_limits),
	};
	size_t n = 6;

	for (size_t i = 0; i < NUSER; i++)
		tests[n++] = (struct CMUnitTest){ user_cases[i].name,
		    test_user, NULL, NULL, (void *)&user_cases[i] };
	return _cmocka_run_group_tests("sasl", tests, n, NULL, NULL);
}
