/*
 * test_tap_policy.c - table-driven tests of proxy/tap_policy.c: glob
 * patterns, address extraction from header sections, and verdicts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/tap_policy.h"

static void
test_glob(void **state)
{
	static const struct {
		const char *pat, *s;
		bool match;
	} t[] = {
		{ "*", "", true }, { "*", "abc", true },
		{ "a*c", "abc", true }, { "a*c", "ac", true },
		{ "a*c", "abd", false }, { "*@acme.example", "X@ACME.example",
		true }, { "legal-*@*", "legal-eu@firm.example", true },
		{ "legal-*@*", "ceo@firm.example", false },
		{ "?ob@x", "bob@x", true }, { "?ob@x", "ob@x", false },
		{ "*.bank.example", "eu.bank.example", true },
		{ "*.bank.example", "bank.example", false },
		{ "a*b*c*d", "aXbYcZd", true }, { "a*b*c*d", "aXbYcZ", false },
		{ "**x", "yyx", true },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		assert_int_equal(tap_glob_match(t[i].pat, t[i].s),
		    t[i].match);
}

static void
test_addresses(void **state)
{
	static const char hdr[] =
	    "Received: from x (helo@ignored.example)\r\n"
	    "From: \"Bob @ Work\" <Bob@Customer.Example>\r\n"
	    "To: alice@acme.example, (comment a@b.c) carol@acme.example,\r\n"
	    "\tdave@partner.example\r\n"
	    "Cc: undisclosed-recipients:;\r\n"
	    "Subject: mail for x@y.example\r\n"
	    "\r\n"
	    "To: body@not.example\r\n";
	char out[16][TAP_POLICY_ITEM_MAX + 1];
	size_t n = tap_policy_addresses(hdr, sizeof(hdr) - 1, out, 16);

	(void)state;
	assert_int_equal(n, 4);
	assert_string_equal(out[0], "bob@customer.example");
	assert_string_equal(out[1], "alice@acme.example");
	assert_string_equal(out[2], "carol@acme.example");
	assert_string_equal(out[3], "dave@partner.example");
}

struct pcase {
	const char *name;
	const char *mailbox;
	const char *hdr;
	const char *reason;
	enum tap_verdict verdict;
	const char *detail;
};

static void
test_decide(void **state)
{
	struct tap_policy p;
	const char *err = NULL;
	static const struct pcase t[] = {
		{ "external business mail", "INBOX",
		  "From: dana@customer.example\r\nTo: alice@acme.example\r\n\r\n",
		  "capture", TAP_VERDICT_CAPTURE, "" },
		{ "blocked address by pattern", "INBOX",
		  "From: Legal-EU@firm.example\r\nTo: alice@acme.example\r\n\r\n",
		  "blocked-address", TAP_VERDICT_DROP, "legal-*@*" },
		{ "blocked domain, subdomain included", "INBOX",
		  "From: a@x.hr.acme.example\r\nTo: b@customer.example\r\n\r\n",
		  "blocked-domain", TAP_VERDICT_DROP, "hr.acme.example" },
		{ "blocked domain by wildcard, in Cc", "INBOX",
		  "From: a@customer.example\r\nCc: m@eu.bank.example\r\n\r\n",
		  "blocked-domain", TAP_VERDICT_DROP, "*.bank.example" },
		{ "internal only", "INBOX",
		  "From: alice@acme.example\r\nTo: bob@sales.acme.example\r\n\r\n",
		  "internal-only", TAP_VERDICT_DROP, "" },
		{ "personal free-mail only", "INBOX",
		  "From: mom@gmail.com\r\nTo: alice@acme.example\r\n\r\n",
		  "freemail", TAP_VERDICT_DROP, "" },
		{ "free-mail plus a business party", "INBOX",
		  "From: mom@gmail.com\r\nTo: alice@acme.example, "
		  "dana@customer.example\r\n\r\n",
		  "capture", TAP_VERDICT_CAPTURE, "" },
		{ "folder not opted in", "Personal",
		  "From: dana@customer.example\r\n\r\n",
		  "folder-not-opted-in", TAP_VERDICT_DROP, "" },
		{ "folder by pattern", "Clients/Acme",
		  "From: dana@customer.example\r\n\r\n",
		  "capture", TAP_VERDICT_CAPTURE, "" },
		{ "no addresses at all", "INBOX", "Subject: x\r\n\r\n",
		  "capture", TAP_VERDICT_CAPTURE, "" },
	};

	(void)state;
	memset(&p, 0, sizeof(p));
	assert_int_equal(tap_list_parse(&p.domains, "acme.example", &err),
	    0);
	assert_int_equal(tap_list_parse(&p.block_addresses,
	    "ceo@acme.example, legal-*@*", &err), 0);
	assert_int_equal(tap_list_parse(&p.block_domains,
	    "hr.acme.example *.bank.example", &err), 0);
	assert_int_equal(tap_list_parse(&p.folders, "INBOX Sent Clients/*",
	    &err), 0);
	p.skip_internal = p.skip_freemail = true;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct tap_decision d;

		tap_policy_decide(&p, t[i].mailbox, t[i].hdr,
		    strlen(t[i].hdr), &d);
		if (d.verdict != t[i].verdict ||
		    strcmp(d.reason, t[i].reason) != 0 ||
		    strcmp(d.detail, t[i].detail) != 0) {
			print_error("%s: got %d %s %s\n", t[i].name, d.verdict,
			    d.reason, d.detail);
			fail();
		}
	}
	p.header_only = true;
	{
		struct tap_decision d;

		assert_int_equal(tap_policy_decide(&p, "INBOX", t[0].hdr,
		    strlen(t[0].hdr), &d), TAP_VERDICT_HEADERS_ONLY);
	}
	tap_policy_fini(&p);
	/* bounds */
	{
		char big[TAP_POLICY_ITEM_MAX + 2];

		memset(big, 'a', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		assert_int_equal(tap_list_parse(&p.domains, big, &err), -1);
		tap_policy_fini(&p);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_glob),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_decide),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
