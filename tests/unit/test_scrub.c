/*
 * test_scrub.c - enrich/scrub: the HTML renderer (libgumbo) and the line
 * classifier, table-driven.  The corpus-level measurement is
 * tests/integration/scrub_eval.sh; these pin single behaviours, including
 * the conservative ones (text that must never be removed).
 *
 * Classifier cases are written as the expected label of each line ("N ",
 * "Q ", "S ", "D " then the line), like the corpus' .expect files.  Each
 * is also run with CRLF line ends, and every prefix of it is classified
 * (a truncated body) to check offsets stay inside the input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "enrich/mime/mime_int.h"
#include "enrich/scrub/scrub.h"
#include "lib/xmalloc.h"

/* ---- HTML ---- */

struct html_case {
	const char *name, *html, *want;
	unsigned trackers, hidden;
};

static const struct html_case html_cases[] = {
	{ "head, script, style dropped",
	  "<html><head><title>T</title><style>p{}</style></head><body>"
	  "<script>alert(1)</script><p>Hello</p></body></html>",
	  "Hello", 0, 0 },
	{ "paragraphs and breaks",
	  "<p>one</p><p>two<br>three</p>", "one\n\ntwo\nthree", 0, 0 },
	{ "white space collapses, nbsp is a space",
	  "<div>  a \n\t b&nbsp;&nbsp;c\xe2\x80\xaf" "d </div>", "a b c d", 0, 0 },
	{ "entities", "<div>&lt;x&gt; &amp; &eacute;&#8364;</div>",
	  "<x> & é€", 0, 0 },
	{ "lists",
	  "<ul><li>apple</li><li>pear</li></ul><ol><li>first</li>"
	  "<li>second</li></ol>", "- apple\n- pear\n1. first\n2. second",
	  0, 0 },
	{ "links: URL only when it says more",
	  "<a href=\"https://acme.example/pricing\">our pricing</a> "
	  "<a href=\"https://www.acme.example/\">www.acme.example</a> "
	  "<a href=\"mailto:j@acme.example\">Jane</a>",
	  "our pricing <https://acme.example/pricing> www.acme.example Jane",
	  0, 0 },
	{ "blockquote becomes '>' lines",
	  "<div>new</div><blockquote><div>old</div><blockquote>"
	  "<div>older</div></blockquote></blockquote>",
	  "new\n> old\n> > older", 0, 0 },
	{ "hidden elements",
	  "<div style=\"display: none\">preheader</div>"
	  "<span style=\"visibility:hidden\">x</span>"
	  "<div hidden>h</div><div style=\"font-size:0\">zero</div>"
	  "<div style=\"mso-hide:all\">m</div><p>shown</p>",
	  "shown", 0, 5 },
	{ "tracking pixels and images",
	  "<p>text</p><img src=\"https://t.example/open?id=1\" width=\"1\" "
	  "height=\"1\"><img src=\"https://list-manage.com/track/open.php\">"
	  "<img src=\"cid:logo\" alt=\"Logo\" width=\"120\">",
	  "text", 2, 0 },
	{ "outlook empty paragraphs",
	  "<p class=MsoNormal>a<o:p></o:p></p><p class=MsoNormal>"
	  "<o:p>&nbsp;</o:p></p><p class=MsoNormal>b<o:p></o:p></p>",
	  "a\n\nb", 0, 0 },
	{ "table cells on one line",
	  "<table><tr><td>Jane Doe</td><td>Sales</td></tr>"
	  "<tr><td>+1 555 0100</td></tr></table>",
	  "Jane Doe Sales\n+1 555 0100", 0, 0 },
	{ "pre keeps its lines", "<pre>a  b\n  c</pre>", "a  b\n  c", 0, 0 },
	{ "broken markup", "<div><p>unclosed <b>bold <i>both</div>x</p>",
	  "unclosed bold both\n\nx", 0, 0 },
	{ "empty", "", "", 0, 0 },
};

static void
test_html(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(html_cases) / sizeof(html_cases[0]);
	    i++) {
		const struct html_case *c = &html_cases[i];
		struct scrub_html_stats st;
		size_t n;
		char *t;

		print_message("case: %s\n", c->name);
		t = scrub_html_to_text(c->html, strlen(c->html), NULL, &n, &st);
		assert_string_equal(t, c->want);
		assert_int_equal(n, strlen(c->want));
		assert_int_equal(st.trackers, c->trackers);
		assert_int_equal(st.hidden, c->hidden);
		free(t);
	}
}

static void
test_html_limits(void **state)
{
	struct scrub_limits l;
	struct scrub_html_stats st;
	struct mbuf b;
	size_t n;
	char *html, *t;

	(void)state;
	/* 20000 nested divs: cut before the parser, no deep recursion */
	mbuf_init(&b, 1 << 20);
	for (int i = 0; i < 20000; i++)
		mbuf_add(&b, "<div>", 5);
	mbuf_add(&b, "deep", 4);
	html = mbuf_finish(&b, &n);
	t = scrub_html_to_text(html, n, NULL, &n, &st);
	assert_true(st.truncated);
	free(t);
	free(html);
	/* output limit */
	scrub_limits_default(&l);
	l.max_text = 10;
	t = scrub_html_to_text("<p>0123456789abcdef</p>", 23, &l, &n, &st);
	assert_true(n <= 10);
	assert_true(st.truncated);
	free(t);
	/* NULL input */
	t = scrub_html_to_text(NULL, 5, NULL, &n, NULL);
	assert_string_equal(t, "");
	free(t);
}

/* ---- classifier ---- */

struct text_case {
	const char *name;
	const char *lines;	/* "T text\n" per line */
};

static const struct text_case text_cases[] = {
	{ "gmail top reply",
	  "N Hi Tom,\n"
	  "N\n"
	  "N Price is $42 per seat.\n"
	  "N\n"
	  "S Best,\n"
	  "S Jane\n"
	  "Q\n"
	  "Q On Mon, Nov 2, 2026 at 4:12 PM Tom <tom@x.example> wrote:\n"
	  "Q\n"
	  "Q > What is the price?\n" },
	{ "content lines starting with On stay",
	  "N On Tuesday we ship.\n"
	  "N On Friday we review.\n" },
	{ "itinerary is not a reply header",
	  "N From: London\n"
	  "N To: Berlin\n"
	  "N Date: Monday\n" },
	{ "outlook header block cuts the rest",
	  "N Done.\n"
	  "Q\n"
	  "Q From: Tom <tom@x.example>\n"
	  "Q Sent: Monday, November 2, 2026 4:12 PM\n"
	  "Q To: Jane\n"
	  "Q Subject: RE: x\n"
	  "Q\n"
	  "Q unprefixed original\n" },
	{ "german outlook block with bold markers",
	  "N Erledigt.\n"
	  "Q *Von:* Tom\n"
	  "Q *Gesendet:* Montag, 2. November 2026 16:12\n"
	  "Q *An:* Jane\n"
	  "Q *Betreff:* AW: x\n" },
	{ "original message separator",
	  "N ok\n"
	  "Q -----Original Message-----\n"
	  "Q anything\n" },
	{ "inline reply keeps answers",
	  "Q On 11/6/26 3:10 PM, Jane Doe wrote:\n"
	  "Q > question one?\n"
	  "N answer one\n"
	  "Q > question two?\n"
	  "N answer two\n" },
	{ "dash-dash signature with sign-off above",
	  "N text\n"
	  "N\n"
	  "S Thanks,\n"
	  "S Priya\n"
	  "S --\n"
	  "S Priya Raman\n" },
	{ "mobile line",
	  "N yes\n"
	  "N\n"
	  "S Sent from my iPhone\n" },
	{ "disclaimer after signature",
	  "N text\n"
	  "N\n"
	  "S Regards,\n"
	  "S Ian\n"
	  "S\n"
	  "D This email is confidential. If you are not the intended\n"
	  "D recipient, please notify the sender and delete it.\n" },
	{ "a lone sign-off is kept",
	  "N Thanks!\n" },
	{ "sign-off words inside sentences stay",
	  "N Thanks, that works for me.\n"
	  "N Best option is B.\n"
	  "N With regards to the plan, yes.\n" },
	{ "one-word answer at the end is not a name",
	  "N Hi Tom,\n"
	  "N\n"
	  "N Approved\n" },
	{ "P.S. after the signature stays",
	  "N text\n"
	  "N\n"
	  "S Best,\n"
	  "S Jane\n"
	  "N\n"
	  "N P.S. one more thing\n" },
	{ "contact block without sign-off",
	  "N The SOW is attached.\n"
	  "N\n"
	  "S Fatima Zahra\n"
	  "S Engagement Manager\n"
	  "S M: +1 312 555 0147\n" },
	{ "names list without contact details stays",
	  "N Attendees:\n"
	  "N\n"
	  "N Jane Doe\n"
	  "N Paul Grant\n" },
	{ "long text after a sign-off word: no signature",
	  "N Cheers,\n"
	  "N this line is a real paragraph of content that goes on and on "
	  "and on for well over one hundred characters in total length.\n" },
	{ "forward separator, other languages",
	  "N voir ci-dessous\n"
	  "Q -------- Message transféré --------\n"
	  "Q Sujet : x\n" },
	{ "apple forward",
	  "N fyi\n"
	  "Q Begin forwarded message:\n"
	  "Q From: a\n" },
	{ "empty", "" },
};

static enum scrub_kind
kind_of(char t)
{
	switch (t) {
	case 'Q': return SCRUB_QUOTED;
	case 'S': return SCRUB_SIGNATURE;
	case 'D': return SCRUB_DISCLAIMER;
	default: return SCRUB_BODY;
	}
}

static void
run_text_case(const struct text_case *c, bool crlf)
{
	struct mbuf b;
	enum scrub_kind want[64];
	bool blank[64];
	size_t nl = 0, len;
	const char *p = c->lines;
	struct scrub_result r;
	char *text;

	mbuf_init(&b, 1 << 16);
	while (*p) {
		const char *e = strchr(p, '\n');
		const char *t = p[1] == ' ' ? p + 2 : p + 1;

		want[nl] = kind_of(p[0]);
		blank[nl] = t == e;
		nl++;
		mbuf_add(&b, t, (size_t)(e - t));
		mbuf_add(&b, crlf ? "\r\n" : "\n", crlf ? 2 : 1);
		p = e + 1;
	}
	text = mbuf_finish(&b, &len);
	scrub_text(text, len, NULL, &r);
	assert_int_equal(r.n_lines, nl);
	for (size_t i = 0; i < nl; i++) {
		if (blank[i])
			continue;	/* empty lines are not scored */
		if (r.lines[i].kind != want[i])
			print_message("line %zu: got %s want %s: %.*s\n", i,
			    scrub_kind_name(r.lines[i].kind),
			    scrub_kind_name(want[i]), (int)r.lines[i].len,
			    text + r.lines[i].off);
		assert_int_equal(r.lines[i].kind, want[i]);
		assert_true(r.lines[i].off + r.lines[i].len <= len);
	}
	scrub_result_free(&r);
	/* every prefix: offsets stay inside */
	for (size_t n = 0; n <= len; n++) {
		char *cut = xstrndup(text, n);

		scrub_text(cut, n, NULL, &r);
		for (size_t i = 0; i < r.n_lines; i++)
			assert_true(r.lines[i].off + r.lines[i].len <= n);
		scrub_result_free(&r);
		free(cut);
	}
	free(text);
}

static void
test_classify(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(text_cases) / sizeof(text_cases[0]);
	    i++) {
		print_message("case: %s\n", text_cases[i].name);
		run_text_case(&text_cases[i], false);
		run_text_case(&text_cases[i], true);
	}
}

static void
test_fields(void **state)
{
	struct scrub_result r;
	const char *t =
	    "Hi Ana,\n\nSigned copy attached.\n\nKind regards,\nRobert Chen\n"
	    "Account Director | Fabrikam, Inc.\nDirect: +1 206 555 0173\n"
	    "rchen@fabrikam.example\n\n"
	    "From: Ana <ana@x.example>\nSent: Tuesday\nTo: Robert\n"
	    "Subject: Renewal\n\nAny update?\n";

	(void)state;
	scrub_text(t, strlen(t), NULL, &r);
	assert_string_equal(r.body, "Hi Ana,\n\nSigned copy attached.");
	assert_string_equal(r.signature, "Kind regards,\nRobert Chen\n"
	    "Account Director | Fabrikam, Inc.\nDirect: +1 206 555 0173\n"
	    "rchen@fabrikam.example");
	assert_string_equal(r.disclaimer, "");
	assert_non_null(strstr(r.quoted, "Any update?"));
	assert_string_equal(r.sig.name, "Robert Chen");
	assert_string_equal(r.sig.title, "Account Director");
	assert_string_equal(r.sig.company, "Fabrikam, Inc.");
	assert_string_equal(r.sig.phone, "+1 206 555 0173");
	assert_string_equal(r.sig.email, "rchen@fabrikam.example");
	scrub_result_free(&r);
	scrub_result_free(&r);

	t = "Danke.\n\nMit freundlichen Grüßen\n\nMarkus Weber\n"
	    "Leiter Disposition\nKraft Logistik GmbH\nTel.: +49 89 1234 5678\n";
	scrub_text(t, strlen(t), NULL, &r);
	assert_string_equal(r.sig.name, "Markus Weber");
	assert_string_equal(r.sig.title, "Leiter Disposition");
	assert_string_equal(r.sig.company, "Kraft Logistik GmbH");
	assert_string_equal(r.sig.phone, "+49 89 1234 5678");
	scrub_result_free(&r);

	/* one-line signature; the first name gives way to the full name */
	t = "Looping in Mark.\n\nThanks,\nLaura\n\n"
	    "Laura Kim | VP Operations | Wingtip Toys\n";
	scrub_text(t, strlen(t), NULL, &r);
	assert_string_equal(r.sig.name, "Laura Kim");
	assert_string_equal(r.sig.title, "VP Operations");
	assert_string_equal(r.sig.company, "Wingtip Toys");
	assert_null(r.sig.phone);
	scrub_result_free(&r);
}

static void
test_text_limits(void **state)
{
	struct scrub_limits l;
	struct scrub_result r;
	struct mbuf b;
	size_t len;
	char *t;

	(void)state;
	scrub_limits_default(&l);
	l.max_lines = 10;
	mbuf_init(&b, 1 << 16);
	static const char head[] = "new words\n\n-----Original Message-----\n";
	static const char old[] = "old thread line\n", deep[] = "> deep quote\n";
	mbuf_add(&b, head, strlen(head));
	for (int i = 0; i < 30; i++)
		mbuf_add(&b, old, strlen(old));
	mbuf_add(&b, deep, strlen(deep));
	t = mbuf_finish(&b, &len);
	scrub_text(t, len, &l, &r);
	assert_int_equal(r.n_lines, 34);
	assert_int_equal(r.lines[0].kind, SCRUB_BODY);
	/* the quote found in the first ten lines runs past them */
	for (size_t i = 2; i < r.n_lines; i++)
		assert_int_equal(r.lines[i].kind, SCRUB_QUOTED);
	assert_string_equal(r.body, "new words");
	scrub_result_free(&r);
	free(t);
}

/* Quote containers in the markup work in any language. */
static void
test_html_quote_hint(void **state)
{
	struct scrub_result r;
	char *t;
	static const char outlook[] =
	    "<div>Dzi\xc4\x99ki, wy\xc5\x9bl\xc4\x99 jutro.</div>"
	    "<div id=\"appendonsend\"></div><hr>"
	    "<div id=\"divRplyFwdMsg\"><b>Od:</b> Jan<br><b>Wys\xc5\x82"
	    "ane:</b> pon.<br><b>Do:</b> Jane<br><b>Temat:</b> x</div>"
	    "<div>orygina\xc5\x82</div>";
	static const char gmail[] =
	    "<div dir=\"ltr\">Tak, pasuje.</div><br><div class=\"gmail_quote"
	    "\"><div class=\"gmail_attr\">pon., 2 lis 2026 o 16:12 Jan "
	    "&lt;jan@x.example&gt; napisa\xc5\x82(a):<br></div>"
	    "<blockquote class=\"gmail_quote\">Czy pasuje?</blockquote></div>";
	static const char none[] =
	    "<div>Gmail quote here: not a container</div><p>more</p>";

	(void)state;
	scrub_message(NULL, 0, outlook, strlen(outlook), NULL, &t, &r);
	assert_string_equal(r.body, "Dzięki, wyślę jutro.");
	assert_non_null(strstr(r.quoted, "Od: Jan"));
	assert_non_null(strstr(r.quoted, "oryginał"));
	assert_non_null(strstr(r.quoted, "---"));
	free(t);
	scrub_result_free(&r);
	/* gmail_quote is no cut (inline answers live inside it): the
	 * blockquote is quoted, an attribution in an unknown language
	 * stays, the conservative way */
	scrub_message(NULL, 0, gmail, strlen(gmail), NULL, &t, &r);
	assert_non_null(strstr(r.body, "Tak, pasuje."));
	assert_non_null(strstr(r.body, "napisał(a):"));
	assert_string_equal(r.quoted, "> Czy pasuje?");
	free(t);
	scrub_result_free(&r);
	scrub_message(NULL, 0, none, strlen(none), NULL, &t, &r);
	assert_string_equal(r.quoted, "");
	free(t);
	scrub_result_free(&r);
}

static void
test_message_policy(void **state)
{
	struct scrub_result r;
	char *t;

	(void)state;
	/* text/plain wins when it has content */
	scrub_message("plain\n", 6, "<p>html</p>", 11, NULL, &t, &r);
	assert_string_equal(t, "plain\n");
	assert_string_equal(r.body, "plain");
	free(t);
	scrub_result_free(&r);
	/* blank text/plain: the HTML is used */
	scrub_message(" \n", 2, "<p>html</p><blockquote>old</blockquote>",
	    39, NULL, &t, &r);
	assert_string_equal(r.body, "html");
	assert_string_equal(r.quoted, "> old");
	free(t);
	scrub_result_free(&r);
	scrub_message(NULL, 0, NULL, 0, NULL, &t, &r);
	assert_string_equal(r.body, "");
	assert_int_equal(r.n_lines, 0);
	free(t);
	scrub_result_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_html),
		cmocka_unit_test(test_html_limits),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_text_limits),
		cmocka_unit_test(test_html_quote_hint),
		cmocka_unit_test(test_message_policy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
