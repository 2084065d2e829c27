/*
 * test_smtp_parse.c - table-driven tests of proxy/smtp_parse.c.  Every
 * case is fed whole, one byte at a time and in random splits, the way an
 * evbuffer hands data over (unconsumed bytes stay and come again with the
 * next arrival), and must give the same transcript each way.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/smtp_parse.h"

struct transcript {
	char buf[16384];
	size_t len;
	char data[8192];	/* message bytes not yet written out */
	size_t data_len;
};

static void
tr_add(struct transcript *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void
tr_add(struct transcript *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(t->buf + t->len, sizeof(t->buf) - t->len, fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < sizeof(t->buf) - t->len);
	t->len += (size_t)n;
}

static void
tr_flush_data(struct transcript *t, const char *label)
{
	if (t->data_len == 0)
		return;
	tr_add(t, "%s ", label);
	for (size_t i = 0; i < t->data_len; i++) {
		char c = t->data[i];

		if (c == '\r')
			tr_add(t, "\\r");
		else if (c == '\n')
			tr_add(t, "\\n");
		else
			tr_add(t, "%c", c);
	}
	tr_add(t, "\n");
	t->data_len = 0;
}

/* A split schedule: how many new bytes arrive each time. */
typedef size_t split_fn(size_t total, unsigned *seed);

static size_t
split_whole(size_t total, unsigned *seed)
{
	(void)seed;
	return total;
}

static size_t
split_bytes(size_t total, unsigned *seed)
{
	(void)total;
	(void)seed;
	return 1;
}

static size_t
split_random(size_t total, unsigned *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return 1 + (*seed >> 16) % (total < 13 ? total : 13);
}

/*
 * The client driver plays the server's part: DATA is answered 354, AUTH
 * without an initial response gets one SASL line.
 */
static void
run_client(const char *in, size_t len, split_fn *split, unsigned seed,
    struct transcript *t)
{
	struct smtp_client_parser *p = malloc(sizeof(*p));
	size_t pos = 0, avail = 0;
	bool sasl_once = false;

	assert_non_null(p);
	memset(t, 0, sizeof(*t));
	smtp_client_init(p, 64);
	for (enum smtp_parse_result r = SMTP_PARSE_AGAIN;;) {
		const char *err = NULL;
		size_t used = 12345678;

		if (r == SMTP_PARSE_AGAIN) {
			if (avail == len)
				break;
			avail += split(len, &seed);
			if (avail > len)
				avail = len;
		}
		r = smtp_client_feed(p, (const unsigned char *)in + pos,
		    avail - pos, &used, &err);
		assert_true(used <= avail - pos);
		if (p->data_len > 0) {
			assert_true(p->data >= (const unsigned char *)in +
			    pos && p->data + p->data_len <=
			    (const unsigned char *)in + pos + used + 1);
			assert_true(t->data_len + p->data_len <=
			    sizeof(t->data));
			memcpy(t->data + t->data_len, p->data, p->data_len);
			t->data_len += p->data_len;
		}
		pos += used;
		switch (r) {
		case SMTP_PARSE_AGAIN:
			/* Only a trailing CR may be left over. */
			assert_true(avail - pos <= 1);
			break;
		case SMTP_PARSE_LINE:
			tr_flush_data(t, "D");
			if (p->sasl_line) {
				tr_add(t, "S %s\n", p->line);
				if (sasl_once) {
					smtp_client_set_mode(p,
					    SMTP_MODE_COMMAND);
					sasl_once = false;
				}
				break;
			}
			tr_add(t, "L %s %s", smtp_cmd_name(p->cmd), p->arg);
			if (p->cmd == SMTP_CMD_BDAT && p->bdat_ok)
				tr_add(t, " [%llu%s]",
				    (unsigned long long)p->bdat_size,
				    p->bdat_last ? " last" : "");
			else if (p->cmd == SMTP_CMD_BDAT)
				tr_add(t, " [bad]");
			tr_add(t, "\n");
			if (p->cmd == SMTP_CMD_DATA)
				smtp_client_set_mode(p, SMTP_MODE_DATA);
			if (p->cmd == SMTP_CMD_AUTH &&
			    memchr(p->arg, ' ', p->arg_len) == NULL) {
				smtp_client_set_mode(p, SMTP_MODE_SASL);
				sasl_once = true;
			}
			break;
		case SMTP_PARSE_DATA:
			break;
		case SMTP_PARSE_DATA_END:
			tr_flush_data(t, "D");
			tr_add(t, "E\n");
			break;
		case SMTP_PARSE_CHUNK_END:
			tr_flush_data(t, "C");
			tr_add(t, "C.\n");
			break;
		case SMTP_PARSE_ERROR:
			tr_flush_data(t, "D");
			tr_add(t, "X %s\n", err);
			goto out;
		}
	}
out:
	tr_flush_data(t, "P");
	free(p);
}

struct client_case {
	const char *name;
	const char *in;
	size_t len;
	const char *want;
};

#define IN(s) s, sizeof(s) - 1

static const struct client_case client_cases[] = {
	{ "session",
	  IN("EHLO x\r\nMAIL FROM:<a@b> SIZE=10\r\nRCPT TO:<c@d>\r\n"
	     "DATA\r\nSubject: hi\r\n\r\n..dot\r\n.\r\nQUIT\r\n"),
	  "L EHLO x\nL MAIL FROM:<a@b> SIZE=10\nL RCPT TO:<c@d>\nL DATA \n"
	  "D Subject: hi\\r\\n\\r\\n.dot\\r\\n\nE\nL QUIT \n" },
	{ "empty message", IN("DATA\r\n.\r\nRSET\r\n"),
	  "L DATA \nE\nL RSET \n" },
	{ "empty line message", IN("DATA\r\n\r\n.\r\n"),
	  "L DATA \nD \\r\\n\nE\n" },
	{ "stuffing", IN("DATA\r\n.x\r\n...\r\n. \r\n.\r\n"),
	  "L DATA \nD x\\r\\n..\\r\\n \\r\\n\nE\n" },
	{ "dot inside line", IN("DATA\r\na.\r\nb\r\n.\r\n"),
	  "L DATA \nD a.\\r\\nb\\r\\n\nE\n" },
	{ "bare LF in data", IN("DATA\r\nabc\n.\r\nMAIL FROM:<e>\r\n"),
	  "L DATA \nD abc\nX bare LF in message data\n" },
	{ "LF dot LF", IN("DATA\r\nabc\r\n.\nRCPT TO:<e>\r\n"),
	  "L DATA \nD abc\\r\\n\nX bare LF in message data\n" },
	{ "LF dot CRLF", IN("DATA\r\nabc\n.\r\n"),
	  "L DATA \nD abc\nX bare LF in message data\n" },
	{ "bare CR in data", IN("DATA\r\nabc\r.\r\n"),
	  "L DATA \nD abc\nX bare CR in message data\n" },
	{ "CR dot CR", IN("DATA\r\nabc\r\n.\rQUIT\r\n"),
	  "L DATA \nD abc\\r\\n\nX bare CR in message data\n" },
	{ "CR CR LF", IN("DATA\r\nabc\r\r\n.\r\n"),
	  "L DATA \nD abc\nX bare CR in message data\n" },
	{ "bare LF command", IN("NOOP\nRSET\r\n"),
	  "X bare LF in a command line\n" },
	{ "bare CR command", IN("NOOP\rRSET\r\n"),
	  "X bare CR in a command line\n" },
	{ "long line",
	  IN("NOOP 0123456789012345678901234567890123456789"
	     "0123456789012345678901234567890\r\n"),
	  "X line too long\n" },
	{ "line at the limit",
	  IN("NOOP 01234567890123456789012345678901234567890123456789"
	     "012345678\r\n"),
	  "L NOOP 01234567890123456789012345678901234567890123456789"
	  "012345678\n" },
	{ "bdat", IN("BDAT 5\r\nab\r\n.BDAT 0 LAST\r\nQUIT\r\n"),
	  "L BDAT 5 [5]\nC ab\\r\\n.\nC.\nL BDAT 0 LAST [0 last]\nC.\n"
	  "L QUIT \n" },
	{ "bdat crlf dot crlf inside", IN("bdat 5 last\r\n\r\n.\r\nRSET\r\n"),
	  "L BDAT 5 last [5 last]\nC \\r\\n.\\r\\n\nC.\nL RSET \n" },
	{ "bdat bad", IN("BDAT 5x\r\nBDAT -1\r\nBDAT 5 LASTX\r\nBDAT\r\n"),
	  "L BDAT 5x [bad]\nL BDAT -1 [bad]\nL BDAT 5 LASTX [bad]\n"
	  "L BDAT  [bad]\n" },
	{ "bdat overflow", IN("BDAT 99999999999999999999999\r\n"),
	  "L BDAT 99999999999999999999999 [bad]\n" },
	{ "auth sasl", IN("AUTH LOGIN\r\nDATA\r\nRSET\r\n"),
	  "L AUTH LOGIN\nS DATA\nL RSET \n" },
	{ "auth ir", IN("AUTH PLAIN AGEAYg==\r\nNOOP\r\n"),
	  "L AUTH PLAIN AGEAYg==\nL NOOP \n" },
	{ "unknown", IN("XCLIENT ADDR=1\r\n\r\n"),
	  "L (unknown) ADDR=1\nL (empty) \n" },
	{ "trailing CR", IN("NOOP\r"), "" },
};

static void
test_client_cases(void **state)
{
	static split_fn *const splits[] = { split_whole, split_bytes,
	    split_random };

	(void)state;
	for (size_t i = 0; i < sizeof(client_cases) / sizeof(client_cases[0]);
	    i++) {
		const struct client_case *c = &client_cases[i];

		for (size_t s = 0; s < 3; s++) {
			for (unsigned seed = 1; seed < (s == 2 ? 40u : 2u);
			    seed++) {
				struct transcript t;

				run_client(c->in, c->len, splits[s], seed, &t);
				if (strcmp(t.buf, c->want) != 0)
					fail_msg("%s (split %zu seed %u):\n"
					    "got:\n%s\nwant:\n%s", c->name, s,
					    seed, t.buf, c->want);
			}
		}
	}
}

/* The bytes before an ERROR never hold anything a lenient server could
 * take for an end of data: no "\n.\r\n", "\n.\n", "\r.\r" ... */
static void
test_no_end_before_error(void **state)
{
	unsigned seed = 7;

	(void)state;
	for (int round = 0; round < 20000; round++) {
		static const char alpha[] = "\r\n.a";
		char in[24];
		struct smtp_client_parser p;
		size_t used = 0, off = 0;
		const char *err;
		enum smtp_parse_result r;

		for (size_t i = 0; i < sizeof(in); i++) {
			seed = seed * 1103515245u + 12345u;
			in[i] = alpha[(seed >> 16) % 4];
		}
		smtp_client_init(&p, 0);
		smtp_client_set_mode(&p, SMTP_MODE_DATA);
		do {
			r = smtp_client_feed(&p, (unsigned char *)in + off,
			    sizeof(in) - off, &used, &err);
			off += used;
		} while (r == SMTP_PARSE_DATA);
		if (r != SMTP_PARSE_ERROR)
			continue;
		/* Consumed prefix (with the message's implicit leading
		 * line start): no LF or CR other than in CRLF pairs. */
		for (size_t i = 0; i < off; i++) {
			if (in[i] == '\n')
				assert_true(i > 0 && in[i - 1] == '\r');
			if (in[i] == '\r')
				assert_true(i + 1 < off && in[i + 1] == '\n');
		}
	}
}

static void
run_server(const char *in, size_t len, split_fn *split, unsigned seed,
    struct transcript *t)
{
	struct smtp_server_parser p;
	size_t pos = 0, avail = 0;

	memset(t, 0, sizeof(*t));
	smtp_server_init(&p);
	while (pos < len) {
		enum smtp_parse_result r;
		const char *err = NULL;
		size_t used;
		size_t n = split(len, &seed);

		avail = avail + n > len ? len : avail + n;
		while (pos < avail) {
			r = smtp_server_feed(&p, (const unsigned char *)in +
			    pos, avail - pos, &used, &err);
			pos += used;
			if (r == SMTP_PARSE_ERROR) {
				tr_add(t, "X %s\n", err);
				return;
			}
			if (r == SMTP_PARSE_LINE)
				tr_add(t, "R %u %s %.*s kw=%zu\n", p.code,
				    p.last ? "last" : "more", (int)p.text_len,
				    p.text, smtp_ehlo_keyword(p.text,
				    p.text_len));
		}
	}
}

static const struct client_case server_cases[] = {
	{ "ehlo",
	  IN("250-mx.example\r\n250-SIZE 1000\r\n250-AUTH=PLAIN\r\n"
	     "250 CHUNKING\r\n"),
	  "R 250 more mx.example kw=10\nR 250 more SIZE 1000 kw=4\n"
	  "R 250 more AUTH=PLAIN kw=4\nR 250 last CHUNKING kw=8\n" },
	{ "bare code", IN("354\r\n221 2.0.0 bye\r\n"),
	  "R 354 last  kw=0\nR 221 last 2.0.0 bye kw=5\n" },
	{ "no code", IN("25\r\n"), "X reply line without a code\n" },
	{ "bad code", IN("650 x\r\n"), "X reply line without a code\n" },
	{ "bad sep", IN("250x\r\n"), "X reply line without a code\n" },
	{ "bare LF", IN("250 ok\n"), "X bare LF in a reply\n" },
	{ "bare CR", IN("250 ok\rx"), "X bare CR in a reply\n" },
};

static void
test_server_cases(void **state)
{
	static split_fn *const splits[] = { split_whole, split_bytes,
	    split_random };

	(void)state;
	for (size_t i = 0; i < sizeof(server_cases) / sizeof(server_cases[0]);
	    i++) {
		const struct client_case *c = &server_cases[i];

		for (size_t s = 0; s < 3; s++) {
			for (unsigned seed = 1; seed < (s == 2 ? 20u : 2u);
			    seed++) {
				struct transcript t;

				run_server(c->in, c->len, splits[s], seed, &t);
				if (strcmp(t.buf, c->want) != 0)
					fail_msg("%s (split %zu):\ngot:\n%s\n"
					    "want:\n%s", c->name, s, t.buf,
					    c->want);
			}
		}
	}
}

static void
test_path(void **state)
{
	static const struct {
		const char *arg, *prefix, *want;
	} cases[] = {
		{ "FROM:<a@b> SIZE=1", "FROM:", "a@b" },
		{ "from: <a@b>", "FROM:", "a@b" },
		{ "FROM:<>", "FROM:", "" },
		{ "TO:<\"x>y\"@b> NOTIFY=NEVER", "TO:", "\"x>y\"@b" },
		{ "TO:<\"x\\\">\"@b>", "TO:", "\"x\\\">\"@b" },
		{ "TO:a@b", "TO:", NULL },
		{ "TO:<a@b", "TO:", NULL },
		{ "FROM:<a@b>", "TO:", NULL },
		{ "", "TO:", NULL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *path = NULL;
		size_t n = 0;
		bool ok = smtp_path(cases[i].arg, strlen(cases[i].arg),
		    cases[i].prefix, &path, &n);

		if (cases[i].want == NULL) {
			assert_false(ok);
			continue;
		}
		assert_true(ok);
		assert_int_equal(n, strlen(cases[i].want));
		assert_memory_equal(path, cases[i].want, n);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_cases),
		cmocka_unit_test(test_no_end_before_error),
		cmocka_unit_test(test_server_cases),
		cmocka_unit_test(test_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
