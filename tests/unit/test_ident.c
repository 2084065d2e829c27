/*
 * test_ident.c - table-driven tests of enrich/ident (libident).
 *
 * Every input is copied into a heap buffer of exactly its length, with no
 * NUL after it, so an ASan build catches any read past (ptr, len).  The
 * Public Suffix List is the real file from Debian's `publicsuffix`
 * package (the one packaging/deps.sh installs), and the free-mail list is
 * the project's own enrich/ident/freemail.txt.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "enrich/ident/ident.h"

/* An exact-length heap copy: reading in[len] is an ASan error. */
static char *
exact(const char *s, size_t n)
{
	char *p = malloc(n ? n : 1);

	assert_non_null(p);
	memcpy(p, s, n);
	return p;
}

/* ---- addresses ---------------------------------------------------------- */

struct addr_case {
	const char *in;
	unsigned flags;
	const char *want;	/* NULL: must fail */
	unsigned rules;		/* expected rule bits (checked when want) */
};

#define F IDENT_RULE_CASE_FOLDED
#define P IDENT_RULE_PLUS_TAG
#define D IDENT_RULE_DOTS
#define A IDENT_RULE_DOMAIN_ALIAS
#define I IDENT_RULE_IDN

static const struct addr_case addr_cases[] = {
	{ "alice@example.com", 0, "alice@example.com", 0 },
	{ "Alice@Example.COM", 0, "alice@example.com", F },
	{ "  <Alice@Example.com>  ", 0, "alice@example.com", F },
	{ "mailto:Bob@example.org", 0, "bob@example.org", F },
	{ "MAILTO:bob@example.org", 0, "bob@example.org", 0 },
	{ "bob@example.org.", 0, "bob@example.org", 0 },
	{ "bob+crm@example.org", 0, "bob@example.org", P },
	{ "bob+a+b@example.org", 0, "bob@example.org", P },
	{ "+15551234567@sms.example.net", 0, "+15551234567@sms.example.net", 0 },
	/* Gmail: dots and case ignored, googlemail.com is the same mailbox */
	{ "John.Smith@gmail.com", 0, "johnsmith@gmail.com", F | D },
	{ "j.o.h.n.smith+newsletter@GMAIL.com", 0, "johnsmith@gmail.com",
	  D | P },
	{ "john.smith@googlemail.com", 0, "johnsmith@gmail.com", D | A },
	/* dots kept where the provider does not ignore them */
	{ "john.smith@outlook.com", 0, "john.smith@outlook.com", 0 },
	{ "John.Smith@Yahoo.com", 0, "john.smith@yahoo.com", F },
	{ "first.last@acme-corp.co.uk", 0, "first.last@acme-corp.co.uk", 0 },
	/* exact case on unknown domains only when asked */
	{ "John.Smith@acme.example", IDENT_ADDR_KEEP_CASE,
	  "John.Smith@acme.example", 0 },
	{ "John.Smith@gmail.com", IDENT_ADDR_KEEP_CASE,
	  "johnsmith@gmail.com", F | D },
	/* IDN: U-labels become A-labels, both spellings give one key */
	{ "info@bücher.de", 0, "info@xn--bcher-kva.de", I },
	{ "info@BÜCHER.de", 0, "info@xn--bcher-kva.de", I },
	{ "info@xn--bcher-kva.de", 0, "info@xn--bcher-kva.de", 0 },
	{ "info@例え.jp", 0, "info@xn--r8jz45g.jp", I },
	{ "contact@münchen.example", 0, "contact@xn--mnchen-3ya.example", I },
	{ "user@faß.de", 0, "user@xn--fa-hia.de", I },
	/* SMTPUTF8 local parts are kept as they are */
	{ "用户@例子.广告", 0, "用户@xn--fsqu00a.xn--4rr70v", I },
	{ "josé@example.com", 0, "josé@example.com", 0 },
	/* quoted local parts */
	{ "\"alice\"@example.com", 0, "alice@example.com", 0 },
	{ "\"john doe\"@example.com", 0, "\"john doe\"@example.com", 0 },
	{ "\"a\\\"b\"@example.com", 0, "\"a\\\"b\"@example.com", 0 },
	/* address literal */
	{ "root@[192.0.2.1]", 0, "root@[192.0.2.1]", 0 },
	{ "root@[IPv6:2001:DB8::1]", 0, "root@[ipv6:2001:db8::1]", 0 },
	/* refused */
	{ "", 0, NULL, 0 },
	{ "   ", 0, NULL, 0 },
	{ "alice", 0, NULL, 0 },
	{ "@example.com", 0, NULL, 0 },
	{ "alice@", 0, NULL, 0 },
	{ "alice@exa mple.com", 0, NULL, 0 },
	{ "ali ce@example.com", 0, NULL, 0 },
	{ "alice@-example.com", 0, NULL, 0 },
	{ "alice@example..com", 0, NULL, 0 },
	{ "alice@ex\xff.com", 0, NULL, 0 },
	{ "al\xc3(ice@example.com", 0, NULL, 0 },
	{ "+@example.com", 0, "+@example.com", 0 },
	{ "...@gmail.com", 0, NULL, 0 },
	{ "\"unterminated@example.com", 0, NULL, 0 },
	{ "a@b@c", 0, NULL, 0 },	/* '@' is not atext */
	{ "alice@exam_ple.com", 0, "alice@exam_ple.com", 0 },
	{ "x@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com",
	  0, NULL, 0 },	/* 64-byte label */
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "@example.com", 0, NULL, 0 },	/* 65-byte local part */
};

static void
test_addr_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(addr_cases) / sizeof(*addr_cases); i++) {
		const struct addr_case *c = &addr_cases[i];
		size_t n = strlen(c->in);
		char *in = exact(c->in, n);
		struct ident_addr a;
		const char *err = NULL;
		int rc = ident_addr_parse(in, n, c->flags, &a, &err);

		if (c->want == NULL) {
			if (rc != -1)
				fail_msg("case %zu '%s': want error, got '%s'",
				    i, c->in, a.addr);
			assert_non_null(err);
			assert_string_equal(a.addr, "");
		} else {
			if (rc != 0)
				fail_msg("case %zu '%s': %s", i, c->in, err);
			assert_string_equal(a.addr, c->want);
			if (a.rules != c->rules)
				fail_msg("case %zu '%s': rules %#x want %#x",
				    i, c->in, a.rules, c->rules);
		}
		free(in);
	}
}

static void
test_addr_long(void **state)
{
	char buf[600];
	struct ident_addr a;
	const char *err;

	(void)state;
	/* a 253-character domain is the longest accepted */
	memcpy(buf, "a@", 2);
	for (size_t i = 0; i < 4; i++) {
		memset(buf + 2 + i * 64, 'b', 63);
		buf[2 + i * 64 + 63] = '.';
	}
	memcpy(buf + 2 + 256 - 4, "com", 3);	/* 63*4 + 3 + dots */
	buf[2 + 253 - 3 + 3] = '\0';
	{
		size_t dl = strlen(buf) - 2;

		assert_true(dl >= 250 && dl <= 253);
		assert_int_equal(ident_addr_parse(buf, strlen(buf), 0, &a,
		    &err), 0);
	}
	/* a huge input is refused without being walked */
	memset(buf, 'x', sizeof(buf));
	buf[100] = '@';
	assert_int_equal(ident_addr_parse(buf, sizeof(buf), 0, &a, &err), -1);
}

struct dom_case {
	const char *in, *want;
};

static const struct dom_case dom_cases[] = {
	{ "Example.COM", "example.com" },
	{ " example.com. ", "example.com" },
	{ "BÜCHER.de", "xn--bcher-kva.de" },
	{ "bücher。de", "xn--bcher-kva.de" },	/* ideographic full stop */
	{ "ｅｘａｍｐｌｅ.com", "example.com" },	/* full-width letters */
	{ "xn--BCHER-KVA.de", "xn--bcher-kva.de" },
	{ "localhost", "localhost" },
	{ "", NULL },
	{ ".", NULL },
	{ "a..b", NULL },
	{ "-a.com", NULL },
	{ "a-.com", NULL },
	{ "a b.com", NULL },
	{ "a\x01.com", NULL },
	{ "\xe2\x98\x83.com", NULL },	/* U+2603 snowman: not IDNA2008 */
};

static void
test_domain_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(dom_cases) / sizeof(*dom_cases); i++) {
		const struct dom_case *c = &dom_cases[i];
		size_t n = strlen(c->in);
		char *in = exact(c->in, n), out[IDENT_DOMAIN_MAX + 1];
		const char *err = NULL;
		int rc = ident_domain_normalize(in, n, out, sizeof(out), &err);

		if (c->want == NULL) {
			if (rc != -1)
				fail_msg("case '%s': want error, got '%s'",
				    c->in, out);
		} else {
			if (rc != 0)
				fail_msg("case '%s': %s", c->in, err);
			assert_string_equal(out, c->want);
		}
		free(in);
	}
}

/* ---- display names ------------------------------------------------------ */

struct name_case {
	const char *in, *addr, *want;
};

static const struct name_case name_cases[] = {
	{ "John Smith", NULL, "John Smith" },
	{ "  John   Smith  ", NULL, "John Smith" },
	{ "\"John Smith\"", NULL, "John Smith" },
	{ "'John Smith'", NULL, "John Smith" },
	{ "Smith, John", NULL, "John Smith" },
	{ "\"Smith, John\"", NULL, "John Smith" },
	{ "Smith, John A.", NULL, "John A. Smith" },
	{ "van der Berg, Anna", NULL, "Anna van der Berg" },
	{ "John Smith, Jr.", NULL, "John Smith, Jr." },
	{ "Jane Doe, PhD", NULL, "Jane Doe, PhD" },
	{ "Doe, Jane, Dr.", NULL, "Doe, Jane, Dr." },	/* two commas: kept */
	{ "Jane Doe via LinkedIn", NULL, "Jane Doe" },
	{ "Jane Doe (via Google Docs)", NULL, "Jane Doe" },
	{ "Jane Doe (Sales)", NULL, "Jane Doe" },
	{ "Jane Doe [External]", NULL, "Jane Doe" },
	{ "[EXT] Jane Doe", NULL, "Jane Doe" },
	{ "Doe, Jane (Contractor)", NULL, "Jane Doe" },
	{ "Jane Doe <jane@example.com>", NULL, "Jane Doe" },
	{ "jane@example.com", NULL, "" },
	{ "'jane@example.com'", NULL, "" },
	{ "Jane@Example.com", "jane@example.com", "" },
	{ "jane", "jane@example.com", "jane" },
	{ "José Müller", NULL, "José Müller" },
	{ "王小明", NULL, "王小明" },
	{ "Müller, Jürgen", NULL, "Jürgen Müller" },
	{ "John\\\"Johnny\\\" Smith", NULL, "John\"Johnny\" Smith" },
	{ "John\tSmith\r\n", NULL, "John Smith" },
	{ "John\xc2\xa0Smith", NULL, "John Smith" },	/* NBSP */
	{ "Bad\xff\xfeName", NULL, "BadName" },
	{ "(Sales)", NULL, "(Sales)" },
	{ "", NULL, "" },
	{ "\"\"", NULL, "" },
	{ "ACME 2000, Inc", NULL, "ACME 2000, Inc" },	/* digits: no swap */
};

static void
test_name_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(name_cases) / sizeof(*name_cases); i++) {
		const struct name_case *c = &name_cases[i];
		size_t n = strlen(c->in);
		char *in = exact(c->in, n), out[IDENT_NAME_MAX + 1];
		size_t got = ident_name_clean(in, n, c->addr, out, sizeof(out));

		if (strcmp(out, c->want) != 0)
			fail_msg("case %zu '%s': got '%s' want '%s'", i, c->in,
			    out, c->want);
		assert_int_equal(got, strlen(out));
		free(in);
	}
}

static void
test_name_bounds(void **state)
{
	char big[2000], out[IDENT_NAME_MAX + 1], small[8];
	size_t n;

	(void)state;
	/* 3-byte characters: the cut must land on a character boundary */
	for (size_t i = 0; i + 3 <= sizeof(big); i += 3)
		memcpy(big + i, "\xe7\x8e\x8b", 3);
	n = ident_name_clean(big, sizeof(big) - sizeof(big) % 3, NULL, out,
	    sizeof(out));
	assert_true(n <= IDENT_NAME_MAX);
	assert_int_equal(n % 3, 0);
	n = ident_name_clean("Jonathan Smith", 14, NULL, small, sizeof(small));
	assert_int_equal(n, strlen(small));
	assert_true(n < sizeof(small));
	n = ident_name_clean("x", 1, NULL, small, 0);
	assert_int_equal(n, 0);
}

/* ---- address lists ------------------------------------------------------ */

struct list_case {
	const char *in;
	int want_n;
	size_t want_skipped;
	const char *want[4][2];	/* name, addr */
};

static const struct list_case list_cases[] = {
	{ "alice@example.com", 1, 0, { { "", "alice@example.com" } } },
	{ "Alice Example <alice@example.com>", 1, 0,
	  { { "Alice Example", "alice@example.com" } } },
	{ "\"Smith, John\" <John.Smith@Example.com>, bob@example.org", 2, 0,
	  { { "John Smith", "john.smith@example.com" },
	    { "", "bob@example.org" } } },
	{ "alice@example.com (Alice Example)", 1, 0,
	  { { "Alice Example", "alice@example.com" } } },
	{ "Team: a@example.com, \"B, C\" <c@example.com>;, d@example.com", 3, 0,
	  { { "", "a@example.com" }, { "C B", "c@example.com" },
	    { "", "d@example.com" } } },
	{ "undisclosed-recipients:;", 0, 0, { { NULL, NULL } } },
	{ "Jane\r\n Doe <jane@example.com>,\r\n\tjoe@example.com", 2, 0,
	  { { "Jane Doe", "jane@example.com" }, { "", "joe@example.com" } } },
	{ "<@relay.example:route@example.com>", 1, 0,
	  { { "", "route@example.com" } } },
	{ "Broken Client jane@example.com", 1, 0,
	  { { "Broken Client", "jane@example.com" } } },
	{ "not an address, ok@example.com", 1, 1,
	  { { "", "ok@example.com" } } },
	{ "=?utf-8?q?x?= <x@example.com>", 1, 0,
	  { { "=?utf-8?q?x?=", "x@example.com" } } },
	{ "\"Weird <name>\" <w@example.com>", 1, 0,
	  { { "Weird", "w@example.com" } } },
	{ "a@example.com, b@example.com, c@example.com, d@example.com, "
	  "e@example.com", 4, 1,
	  { { "", "a@example.com" }, { "", "b@example.com" },
	    { "", "c@example.com" }, { "", "d@example.com" } } },
	{ "root@[IPv6:2001:db8::1], b@example.com", 2, 0,
	  { { "", "root@[ipv6:2001:db8::1]" }, { "", "b@example.com" } } },
	{ "", 0, 0, { { NULL, NULL } } },
	{ ",,,", 0, 0, { { NULL, NULL } } },
	/* an unterminated quote still yields the address it hides */
	{ "\"unterminated <x@example.com>", 1, 0,
	  { { "unterminated", "x@example.com" } } },
};

static void
test_list_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(list_cases) / sizeof(*list_cases); i++) {
		const struct list_case *c = &list_cases[i];
		struct ident_mailbox mb[4];
		size_t n = strlen(c->in), skipped = 99;
		char *in = exact(c->in, n);
		const char *err = NULL;
		int got = ident_mailbox_list_parse(in, n, mb, 4, &skipped,
		    &err);

		if (got != c->want_n || skipped != c->want_skipped)
			fail_msg("case %zu '%s': got %d (%zu skipped), want %d "
			    "(%zu)", i, c->in, got, skipped, c->want_n,
			    c->want_skipped);
		for (int k = 0; k < got; k++) {
			if (strcmp(mb[k].name, c->want[k][0]) != 0 ||
			    strcmp(mb[k].addr.addr, c->want[k][1]) != 0)
				fail_msg("case %zu #%d: got '%s' <%s>, want "
				    "'%s' <%s>", i, k, mb[k].name,
				    mb[k].addr.addr, c->want[k][0],
				    c->want[k][1]);
		}
		free(in);
	}
}

static void
test_list_limits(void **state)
{
	static char big[IDENT_HEADER_MAX + 1];
	struct ident_mailbox mb[1];
	size_t skipped;
	const char *err = NULL;

	(void)state;
	memset(big, 'a', sizeof(big));
	assert_int_equal(ident_mailbox_list_parse(big, sizeof(big), mb, 1,
	    &skipped, &err), -1);
	assert_non_null(err);
	/* deep comments do not recurse or overflow */
	memset(big, '(', sizeof(big) - 1);
	assert_true(ident_mailbox_list_parse(big, sizeof(big) - 1, mb, 1,
	    &skipped, &err) >= 0);
}

/* ---- PSL ---------------------------------------------------------------- */

struct psl_case {
	const char *domain, *want;	/* want NULL: no registrable domain */
	bool suffix;
};

static const struct psl_case psl_cases[] = {
	{ "example.com", "example.com", false },
	{ "mail.example.com", "example.com", false },
	{ "a.b.c.example.com", "example.com", false },
	{ "bbc.co.uk", "bbc.co.uk", false },
	{ "news.bbc.co.uk", "bbc.co.uk", false },
	{ "co.uk", NULL, true },
	{ "uk", NULL, true },
	{ "smh.com.au", "smh.com.au", false },
	{ "www.smh.com.au", "smh.com.au", false },
	{ "com.au", NULL, true },
	{ "mail.example.co.jp", "example.co.jp", false },
	{ "city.kawasaki.jp", "city.kawasaki.jp", false },	/* !exception */
	{ "foo.kawasaki.jp", NULL, true },		/* *.kawasaki.jp */
	{ "bar.foo.kawasaki.jp", "bar.foo.kawasaki.jp", false },
	/* private section: hosted user domains are registrable */
	{ "octocat.github.io", "octocat.github.io", false },
	{ "docs.octocat.github.io", "octocat.github.io", false },
	{ "github.io", NULL, true },
	{ "myapp.herokuapp.com", "myapp.herokuapp.com", false },
	{ "blog.blogspot.com", "blog.blogspot.com", false },
	{ "bucket.s3.amazonaws.com", "bucket.s3.amazonaws.com", false },
	/* IDN TLDs, as A-labels */
	{ "example.xn--p1ai", "example.xn--p1ai", false },	/* .рф */
	{ "www.xn--bcher-kva.de", "xn--bcher-kva.de", false },
	{ "xn--p1ai", NULL, true },
	/* an unlisted TLD behaves as a one-label suffix ("*" rule) */
	{ "host.corp.internal", "corp.internal", false },
	/* not canonical or not a name */
	{ "Example.com", NULL, false },
	{ "[192.0.2.1]", NULL, false },
	{ "", NULL, false },
};

static struct ident_psl *psl;

static int
psl_setup(void **state)
{
	const char *err = NULL;

	(void)state;
	psl = ident_psl_load(IDENT_PSL_DEFAULT, &err);
	if (psl == NULL) {
		fprintf(stderr, "%s: %s (install Debian's publicsuffix)\n",
		    IDENT_PSL_DEFAULT, err);
		return -1;
	}
	return 0;
}

static int
psl_teardown(void **state)
{
	(void)state;
	ident_psl_free(&psl);
	assert_null(psl);
	return 0;
}

static void
test_psl_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(psl_cases) / sizeof(*psl_cases); i++) {
		const struct psl_case *c = &psl_cases[i];
		char out[IDENT_DOMAIN_MAX + 1];
		int rc = ident_psl_registrable(psl, c->domain, out,
		    sizeof(out));

		if (c->want == NULL) {
			if (rc != -1)
				fail_msg("'%s': want none, got '%s'",
				    c->domain, out);
		} else {
			if (rc != 0)
				fail_msg("'%s': no registrable domain",
				    c->domain);
			assert_string_equal(out, c->want);
		}
		if (ident_psl_is_suffix(psl, c->domain) != c->suffix)
			fail_msg("'%s': is_suffix want %d", c->domain,
			    c->suffix);
	}
}

static void
test_psl_load_errors(void **state)
{
	const char *err = NULL;
	char path[] = "/tmp/test_ident_psl.XXXXXX";
	int fd;

	(void)state;
	assert_null(ident_psl_load("/nonexistent/psl.dat", &err));
	assert_non_null(err);
	assert_null(ident_psl_load(NULL, &err));
	/* a file with a handful of rules is not a PSL */
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "com\nnet\n", 8), 8);
	close(fd);
	err = NULL;
	assert_null(ident_psl_load(path, &err));
	assert_non_null(err);
	unlink(path);
}

/* ---- free-mail, tenant domains ---------------------------------------- */

static void
test_freemail(void **state)
{
	static const char *const yes[] = {
		"gmail.com", "googlemail.com", "outlook.com", "hotmail.co.uk",
		"yahoo.co.jp", "qq.com", "163.com", "naver.com", "mail.ru",
		"web.de", "orange.fr", "libero.it", "icloud.com", "proton.me",
		"uol.com.br", "rediffmail.com", "bigpond.com",
		"mail.yahoo.co.jp",	/* subdomain of an entry */
	};
	static const char *const no[] = {
		"example.com", "acme.co.uk", "notgmail.com", "gmail.com.evil",
		"google.com", "microsoft.com", "yahoo.co", "",
	};
	const char *err = NULL;
	size_t line = 99;
	struct ident_domset *set = ident_domset_load(IDENT_FREEMAIL_FILE,
	    &line, &err);

	(void)state;
	if (set == NULL)
		fail_msg("%s:%zu: %s", IDENT_FREEMAIL_FILE, line, err);
	assert_true(ident_domset_count(set) > 150);
	for (size_t i = 0; i < sizeof(yes) / sizeof(*yes); i++)
		if (!ident_domset_match(set, yes[i]))
			fail_msg("'%s' should be free-mail", yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(*no); i++)
		if (ident_domset_match(set, no[i]))
			fail_msg("'%s' should not be free-mail", no[i]);
	ident_domset_free(&set);
	assert_null(set);
}

static void
test_domset_parse(void **state)
{
	static const char good[] =
	    "# comment\n\n  Example.COM  # trailing comment\r\n"
	    "bücher.de\nexample.com\n";
	static const char bad[] = "ok.example\nnot a domain\n";
	const char *err = NULL;
	size_t line = 0;
	struct ident_domset *set;

	(void)state;
	set = ident_domset_parse(good, sizeof(good) - 1, &line, &err);
	assert_non_null(set);
	assert_int_equal(ident_domset_count(set), 2);	/* duplicate merged */
	assert_true(ident_domset_match(set, "example.com"));
	assert_true(ident_domset_match(set, "www.xn--bcher-kva.de"));
	ident_domset_free(&set);
	assert_null(ident_domset_parse(bad, sizeof(bad) - 1, &line, &err));
	assert_int_equal(line, 2);
	assert_null(ident_domset_load("/nonexistent", &line, &err));
}

static void
test_internal(void **state)
{
	static const char *const tenant[] = {
		"Acme.com", "acme-corp.co.uk", "bücher.de", "not a domain",
		NULL,
	};
	static const struct {
		const char *d;
		bool want;
	} cases[] = {
		{ "acme.com", true },
		{ "mail.acme.com", true },
		{ "eu.mail.acme.com", true },
		{ "notacme.com", false },
		{ "acme.com.evil.example", false },
		{ "acme-corp.co.uk", true },
		{ "corp.co.uk", false },
		{ "xn--bcher-kva.de", true },
		{ "shop.xn--bcher-kva.de", true },
		{ "example.com", false },
		{ "[192.0.2.1]", false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++)
		if (ident_domain_is_internal(cases[i].d, tenant, 5) !=
		    cases[i].want)
			fail_msg("'%s': want %d", cases[i].d, cases[i].want);
	assert_false(ident_domain_is_internal("acme.com", tenant, 0));
}

/* ---- automated senders ------------------------------------------------- */

static void
test_auto_localpart(void **state)
{
	static const char *const yes[] = {
		"noreply", "no-reply", "NoReply", "no_reply", "donotreply",
		"do-not-reply", "do_not_reply", "DoNotReply", "mailer-daemon",
		"MAILER-DAEMON", "postmaster", "notifications", "notification",
		"bounce", "bounces", "bounces+12345-abcd", "bounce-md_123.abc",
		"jira-noreply", "noreply-calendar", "calendar-notification",
		"notifications.github", "no.reply", "reply-noreply123",
		"autoreply", "auto-reply", "nobody",
	};
	static const char *const no[] = {
		"alice", "john.smith", "sales", "info", "support", "replies",
		"noah", "notes", "bouncer.bob", "post", "daemonic.art", "",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(yes) / sizeof(*yes); i++)
		if (!ident_auto_localpart(yes[i], strlen(yes[i])))
			fail_msg("'%s' should be automated", yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(*no); i++)
		if (ident_auto_localpart(no[i], strlen(no[i])))
			fail_msg("'%s' should be a person", no[i]);
}

#define H(n, v) { n, sizeof(n) - 1, v, sizeof(v) - 1 }

static void
test_auto_headers(void **state)
{
	static const struct {
		const char *local;
		struct ident_header h[3];
		size_t nh;
		unsigned want;
	} cases[] = {
		{ "alice", { H("Subject", "hello") }, 1, 0 },
		{ "alice", { H("Auto-Submitted", " auto-replied") }, 1,
		  IDENT_AUTO_SUBMITTED },
		{ "alice", { H("auto-submitted", "auto-generated; x=1") }, 1,
		  IDENT_AUTO_SUBMITTED },
		{ "alice", { H("Auto-Submitted", "no") }, 1, 0 },
		{ "alice", { H("Auto-Submitted", " No (manual)") }, 1, 0 },
		{ "alice", { H("Precedence", "bulk") }, 1,
		  IDENT_AUTO_PRECEDENCE },
		{ "alice", { H("Precedence", "list") }, 1,
		  IDENT_AUTO_PRECEDENCE },
		{ "alice", { H("PRECEDENCE", " Junk") }, 1,
		  IDENT_AUTO_PRECEDENCE },
		{ "alice", { H("Precedence", "first-class") }, 1, 0 },
		{ "alice", { H("List-Id", "<dev.lists.example.org>") }, 1,
		  IDENT_AUTO_LIST },
		{ "alice", { H("List-Unsubscribe",
		  "<mailto:u@example.org>") }, 1, IDENT_AUTO_LIST },
		{ "alice", { H("X-Auto-Response-Suppress", "All") }, 1,
		  IDENT_AUTO_SUPPRESS },
		{ "alice", { H("X-Auto-Response-Suppress", "DR, OOF, AutoReply")
		  }, 1, IDENT_AUTO_SUPPRESS },
		{ "alice", { H("X-Auto-Response-Suppress", "DR, RN, NRN") }, 1,
		  0 },
		{ "alice", { H("Return-Path", "<>") }, 1,
		  IDENT_AUTO_NULL_SENDER },
		{ "alice", { H("Return-Path", "<alice@example.com>") }, 1, 0 },
		{ "alice", { H("X-Autoreply", "yes") }, 1,
		  IDENT_AUTO_AUTOREPLY },
		{ "alice", { H("X-Autoreply", "no") }, 1, 0 },
		{ "alice", { H("x-autorespond", " 1") }, 1,
		  IDENT_AUTO_AUTOREPLY },
		{ "alice", { H("X-AutoGenerated", "Reply") }, 1,
		  IDENT_AUTO_AUTOREPLY },
		{ "alice", { H("Return-Path", " < > ") }, 1,
		  IDENT_AUTO_NULL_SENDER },
		{ "alice", { H("Return-Path", "<alice@example.com>"),
		  H("Return-Path", "<>") }, 2, IDENT_AUTO_NULL_SENDER },
		{ "alice", { H("Return-Path", "") }, 1, 0 },
		{ "alice", { H("List-Id", "Team list <team.example.org>") }, 1,
		  IDENT_AUTO_LIST },
		{ "alice", { H("List-Post", "<mailto:team@example.org>") }, 1,
		  0 },
		{ "alice", { H("X-Auto-Response-Suppress", "oof") }, 1,
		  IDENT_AUTO_SUPPRESS },
		{ "alice", { H("X-Auto-Response-Suppress", "DR, RN, NRN, OOF")
		  }, 1, IDENT_AUTO_SUPPRESS },
		{ "alice", { H("Feedback-ID",
		  "a1:campaign-7:newsletter:sendgrid") }, 1,
		  IDENT_AUTO_FEEDBACK_ID },
		{ "alice", { H("feedback-id", " 1.eu-west-1.abc:AmazonSES") },
		  1, IDENT_AUTO_FEEDBACK_ID },
		{ "alice", { H("Feedback-ID", "  ") }, 1, 0 },
		/* software names and bulk-looking tools are not markers */
		{ "alice", { H("X-Mailer", "MailChimp Mailer") }, 1, 0 },
		{ "alice", { H("X-Mailer", "Microsoft Outlook 16.0") }, 1, 0 },
		{ "alice", { H("User-Agent", "Mozilla Thunderbird") }, 1, 0 },
		{ "alice", { H("X-Priority", "5 (Lowest)") }, 1, 0 },
		{ "alice", { H("Reply-To", "<noreply@example.com>") }, 1, 0 },
		{ "noreply", { H("List-Id", "x"), H("Precedence", "bulk") },
		  2, IDENT_AUTO_LOCALPART | IDENT_AUTO_LIST |
		  IDENT_AUTO_PRECEDENCE },
		{ NULL, { H("Auto-Submitted", "auto-generated") }, 1,
		  IDENT_AUTO_SUBMITTED },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		unsigned got = ident_auto_reasons(cases[i].local,
		    cases[i].local ? strlen(cases[i].local) : 0, cases[i].h,
		    cases[i].nh);

		if (got != cases[i].want)
			fail_msg("case %zu: got %#x want %#x", i, got,
			    cases[i].want);
	}
	assert_string_equal(ident_auto_reason_name(IDENT_AUTO_LIST), "list");
	assert_string_equal(ident_auto_reason_name(IDENT_AUTO_FEEDBACK_ID),
	    "feedback-id");
	assert_string_equal(ident_auto_reason_name(0x8000), "unknown");
}

/* ---- threads ------------------------------------------------------------ */

struct msgid_case {
	const char *in;
	size_t max;
	size_t want_n;
	const char *want[4];
};

static const struct msgid_case msgid_cases[] = {
	{ "<a@example.com>", 4, 1, { "a@example.com" } },
	{ "  <a@example.com>\r\n <b@example.com>\t<c@example.com>", 4, 3,
	  { "a@example.com", "b@example.com", "c@example.com" } },
	{ "<a@x> (comment <not@id>) <b@x>", 4, 2, { "a@x", "b@x" } },
	{ "<a@x><a@x><b@x>", 4, 2, { "a@x", "b@x" } },
	{ "<root@x> <p1@x> <p2@x> <p3@x> <p4@x> <p5@x>", 3, 3,
	  { "root@x", "p4@x", "p5@x" } },
	{ "bare-id@example.com", 4, 1, { "bare-id@example.com" } },
	{ "bare id@example.com", 4, 0, { NULL } },
	{ "<>", 4, 0, { NULL } },
	{ "<has space@x> <ok@x>", 4, 1, { "ok@x" } },
	{ "<unterminated@x", 4, 0, { NULL } },
	{ "junk <a <b@x>", 4, 1, { "b@x" } },
	{ "", 4, 0, { NULL } },
	{ "<CAF=x+y/z@mail.gmail.com>", 4, 1, { "CAF=x+y/z@mail.gmail.com" } },
};

static void
test_msgid_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(msgid_cases) / sizeof(*msgid_cases);
	    i++) {
		const struct msgid_case *c = &msgid_cases[i];
		struct ident_slice ids[4];
		size_t n = strlen(c->in);
		char *in = exact(c->in, n);
		size_t got = ident_msgid_list(in, n, ids, c->max);

		if (got != c->want_n)
			fail_msg("case %zu '%s': %zu ids, want %zu", i, c->in,
			    got, c->want_n);
		for (size_t k = 0; k < got; k++) {
			assert_true(ids[k].ptr >= in &&
			    ids[k].ptr + ids[k].len <= in + n);
			if (ids[k].len != strlen(c->want[k]) ||
			    memcmp(ids[k].ptr, c->want[k], ids[k].len) != 0)
				fail_msg("case %zu #%zu: '%.*s' want '%s'", i,
				    k, (int)ids[k].len, ids[k].ptr,
				    c->want[k]);
		}
		free(in);
	}
}

static void
test_msgid_long(void **state)
{
	char buf[IDENT_MSGID_MAX + 10];
	struct ident_slice ids[2];

	(void)state;
	memset(buf, 'a', sizeof(buf));
	buf[0] = '<';
	buf[5] = '@';
	buf[IDENT_MSGID_MAX + 1] = '>';	/* exactly IDENT_MSGID_MAX */
	assert_int_equal(ident_msgid_list(buf, IDENT_MSGID_MAX + 2, ids, 2),
	    1);
	buf[IDENT_MSGID_MAX + 1] = 'a';
	buf[IDENT_MSGID_MAX + 2] = '>';
	assert_int_equal(ident_msgid_list(buf, IDENT_MSGID_MAX + 3, ids, 2),
	    0);
	assert_int_equal(ident_msgid_list("<a@b>", 5, ids, 0), 0);
}

struct subj_case {
	const char *in, *base, *key;
};

static const struct subj_case subj_cases[] = {
	{ "Quarterly review", "Quarterly review", "quarterly review" },
	{ "Re: Quarterly review", "Quarterly review", "quarterly review" },
	{ "RE: Quarterly review", "Quarterly review", "quarterly review" },
	{ "Re: RE: re: Quarterly review", "Quarterly review", NULL },
	{ "Fwd: Quarterly review", "Quarterly review", NULL },
	{ "FW: Re: Quarterly review", "Quarterly review", NULL },
	{ "Re[2]: Quarterly review", "Quarterly review", NULL },
	{ "Re(3): Quarterly review", "Quarterly review", NULL },
	{ "Re^2: Quarterly review", "Quarterly review", NULL },
	{ "Re : Quarterly review", "Quarterly review", NULL },	/* French */
	{ "AW: WG: Angebot 2026", "Angebot 2026", "angebot 2026" },
	{ "Antw: Offerte", "Offerte", NULL },			/* Dutch */
	{ "SV: VS: Tarjous", "Tarjous", NULL },			/* Nordic */
	{ "TR: RE: Devis", "Devis", NULL },			/* French */
	{ "RV: Presupuesto", "Presupuesto", NULL },		/* Spanish */
	{ "RIF: Preventivo", "Preventivo", NULL },		/* Italian */
	{ "ENC: Proposta", "Proposta", NULL },			/* Portuguese */
	{ "Odp: Oferta", "Oferta", NULL },			/* Polish */
	{ "YNT: Teklif", "Teklif", NULL },			/* Turkish */
	{ "İLT: Teklif", "Teklif", NULL },
	{ "Válasz: Ajánlat", "Ajánlat", NULL },			/* Hungarian */
	{ "Ответ: Предложение", "Предложение", NULL },		/* Russian */
	{ "RÉF : Devis", "Devis", NULL },
	{ "ΑΠ: Προσφορά", "Προσφορά", NULL },			/* Greek */
	{ "答复: 报价单", "报价单", NULL },
	{ "回复：报价单", "报价单", NULL },			/* full-width colon */
	{ "回复: 答复: 报价单", "报价单", NULL },
	{ "转发: 会议纪要", "会议纪要", NULL },
	{ "回覆: 報價", "報價", NULL },
	{ "返信: 見積もり", "見積もり", NULL },
	{ "회신: 견적서", "견적서", NULL },
	{ "[sales-team] Re: Pricing", "Pricing", "pricing" },
	{ "Re: [sales-team] Re: Pricing", "Pricing", NULL },
	{ "[EXTERNAL] RE: Pricing", "Pricing", NULL },
	{ "Pricing (fwd)", "Pricing", NULL },
	{ "  Re:   Pricing    update  ", "Pricing update", "pricing update" },
	{ "Re: ", "", "" },
	{ "Re:Pricing", "Pricing", NULL },
	{ "Regarding Pricing", "Regarding Pricing", NULL },
	{ "Re Pricing", "Re Pricing", NULL },
	{ "Fwdx: Pricing", "Fwdx: Pricing", NULL },
	{ "[] Pricing", "[] Pricing", NULL },
	{ "RE: Ärger mit Öl", "Ärger mit Öl", "Ärger mit Öl" },
	{ "", "", "" },
};

static void
test_subject_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(subj_cases) / sizeof(*subj_cases); i++) {
		const struct subj_case *c = &subj_cases[i];
		size_t n = strlen(c->in);
		char *in = exact(c->in, n), out[256];
		size_t got = ident_subject_base(in, n, false, out, sizeof(out));

		if (strcmp(out, c->base) != 0)
			fail_msg("case %zu '%s': base '%s' want '%s'", i, c->in,
			    out, c->base);
		assert_int_equal(got, strlen(out));
		if (c->key != NULL) {
			ident_subject_base(in, n, true, out, sizeof(out));
			if (strcmp(out, c->key) != 0)
				fail_msg("case %zu '%s': key '%s' want '%s'",
				    i, c->in, out, c->key);
		}
		free(in);
	}
}

static void
test_subject_bounds(void **state)
{
	char out[8];
	size_t n;

	(void)state;
	/* cut on a character boundary: 7 bytes hold two 3-byte characters */
	n = ident_subject_base("Re: 报价单", strlen("Re: 报价单"), false, out,
	    sizeof(out));
	assert_int_equal(n, 6);
	assert_string_equal(out, "报价");
	/* many prefixes: terminates, strips them all */
	{
		char big[4000], o2[64];

		for (size_t i = 0; i + 4 <= sizeof(big); i += 4)
			memcpy(big + i, "Re: ", 4);
		n = ident_subject_base(big, sizeof(big), true, o2, sizeof(o2));
		assert_int_equal(n, 0);
	}
}

/* ---- phones ------------------------------------------------------------- */

struct phone_case {
	const char *in, *cc, *want;
};

static const struct phone_case phone_cases[] = {
	{ "+1 (415) 555-0100", NULL, "+14155550100" },
	{ "+1 415.555.0100 ext. 12", NULL, "+14155550100" },
	{ "+1-415-555-0100 x12", NULL, "+14155550100" },
	{ "(415) 555-0100", "1", "+14155550100" },
	{ "1-415-555-0100", "1", "+14155550100" },
	{ "011 44 20 7946 0018", "1", "+442079460018" },
	{ "+44 (0)20 7946 0018", NULL, "+442079460018" },
	{ "020 7946 0018", "44", "+442079460018" },
	{ "0049 30 1234567", NULL, "+49301234567" },
	{ "030 1234567", "49", "+49301234567" },
	{ "+49 (0) 30 / 123 45 67", NULL, "+49301234567" },
	{ "tel:+33-1-23-45-67-89", NULL, "+33123456789" },
	{ "+33 1 23 45 67 89;ext=5", NULL, "+33123456789" },
	{ "06 12 34 56 78", "33", "+33612345678" },
	{ "02 1234 5678", "39", "+390212345678" },	/* Italy keeps the 0 */
	{ "+81 3-1234-5678", NULL, "+81312345678" },
	{ "+86 138 0013 8000", NULL, "+8613800138000" },
	{ "+1 415 555 0100 #22", NULL, "+14155550100" },
	{ "+1 415 555 01", NULL, NULL },		/* NANP: 10 digits */
	{ "555-0100", "1", NULL },			/* too short */
	{ "(415) 555-0100", NULL, NULL },		/* no country */
	{ "+1 415 555 0100 0000 0000", NULL, NULL },	/* > 15 digits */
	{ "+0 123 456 789", NULL, NULL },
	{ "call me maybe", NULL, NULL },
	{ "", NULL, NULL },
	{ "+", NULL, NULL },
	{ "++1 415 555 0100", NULL, NULL },
};

static void
test_phone_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(phone_cases) / sizeof(*phone_cases);
	    i++) {
		const struct phone_case *c = &phone_cases[i];
		size_t n = strlen(c->in);
		char *in = exact(c->in, n), out[IDENT_PHONE_MAX + 1];
		const char *err = NULL;
		int rc = ident_phone_e164(in, n, c->cc, out, sizeof(out),
		    &err);

		if (c->want == NULL) {
			if (rc != -1)
				fail_msg("'%s': want error, got '%s'", c->in,
				    out);
			assert_non_null(err);
		} else {
			if (rc != 0)
				fail_msg("'%s': %s", c->in, err);
			assert_string_equal(out, c->want);
		}
		free(in);
	}
}

static void
test_title_table(void **state)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "Senior Account Executive", "Senior Account Executive" },
		{ "  Senior   Account Executive |  ", "Senior Account Executive" },
		{ "| VP, Sales |", "VP, Sales" },
		{ "\xe2\x80\x94 Head of Procurement \xe2\x80\x94",
		  "Head of Procurement" },
		{ "\xe2\x80\xa2 Einkaufsleiterin \xc2\xb7", "Einkaufsleiterin" },
		{ "Directeur\tCommercial\r\n", "Directeur Commercial" },
		{ "- CTO -", "CTO" },
		{ "jane@acme.example", "" },
		{ "Mobile: +1 415 555 0100", "" },
		{ "www.acme.example", "" },
		{ "https://acme.example/team", "" },
		{ "", "" },
		{ "|||", "" },
		{ "Head of EMEA 2026", "Head of EMEA 2026" },
	};
	char out[IDENT_TITLE_MAX + 1], small[7];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		size_t n = strlen(cases[i].in);
		char *in = exact(cases[i].in, n);
		size_t got = ident_title_clean(in, n, out, sizeof(out));

		if (strcmp(out, cases[i].want) != 0)
			fail_msg("'%s': got '%s' want '%s'", cases[i].in, out,
			    cases[i].want);
		assert_int_equal(got, strlen(out));
		free(in);
	}
	/* 6 bytes would end inside the 'ä': cut before it */
	assert_int_equal(ident_title_clean("Geschäftsführer", 17, small,
	    sizeof(small)), 5);
	assert_string_equal(small, "Gesch");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addr_table),
		cmocka_unit_test(test_addr_long),
		cmocka_unit_test(test_domain_table),
		cmocka_unit_test(test_name_table),
		cmocka_unit_test(test_name_bounds),
		cmocka_unit_test(test_list_table),
		cmocka_unit_test(test_list_limits),
		cmocka_unit_test_setup_teardown(test_psl_table, psl_setup,
		    psl_teardown),
		cmocka_unit_test(test_psl_load_errors),
		cmocka_unit_test(test_freemail),
		cmocka_unit_test(test_domset_parse),
		cmocka_unit_test(test_internal),
		cmocka_unit_test(test_auto_localpart),
		cmocka_unit_test(test_auto_headers),
		cmocka_unit_test(test_msgid_table),
		cmocka_unit_test(test_msgid_long),
		cmocka_unit_test(test_subject_table),
		cmocka_unit_test(test_subject_bounds),
		cmocka_unit_test(test_phone_table),
		cmocka_unit_test(test_title_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
