/*
 * test_enrich_parse.c - what crm-enrich takes from a message (mail_parse,
 * over enrich/mime, enrich/scrub and enrich/ident) and the account
 * resolver (resolve_party, over enrich/ident with the Public Suffix List
 * file and the free-mail list).  Calendars are enrich/cal's (test_cal).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enrich/ident/ident.h"
#include "enrich/mail_parse.h"
#include "enrich/resolve.h"
#include "lib/xmalloc.h"

static const char msg_basic[] =
    "From: \"Carol Buyer\" <Carol@Initech.com>\r\n"
    "To: alice@acme.example, \"Bob\" <bob@acme.example>,\r\n"
    " team: dave@initech.com, erin@gmail.com;\r\n"
    "Cc: =?UTF-8?Q?Fran=C3=A7ois?= <francois@hooli.example>\r\n"
    "Cc: alice@ACME.example\r\n"
    "Subject: =?UTF-8?B?QW5nZWJvdCBmw7xy?= Q3\r\n"
    "Date: Tue, 1 Sep 2026 10:05:00 +0200\r\n"
    "Message-ID: <m1@initech.com>\r\n"
    "In-Reply-To: <m0@acme.example> <other@x>\r\n"
    "References: <r1@x>\r\n <m0@acme.example>\r\n"
    "\r\n"
    "Hello Alice,\r\n";

static void
test_mail_headers(void **state)
{
	struct mail_parsed mp;
	const char *err;
	static const struct { int role; const char *addr, *name; } want[] = {
		{ MAIL_ROLE_FROM, "carol@initech.com", "Carol Buyer" },
		{ MAIL_ROLE_TO, "alice@acme.example", NULL },
		{ MAIL_ROLE_TO, "bob@acme.example", "Bob" },
		{ MAIL_ROLE_TO, "dave@initech.com", NULL },
		{ MAIL_ROLE_TO, "erin@gmail.com", NULL },
		{ MAIL_ROLE_CC, "francois@hooli.example", "Fran\xc3\xa7ois" },
		/* a second Cc field is not RFC 5322: the first one counts */
	};

	(void)state;
	assert_int_equal(mail_parse(msg_basic, strlen(msg_basic), &mp, &err),
	    0);
	assert_string_equal(mp.message_id, "m1@initech.com");
	assert_string_equal(mp.in_reply_to, "m0@acme.example");
	assert_int_equal(mp.nrefs, 2);
	assert_string_equal(mp.refs[0], "r1@x");
	assert_string_equal(mp.refs[1], "m0@acme.example");
	assert_string_equal(mp.subject, "Angebot f\xc3\xbcr Q3");
	assert_string_equal(mp.date, "2026-09-01 10:05:00+0200");
	assert_int_equal(mp.naddrs, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < mp.naddrs; i++) {
		assert_int_equal(mp.addrs[i].role, want[i].role);
		assert_string_equal(mp.addrs[i].address, want[i].addr);
		if (want[i].name == NULL)
			assert_null(mp.addrs[i].display_name);
		else
			assert_string_equal(mp.addrs[i].display_name,
			    want[i].name);
	}
	assert_string_equal(mp.addrs[0].domain, "initech.com");
	assert_string_equal(mp.body_text, "Hello Alice,");
	mail_parsed_fini(&mp);
}

static const struct {
	const char *subject_line;
	const char *want;
} subjects[] = {
	/* raw UTF-8 (RFC 6532) stays UTF-8 */
	{ "Subject: Re: Angebot f\xc3\xbcr Q3\r\n", "Re: Angebot f\xc3\xbcr Q3" },
	/* raw Latin-1 is taken as Windows-1252 */
	{ "Subject: caf\xe9\r\n", "caf\xc3\xa9" },
	/* unfolding removes the line break only (RFC 5322 2.2.3) */
	{ "Subject: folded\r\n  line\r\n", "folded  line" },
	{ "Subject: =?ISO-8859-1?Q?caf=E9?=\r\n", "caf\xc3\xa9" },
	{ "Subject: =?bogus-charset?Q?x?=\r\n", NULL },	/* any UTF-8 */
};

static void
test_mail_subjects(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(subjects) / sizeof(subjects[0]); i++) {
		struct mail_parsed mp;
		const char *err;
		char *m = xasprintf("From: a@b\r\n%s\r\nbody\r\n",
		    subjects[i].subject_line);

		assert_int_equal(mail_parse(m, strlen(m), &mp, &err), 0);
		assert_non_null(mp.subject);
		if (subjects[i].want != NULL)
			assert_string_equal(mp.subject, subjects[i].want);
		mail_parsed_fini(&mp);
		free(m);
	}
}

static void
test_mail_mime(void **state)
{
	static const char m[] =
	    "From: a@b.example\r\nTo: c@d.example\r\nSubject: files\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n"
	    "--XX\r\nContent-Type: multipart/alternative; boundary=YY\r\n\r\n"
	    "--YY\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "Gr=FC=DFe\r\n"
	    "--YY\r\nContent-Type: text/html\r\n\r\n<p>Gr&uuml;&szlig;e</p>\r\n"
	    "--YY--\r\n"
	    "--XX\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\n"
	    "Content-Transfer-Encoding: base64\r\n"
	    "Content-Disposition: attachment; filename=\"=?UTF-8?Q?r=C3=A9sum=C3=A9.pdf?=\"\r\n\r\n"
	    "aGVsbG8=\r\n"
	    "--XX\r\nContent-Type: message/rfc822\r\n\r\n"
	    "From: inner@x.example\r\nSubject: inner\r\n\r\ninner body\r\n"
	    "--XX--\r\n";
	struct mail_parsed mp;
	const char *err;

	(void)state;
	assert_int_equal(mail_parse(m, strlen(m), &mp, &err), 0);
	assert_string_equal(mp.body_text, "Gr\xc3\xbc\xc3\x9f" "e");
	assert_int_equal(mp.natts, 2);
	assert_string_equal(mp.atts[0].content_type, "application/pdf");
	assert_string_equal(mp.atts[0].filename, "r\xc3\xa9sum\xc3\xa9.pdf");
	assert_int_equal(mp.atts[0].size, 5);
	/* sha256("hello") */
	assert_string_equal(mp.atts[0].sha256,
	    "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
	assert_string_equal(mp.atts[1].content_type, "message/rfc822");
	/* the attached message's parties are not this message's */
	assert_int_equal(mp.naddrs, 2);
	mail_parsed_fini(&mp);
}

/* HTML only: rendered, the quote and the signature split off, the
 * signature's fields kept; a no-reply sender is flagged. */
static void
test_mail_scrub(void **state)
{
	static const char m[] =
	    "From: Dana Lee <dana@initech.com>\r\nTo: a@acme.example\r\n"
	    "Subject: Re: pricing\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: text/html; charset=utf-8\r\n\r\n"
	    "<html><body><p>Thanks, the numbers work for us.</p>"
	    "<p>Best regards,<br>Dana Lee<br>Head of Procurement<br>"
	    "Initech Ltd<br>Tel: +44 20 7946 0018</p>"
	    "<div>On Mon, 2 Nov 2026, Alice wrote:</div>"
	    "<blockquote><p>Here is our offer.</p></blockquote>"
	    "</body></html>\r\n";
	static const char robot[] =
	    "From: GitHub <noreply@github.com>\r\nTo: a@acme.example\r\n"
	    "Subject: x\r\n\r\nhello\r\n";
	struct mail_parsed mp;
	const char *err;

	(void)state;
	assert_int_equal(mail_parse(m, strlen(m), &mp, &err), 0);
	assert_string_equal(mp.body_text, "Thanks, the numbers work for us.");
	assert_non_null(mp.body_quoted);
	assert_non_null(strstr(mp.body_quoted, "Here is our offer."));
	assert_null(strstr(mp.body_text, "Here is our offer."));
	assert_non_null(mp.body_signature);
	assert_string_equal(mp.sig.title, "Head of Procurement");
	assert_string_equal(mp.sig.phone, "+442079460018");
	assert_int_equal(mp.auto_reasons, 0);
	mail_parsed_fini(&mp);

	assert_int_equal(mail_parse(robot, strlen(robot), &mp, &err), 0);
	assert_true(mp.auto_reasons & IDENT_AUTO_LOCALPART);
	mail_parsed_fini(&mp);
}

/*
 * Every automated-sender marker through mail_parse(): MIME finds the
 * field (any case, folded), ident decides.  A person's message with the
 * same field absent or harmless stays a person.
 */
static const struct {
	const char *from;
	const char *field;	/* whole header line(s), or "" */
	unsigned want;
} auto_cases[] = {
	{ "alice@initech.com", "", 0 },
	{ "noreply@initech.com", "", IDENT_AUTO_LOCALPART },
	{ "no-reply.billing@initech.com", "", IDENT_AUTO_LOCALPART },
	{ "do_not_reply@initech.com", "", IDENT_AUTO_LOCALPART },
	{ "MAILER-DAEMON@initech.com", "", IDENT_AUTO_LOCALPART },
	{ "bounces+123-abc@initech.com", "", IDENT_AUTO_LOCALPART },
	{ "alice@initech.com", "Auto-Submitted: auto-replied\r\n",
	  IDENT_AUTO_SUBMITTED },
	{ "alice@initech.com", "Auto-Submitted: no\r\n", 0 },
	{ "alice@initech.com", "Precedence: bulk\r\n",
	  IDENT_AUTO_PRECEDENCE },
	{ "alice@initech.com", "precedence: first-class\r\n", 0 },
	{ "alice@initech.com", "List-Id: Sales team\r\n <sales.initech.com>\r\n",
	  IDENT_AUTO_LIST },
	{ "alice@initech.com",
	  "List-Unsubscribe: <https://initech.com/u?x=1>\r\n",
	  IDENT_AUTO_LIST },
	{ "alice@initech.com", "X-Auto-Response-Suppress: All\r\n",
	  IDENT_AUTO_SUPPRESS },
	{ "alice@initech.com", "X-Auto-Response-Suppress: DR, RN, NRN\r\n",
	  0 },
	{ "alice@initech.com", "Return-Path: <>\r\n",
	  IDENT_AUTO_NULL_SENDER },
	{ "alice@initech.com", "Return-Path: <alice@initech.com>\r\n", 0 },
	{ "alice@initech.com", "X-Autoreply: yes\r\n", IDENT_AUTO_AUTOREPLY },
	{ "alice@initech.com", "X-Autorespond: Out of office\r\n",
	  IDENT_AUTO_AUTOREPLY },
	{ "alice@initech.com", "X-AutoGenerated: Reply\r\n",
	  IDENT_AUTO_AUTOREPLY },
	{ "alice@initech.com",
	  "Feedback-ID: 123:456:newsletter:esp-example\r\n",
	  IDENT_AUTO_FEEDBACK_ID },
	{ "alice@initech.com", "X-Mailer: MailChimp Mailer - **CID1**\r\n",
	  0 },
	{ "alice@initech.com", "X-Mailer: Apple Mail (2.3731)\r\n", 0 },
	{ "news@initech.com",
	  "List-Id: <news.initech.com>\r\nPrecedence: list\r\n",
	  IDENT_AUTO_LIST | IDENT_AUTO_PRECEDENCE },
};

static void
test_mail_auto(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(auto_cases) / sizeof(*auto_cases);
	    i++) {
		char m[1024];
		struct mail_parsed mp;
		const char *err;
		int n = snprintf(m, sizeof(m), "From: X <%s>\r\n"
		    "To: bob@acme.example\r\n%sSubject: hi\r\n\r\nhello\r\n",
		    auto_cases[i].from, auto_cases[i].field);

		assert_true(n > 0 && (size_t)n < sizeof(m));
		if (mail_parse(m, (size_t)n, &mp, &err) != 0)
			fail_msg("case %zu: %s", i, err);
		if (mp.auto_reasons != auto_cases[i].want)
			fail_msg("case %zu (%s %s): got %#x want %#x", i,
			    auto_cases[i].from, auto_cases[i].field,
			    mp.auto_reasons, auto_cases[i].want);
		mail_parsed_fini(&mp);
	}
}

static const struct {
	const char *date_line;
	const char *want;	/* NULL: no date */
} dates[] = {
	{ "Date: Thu, 26 Nov 2026 01:02:03 -0530\r\n", "2026-11-26 01:02:03-0530" },
	/* a leap second is read as the next minute */
	{ "Date: 26 Nov 2026 01:02:60 +0000\r\n", "2026-11-26 01:03:00+0000" },
	{ "Date: Thu, 31 Feb 99999 25:61:00 +0000\r\n", NULL },
	{ "Date: yesterday\r\n", NULL },
	{ "Date: Thu, 26 Nov 1850 01:02:03 +0000\r\n", NULL },
};

static void
test_mail_dates(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(dates) / sizeof(dates[0]); i++) {
		struct mail_parsed mp;
		const char *err;
		char *m = xasprintf("From: a@b\r\n%s\r\nbody\r\n",
		    dates[i].date_line);

		assert_int_equal(mail_parse(m, strlen(m), &mp, &err), 0);
		if (dates[i].want == NULL)
			assert_null(mp.date);
		else
			assert_string_equal(mp.date, dates[i].want);
		mail_parsed_fini(&mp);
		free(m);
	}
}

static void
test_mail_limits(void **state)
{
	size_t n = MAIL_ADDRS_MAX + 50, o = 0, cap = n * 32 + 64;
	char *m = xmalloc(cap);
	struct mail_parsed mp;
	const char *err;

	(void)state;
	o += (size_t)snprintf(m + o, cap - o, "From: a@b\r\nTo: ");
	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(m + o, cap - o, "%su%zu@x.example",
		    i ? ",\r\n " : "", i);
	o += (size_t)snprintf(m + o, cap - o, "\r\n\r\n");
	assert_int_equal(mail_parse(m, o, &mp, &err), 0);
	assert_int_equal(mp.naddrs, MAIL_ADDRS_MAX);
	assert_true(mp.truncated > 0);
	mail_parsed_fini(&mp);
	free(m);

	assert_int_equal(mail_parse("", 0, &mp, &err), -1);
	assert_int_equal(mail_parse("\r\nno headers at all\r\n", 20, &mp,
	    &err), -1);
}

static const struct {
	const char *addr;
	enum resolve_kind kind;
	const char *account;
} parties[] = {
	{ "carol@initech.com", RESOLVE_COMPANY, "initech.com" },
	{ "dave@mail.eu.initech.com", RESOLVE_COMPANY, "initech.com" },
	{ "frank@umbrella.co.uk", RESOLVE_COMPANY, "umbrella.co.uk" },
	{ "x@sales.umbrella.co.uk", RESOLVE_COMPANY, "umbrella.co.uk" },
	{ "erin@gmail.com", RESOLVE_FREEMAIL, NULL },
	{ "erin@googlemail.com", RESOLVE_FREEMAIL, NULL },
	{ "Erin@Mail.Yahoo.co.jp", RESOLVE_FREEMAIL, NULL },
	{ "bob@acme.example", RESOLVE_INTERNAL, NULL },
	{ "bob@eu.acme.example", RESOLVE_INTERNAL, NULL },
	{ "Sam@Sub.Initech.COM", RESOLVE_COMPANY, "initech.com" },
	{ "x@foo.github.io", RESOLVE_COMPANY, "foo.github.io" },
	{ "jira-noreply@vendor.io", RESOLVE_NOREPLY, NULL },
	{ "noreply@vendor.io", RESOLVE_NOREPLY, NULL },
	{ "no-reply+abc@vendor.io", RESOLVE_NOREPLY, NULL },
	{ "mailer-daemon@x.example", RESOLVE_NOREPLY, NULL },
	{ "nobody", RESOLVE_INVALID, NULL },
};

static void
test_resolve(void **state)
{
	const char *const own[] = { "acme.example" };
	const char *err = NULL;
	struct resolve_rules *rules = resolve_rules_load(NULL,
	    IDENT_FREEMAIL_FILE, &err);

	(void)state;
	if (rules == NULL)
		fail_msg("resolve_rules_load: %s", err);
	for (size_t i = 0; i < sizeof(parties) / sizeof(parties[0]); i++) {
		char acct[256] = "";
		enum resolve_kind k = resolve_party(rules, parties[i].addr,
		    own, 1, acct, sizeof(acct));
		if (k != parties[i].kind)
			fail_msg("%s: kind %d, want %d", parties[i].addr,
			    (int)k, (int)parties[i].kind);
		if (parties[i].account != NULL)
			assert_string_equal(acct, parties[i].account);
	}
	resolve_rules_free(&rules);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mail_headers),
		cmocka_unit_test(test_mail_subjects),
		cmocka_unit_test(test_mail_mime),
		cmocka_unit_test(test_mail_dates),
		cmocka_unit_test(test_mail_scrub),
		cmocka_unit_test(test_mail_auto),
		cmocka_unit_test(test_mail_limits),
		cmocka_unit_test(test_resolve),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
