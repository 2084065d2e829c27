/*
 * test_imap_parse.c - table-driven tests of proxy/imap_parse.c.
 *
 * Each case is a byte stream and the transcript the parser must produce:
 * one line per LINE / LITERAL / ERROR event, then the final mode.  Every
 * stream is fed whole, one byte at a time and in 32 seeded random splits;
 * all must give the same transcript.
 *
 * In client streams "\001+" marks where the server's "+" reaches the
 * parser (imap_parser_server_continuation) and "\001Ttag\001" a tagged
 * reply for tag (imap_parser_server_tagged).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/imap_parse.h"

#define TRANSCRIPT_MAX 8192

struct imap_case {
	const char *name;
	enum imap_dir dir;
	size_t line_max;
	const char *in;
	size_t in_len;		/* 0: strlen(in) */
	const char *want;
};

struct transcript {
	char buf[TRANSCRIPT_MAX];
	size_t len;
};

static void __attribute__((format(printf, 2, 3)))
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

static const char *const kind_names[] = {
	[IMAP_LINE_NONE] = "NONE",
	[IMAP_LINE_COMMAND] = "CMD",
	[IMAP_LINE_DONE] = "DONE",
	[IMAP_LINE_SASL] = "SASL",
	[IMAP_LINE_TAGGED] = "TAG",
	[IMAP_LINE_UNTAGGED] = "UNT",
	[IMAP_LINE_CONTINUATION] = "CONT",
};

static void
tr_line(struct transcript *t, const struct imap_parser *p)
{
	const struct imap_line *l = &p->line;

	tr_add(t, "%s", kind_names[l->kind]);
	if (l->tag[0] != '\0')
		tr_add(t, " tag=%s", l->tag);
	if (l->tag_too_long)
		tr_add(t, " tag~");
	if (l->name[0] != '\0')
		tr_add(t, " name=%s", l->name);
	if (l->has_number)
		tr_add(t, " num=%u", l->number);
	if (l->code[0] != '\0')
		tr_add(t, " code=%s", l->code);
	if (l->has_arg1)
		tr_add(t, " arg1%s=%zu:%s", l->arg1_truncated ? "~" : "",
		    l->arg1_len, l->arg1);
	if (l->literals > 0)
		tr_add(t, " lits=%u", l->literals);
	if (l->fetch.has_uid)
		tr_add(t, " uid=%u", l->fetch.uid);
	if (l->fetch.has_size)
		tr_add(t, " size=%llu",
		    (unsigned long long)l->fetch.rfc822_size);
	if (l->fetch.has_flags)
		tr_add(t, " flags=%s", l->fetch.flags);
	if (l->fetch.has_internaldate)
		tr_add(t, " date=%s", l->fetch.internaldate);
	if (imap_parser_mode(p) != IMAP_MODE_COMMAND)
		tr_add(t, " [%s]", imap_client_mode_name(imap_parser_mode(p)));
	tr_add(t, "\n");
}

/* Feeds one chunk completely, recording events. */
static void
feed_chunk(struct imap_parser *p, struct transcript *t,
    const unsigned char *d, size_t len)
{
	while (len > 0) {
		enum imap_parse_result r;
		const char *err = NULL;
		size_t used = 99999999;
		uint64_t left = imap_parser_literal_left(p);

		r = imap_parser_feed(p, d, len, &used, &err);
		assert_true(used <= len);
		assert_true(used > 0);
		assert_true(imap_parser_literal_left(p) <= left ||
		    r == IMAP_PARSE_LITERAL);
		switch (r) {
		case IMAP_PARSE_AGAIN:
			assert_int_equal(used, len);
			break;
		case IMAP_PARSE_BLIND:
			assert_int_equal(used, len);
			assert_true(imap_parser_blind(p));
			break;
		case IMAP_PARSE_LINE:
			tr_line(t, p);
			break;
		case IMAP_PARSE_LITERAL:
			tr_add(t, "LIT %llu%s%s",
			    (unsigned long long)imap_parser_literal_size(p),
			    imap_parser_literal_nonsync(p) ? "+" : "",
			    imap_parser_literal_binary(p) ? " bin" : "");
			if (imap_parser_literal_section(p)[0] != '\0')
				tr_add(t, " sec=%s",
				    imap_parser_literal_section(p));
			if (imap_parser_mode(p) != IMAP_MODE_COMMAND)
				tr_add(t, " [%s]", imap_client_mode_name(
				    imap_parser_mode(p)));
			tr_add(t, "\n");
			break;
		case IMAP_PARSE_ERROR:
			assert_non_null(err);
			assert_true(imap_parser_blind(p));
			tr_add(t, "ERR %s\n", err);
			break;
		}
		d += used;
		len -= used;
	}
}

static uint32_t
rng_next(uint32_t *s)
{
	/* xorshift32: deterministic splits on every platform */
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* split: 0 whole, 1 bytewise, else the seed of a random split.  skip:
 * literal data the parser need not see is skipped instead of fed, as the
 * relay's splice path does; the transcript must not change. */
static void
run_stream(const struct imap_case *c, uint32_t split, bool skip,
    struct transcript *t)
{
	const unsigned char *in = (const unsigned char *)c->in;
	size_t len = c->in_len != 0 ? c->in_len : strlen(c->in);
	struct imap_parser p;
	size_t i = 0;
	uint32_t rng = split;

	memset(t, 0, sizeof(*t));
	imap_parser_init(&p, c->dir, c->line_max);
	while (i < len) {
		size_t seg = i, n;

		if (in[i] == 0x01) {
			if (in[i + 1] == '+') {
				imap_parser_server_continuation(&p);
				i += 2;
			} else {
				char tag[IMAP_TAG_MAX + 1];
				const unsigned char *e =
				    memchr(in + i + 2, 0x01, len - i - 2);

				assert_non_null(e);
				n = (size_t)(e - (in + i + 2));
				memcpy(tag, in + i + 2, n);
				tag[n] = '\0';
				imap_parser_server_tagged(&p, tag);
				i += n + 3;
			}
			continue;
		}
		while (i < len && in[i] != 0x01)
			i++;
		/* feed in[seg..i) split as asked */
		while (seg < i) {
			if (split == 0)
				n = i - seg;
			else if (split == 1)
				n = 1;
			else
				n = 1 + rng_next(&rng) % 23;
			if (n > i - seg)
				n = i - seg;
			if (skip && imap_parser_literal_opaque(&p)) {
				if (n > imap_parser_literal_left(&p))
					n = (size_t)imap_parser_literal_left(
					    &p);
				assert_true(imap_parser_skip_literal(&p, n));
			} else {
				feed_chunk(&p, t, in + seg, n);
			}
			seg += n;
		}
	}
	tr_add(t, "mode=%s%s", imap_client_mode_name(imap_parser_mode(&p)),
	    imap_parser_blind(&p) ? " blind" : "");
	if (imap_parser_literal_left(&p) > 0)
		tr_add(t, " left=%llu",
		    (unsigned long long)imap_parser_literal_left(&p));
	tr_add(t, "\n");
}

static void
test_case(void **state)
{
	const struct imap_case *c = *state;
	static struct transcript whole, other;

	run_stream(c, 0, false, &whole);
	if (strcmp(whole.buf, c->want) != 0) {
		print_error("case %s\n--- want\n%s--- got\n%s", c->name,
		    c->want, whole.buf);
		fail();
	}
	run_stream(c, 1, false, &other);
	assert_string_equal(other.buf, whole.buf);
	for (uint32_t seed = 2; seed < 34; seed++) {
		run_stream(c, seed * 2654435761u, false, &other);
		assert_string_equal(other.buf, whole.buf);
		run_stream(c, seed * 2654435761u, true, &other);
		assert_string_equal(other.buf, whole.buf);
	}
	run_stream(c, 0, true, &other);
	assert_string_equal(other.buf, whole.buf);
}

#define C IMAP_DIR_CLIENT
#define S IMAP_DIR_SERVER
#define BIN(s) s, sizeof(s) - 1

static struct imap_case cases[] = {
/* ---- client: commands, names, first argument ---- */
{ "noop", C, 0, "a1 NOOP\r\n", 0,
  "CMD tag=a1 name=NOOP\nmode=COMMAND\n" },
{ "lower case name, atom arg", C, 0, "a1 select INBOX\r\n", 0,
  "CMD tag=a1 name=SELECT arg1=5:INBOX\nmode=COMMAND\n" },
{ "quoted escapes", C, 0, "a2 SELECT \"Sent \\\"Items\\\" \\\\ x\"\r\n", 0,
  "CMD tag=a2 name=SELECT arg1=16:Sent \"Items\" \\ x\nmode=COMMAND\n" },
{ "uid fetch", C, 0,
  "a3 uid fetch 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (FROM TO)])\r\n", 0,
  "CMD tag=a3 name=UID FETCH arg1=3:1:*\nmode=COMMAND\n" },
{ "bare LF line ends", C, 0, "a1 NOOP\na2 CHECK\n", 0,
  "CMD tag=a1 name=NOOP\nCMD tag=a2 name=CHECK\nmode=COMMAND\n" },
{ "empty lines skipped", C, 0, "\r\n\r\na1 NOOP\r\n", 0,
  "CMD tag=a1 name=NOOP\nmode=COMMAND\n" },
{ "tag only", C, 0, "a1\r\n", 0, "CMD tag=a1\nmode=COMMAND\n" },
{ "brace inside quotes", C, 0, "a1 SELECT \"{5}\"\r\n", 0,
  "CMD tag=a1 name=SELECT arg1=3:{5}\nmode=COMMAND\n" },
{ "brace not ending line", C, 0, "a1 SEARCH {5}x {3 {4+x ~y\r\n", 0,
  "CMD tag=a1 name=SEARCH arg1=1:x\nmode=COMMAND\n" },
{ "list first argument", C, 0,
  "a1 ID (\"name\" \"x\\\"y\" \"os\" NIL)\r\n", 0,
  "CMD tag=a1 name=ID arg1=24:(\"name\" \"x\\\"y\" \"os\" NIL)\n"
  "mode=COMMAND\n" },
{ "long tag without mode", C, 0,
  "t123456789012345678901234567890123456789012345678901234567890abcdef"
  " NOOP\r\n", 0,
  "CMD tag~ name=NOOP\nmode=COMMAND\n" },
{ "tag of exactly the tracked length", C, 0,
  "t123456789012345678901234567890123456789012345678901234567890abc"
  " NOOP\r\n", 0,
  "CMD tag=t123456789012345678901234567890123456789012345678901234567890abc"
  " name=NOOP\nmode=COMMAND\n" },
{ "command name longer than tracked", C, 0,
  "a1 XABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 x\r\n", 0,
  "CMD tag=a1 name=XABCDEFGHIJKLMNOPQRSTUVWXYZ01234 arg1=1:x\n"
  "mode=COMMAND\n" },
{ "tag runs past the line limit", C, 16, "a123456789012345678 NOOP\r\n", 0,
  "ERR line too long\nmode=COMMAND blind\n" },
{ "tag ends at the line limit", C, 16, "a1234567890123\r\n", 0,
  "CMD tag=a1234567890123\nmode=COMMAND\n" },
{ "command name runs past the line limit", C, 16, "a1 XYZZYXYZZYXYZZY\r\n",
  0, "ERR line too long\nmode=COMMAND blind\n" },
{ "pipelined", C, 0,
  "a1 NOOP\r\na2 SELECT {5+}\r\nINBOX\r\na3 FETCH 1 BODY[]\r\n", 0,
  "CMD tag=a1 name=NOOP\nLIT 5+\n"
  "CMD tag=a2 name=SELECT arg1=5:INBOX lits=1\n"
  "CMD tag=a3 name=FETCH arg1=1:1\nmode=COMMAND\n" },

/* ---- client: literals ---- */
{ "sync literals with continuation", C, 0,
  "a4 LOGIN {4}\r\n\001+user {6}\r\n\001+secret\r\n", 0,
  "LIT 4 [LITERAL_WAIT]\nLIT 6 [LITERAL_WAIT]\n"
  "CMD tag=a4 name=LOGIN arg1=4:user lits=2\nmode=COMMAND\n" },
{ "non-sync literal", C, 0,
  "a5 APPEND Drafts (\\Seen) {11+}\r\nHello World\r\n", 0,
  "LIT 11+\nCMD tag=a5 name=APPEND arg1=6:Drafts lits=1\nmode=COMMAND\n" },
{ "literal8 non-sync with NULs", C, 0,
  BIN("a6 APPEND INBOX ~{3+}\r\n\0\377\002\r\n"),
  "LIT 3+ bin\nCMD tag=a6 name=APPEND arg1=5:INBOX lits=1\n"
  "mode=COMMAND\n" },
{ "literal8 sync", C, 0, "a6 APPEND INBOX ~{3}\r\n\001+abc\r\n", 0,
  "LIT 3 bin [LITERAL_WAIT]\nCMD tag=a6 name=APPEND arg1=5:INBOX lits=1\n"
  "mode=COMMAND\n" },
{ "literal- form is synchronizing", C, 0, "a7 LOGIN {3-}\r\nabc", 0,
  "LIT 3 [LITERAL_WAIT]\nERR literal data sent before continuation\n"
  "mode=LITERAL_WAIT blind\n" },
{ "literal first argument", C, 0, "a1 SELECT {5}\r\n\001+INBOX\r\n", 0,
  "LIT 5 [LITERAL_WAIT]\nCMD tag=a1 name=SELECT arg1=5:INBOX lits=1\n"
  "mode=COMMAND\n" },
{ "zero-length sync literals", C, 0,
  "a1 LOGIN {0}\r\n\001+ {0}\r\n\001+\r\n", 0,
  "LIT 0 [LITERAL_WAIT]\nLIT 0 [LITERAL_WAIT]\n"
  "CMD tag=a1 name=LOGIN arg1=0: lits=2\nmode=COMMAND\n" },
{ "literal LF only header", C, 0, "a1 SELECT {2+}\nab\n", 0,
  "LIT 2+\nCMD tag=a1 name=SELECT arg1=2:ab lits=1\nmode=COMMAND\n" },
{ "sync literal cancelled by tagged NO", C, 0,
  "a8 APPEND INBOX {100}\r\n\001Ta8\001a9 NOOP\r\n", 0,
  "LIT 100 [LITERAL_WAIT]\nCMD tag=a9 name=NOOP\nmode=COMMAND\n" },
{ "tagged for another command ignored", C, 0,
  "a8 APPEND INBOX {3}\r\n\001Ta7\001\001+abc\r\n", 0,
  "LIT 3 [LITERAL_WAIT]\nCMD tag=a8 name=APPEND arg1=5:INBOX lits=1\n"
  "mode=COMMAND\n" },
{ "literal bomb 2^32-1 streams", C, 0,
  "a1 APPEND INBOX {4294967295+}\r\nFrom: x\r\n\r\nbody", 0,
  "LIT 4294967295+\nmode=COMMAND left=4294967280\n" },
{ "literal size overflow", C, 0,
  "a1 APPEND INBOX {99999999999999999999999}\r\na2 NOOP\r\n", 0,
  "ERR literal too large\nmode=COMMAND blind\n" },
{ "literal just over 2^62", C, 0,
  "a1 APPEND INBOX {4611686018427387905+}\r\n", 0,
  "ERR literal too large\nmode=COMMAND blind\n" },
{ "literal CR without LF", C, 0, "a1 LOGIN {3}\rX", 0,
  "ERR CR without LF after literal size\nmode=COMMAND blind\n" },
{ "arg1 literal truncated", C, 0,
  "a1 SELECT {300+}\r\n"
  "0123456789012345678901234567890123456789012345678901234567890123456789"
  "0123456789012345678901234567890123456789012345678901234567890123456789"
  "0123456789012345678901234567890123456789012345678901234567890123456789"
  "0123456789012345678901234567890123456789012345678901234567890123456789"
  "01234567890123456789\r\n", 0,
  "LIT 300+\nCMD tag=a1 name=SELECT arg1~=256:"
  "0123456789012345678901234567890123456789012345678901234567890123456789"
  "0123456789012345678901234567890123456789012345678901234567890123456789"
  "0123456789012345678901234567890123456789012345678901234567890123456789"
  "0123456789012345678901234567890123456789012345"
  " lits=1\nmode=COMMAND\n" },
{ "long tag with sync literal", C, 0,
  "t123456789012345678901234567890123456789012345678901234567890abcdef"
  " LOGIN {3}\r\n", 0,
  "ERR tag too long to follow its reply\nmode=COMMAND blind\n" },

/* ---- client: limits and errors ---- */
{ "over-long line", C, 32, "a1 SELECT 0123456789012345678901234567890\r\n", 0,
  "ERR line too long\nmode=COMMAND blind\n" },
{ "line limit excludes literal data", C, 32,
  "a1 SELECT {40+}\r\n0123456789012345678901234567890123456789\r\n", 0,
  "LIT 40+\nCMD tag=a1 name=SELECT arg1=40:"
  "0123456789012345678901234567890123456789 lits=1\nmode=COMMAND\n" },
{ "depth bomb", C, 0,
  "a1 FETCH 1 (((((((((((((((((((((((((((((((((((((((((((((((((((((((((("
  "(((((((((((((((((\r\n", 0,
  "ERR parentheses nested too deep\nmode=COMMAND blind\n" },
{ "depth at limit", C, 0,
  "a1 FETCH 1 (((((((((((((((((((((((((((((((((((((((((((((((((((((((("
  "(((((((())))))))))))))))))))))))))))))))))))))))))))))))))))))))))))"
  "))))\r\n", 0,
  "CMD tag=a1 name=FETCH arg1=1:1\nmode=COMMAND\n" },
{ "CR inside quoted", C, 0, "a1 SELECT \"INB\rOX\"\r\n", 0,
  "ERR line break inside quoted string\nmode=COMMAND blind\n" },
{ "LF after backslash in quoted", C, 0, "a1 SELECT \"INB\\\nOX\"\r\n", 0,
  "ERR line break inside quoted string\nmode=COMMAND blind\n" },
{ "invalid tag", C, 0, "(a NOOP\r\n", 0,
  "ERR invalid character in tag\nmode=COMMAND blind\n" },
{ "literal as tag", C, 0, "{5}\r\nhello\r\n", 0,
  "ERR invalid character in tag\nmode=COMMAND blind\n" },
{ "missing tag", C, 0, " NOOP\r\n", 0,
  "ERR missing tag\nmode=COMMAND blind\n" },
{ "invalid name", C, 0, "a1 SEL\"ECT x\r\n", 0,
  "ERR invalid character in command name\nmode=COMMAND blind\n" },
{ "bare CR", C, 0, "a1 NOOP\rX\r\n", 0,
  "ERR CR without LF\nmode=COMMAND blind\n" },
{ "blind stays blind", C, 0, "(\r\na1 NOOP\r\na2 IDLE\r\n", 0,
  "ERR invalid character in tag\nmode=COMMAND blind\n" },

/* ---- client: IDLE ---- */
{ "idle with continuation", C, 0,
  "a1 IDLE\r\n\001+DONE\r\na2 NOOP\r\n\001Ta1\001", 0,
  "CMD tag=a1 name=IDLE [IDLE_WAIT]\nDONE\nCMD tag=a2 name=NOOP\n"
  "mode=COMMAND\n" },
{ "idle done before continuation", C, 0, "a1 IDLE\r\ndone\r\n", 0,
  "CMD tag=a1 name=IDLE [IDLE_WAIT]\nDONE\nmode=COMMAND\n" },
{ "idle refused", C, 0, "a1 IDLE\r\n\001Ta1\001a2 NOOP\r\n", 0,
  "CMD tag=a1 name=IDLE [IDLE_WAIT]\nCMD tag=a2 name=NOOP\n"
  "mode=COMMAND\n" },
{ "idle expects done", C, 0, "a1 IDLE\r\n\001+a2 NOOP\r\n", 0,
  "CMD tag=a1 name=IDLE [IDLE_WAIT]\nERR IDLE: expected DONE\n"
  "mode=IDLE blind\n" },
{ "idle done with garbage", C, 0, "a1 IDLE\r\n\001+DONEX\r\n", 0,
  "CMD tag=a1 name=IDLE [IDLE_WAIT]\nERR IDLE: expected DONE\n"
  "mode=IDLE blind\n" },
{ "idle ended by server", C, 0, "a1 IDLE\r\n\001+\001Ta1\001a2 NOOP\r\n", 0,
  "CMD tag=a1 name=IDLE [IDLE_WAIT]\nCMD tag=a2 name=NOOP\n"
  "mode=COMMAND\n" },

/* ---- client: AUTHENTICATE ---- */
{ "authenticate plain", C, 0,
  "a1 AUTHENTICATE PLAIN\r\n\001+AGZyZWQAdGVzdA==\r\n\001Ta1\001"
  "a2 SELECT INBOX\r\n", 0,
  "CMD tag=a1 name=AUTHENTICATE arg1=5:PLAIN [AUTH]\nSASL [AUTH]\n"
  "CMD tag=a2 name=SELECT arg1=5:INBOX\nmode=COMMAND\n" },
{ "authenticate cancelled", C, 0,
  "a1 AUTHENTICATE XOAUTH2\r\n\001+*\r\n\001Ta1\001a2 LOGOUT\r\n", 0,
  "CMD tag=a1 name=AUTHENTICATE arg1=7:XOAUTH2 [AUTH]\nSASL [AUTH]\n"
  "CMD tag=a2 name=LOGOUT\nmode=COMMAND\n" },
{ "sasl lines are not parsed", C, 0,
  "a1 authenticate DIGEST-MD5\r\n\001+{5}\r\n\001+\r\n\001+\"(\r\n", 0,
  "CMD tag=a1 name=AUTHENTICATE arg1=10:DIGEST-MD5 [AUTH]\n"
  "SASL [AUTH]\nSASL [AUTH]\nSASL [AUTH]\nmode=AUTH\n" },
{ "authenticate with initial response", C, 0,
  "a1 AUTHENTICATE PLAIN AGZyZWQAdGVzdA==\r\n\001Ta1\001a2 NOOP\r\n", 0,
  "CMD tag=a1 name=AUTHENTICATE arg1=5:PLAIN [AUTH]\n"
  "CMD tag=a2 name=NOOP\nmode=COMMAND\n" },
{ "sasl line too long", C, 24,
  "a1 AUTHENTICATE X\r\n\001+AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n", 0,
  "CMD tag=a1 name=AUTHENTICATE arg1=1:X [AUTH]\nERR line too long\n"
  "mode=AUTH blind\n" },

/* ---- server: status responses ---- */
{ "greeting capability code is not a literal", S, 0,
  "* OK [CAPABILITY IMAP4rev1 LITERAL+ SASL-IR] Dovecot ready. {5}\r\n", 0,
  "UNT name=OK code=CAPABILITY\nmode=COMMAND\n" },
{ "tagged with code", S, 0,
  "a1 OK [APPENDUID 38505 3955] APPEND completed {5}\r\n"
  "a2 no [TRYCREATE] Mailbox doesn't exist\r\n"
  "a3 BAD Error in IMAP command: \"{\r\n", 0,
  "TAG tag=a1 name=OK code=APPENDUID\nTAG tag=a2 name=NO code=TRYCREATE\n"
  "TAG tag=a3 name=BAD\nmode=COMMAND\n" },
{ "continuation is text", S, 0,
  "+ Ready for literal data {5}\r\n+\r\n+ \"\r\n", 0,
  "CONT\nCONT\nCONT\nmode=COMMAND\n" },
{ "untagged numbers", S, 0,
  "* 5 EXISTS\r\n* 0 RECENT\r\n* 3 expunge\r\n* BYE Logging out\r\n", 0,
  "UNT name=EXISTS num=5\nUNT name=RECENT num=0\nUNT name=EXPUNGE num=3\n"
  "UNT name=BYE\nmode=COMMAND\n" },
{ "status text at the line limit", S, 24,
  "a1 OK NOOP done.    \r\n* BYE 3456789012345678\r\n", 0,
  "TAG tag=a1 name=OK\nUNT name=BYE\nmode=COMMAND\n" },
{ "status text one byte over the limit", S, 24,
  "a1 OK NOOP done.    \r\n* BYE 34567890123456789\r\n", 0,
  "TAG tag=a1 name=OK\nERR line too long\nmode=COMMAND blind\n" },
{ "CR inside status text", S, 0, "a1 OK done\rx\r\n", 0,
  "ERR CR without LF\nmode=COMMAND blind\n" },
{ "message number overflow", S, 0, "* 99999999999 EXISTS\r\n", 0,
  "ERR message number too large\nmode=COMMAND blind\n" },
{ "bad star", S, 0, "*OK\r\n", 0,
  "ERR expected SP after *\nmode=COMMAND blind\n" },

/* ---- server: untagged data ---- */
{ "capability and search", S, 0,
  "* CAPABILITY IMAP4rev1 IDLE {5}x\r\n* SEARCH 2 84 882\r\n", 0,
  "UNT name=CAPABILITY\nUNT name=SEARCH\nmode=COMMAND\n" },
{ "esearch", S, 0, "* ESEARCH (TAG \"a5\") UID ALL 1:3,5 COUNT 4\r\n", 0,
  "UNT name=ESEARCH\nmode=COMMAND\n" },
{ "list with literal mailbox", S, 0,
  "* LIST (\\HasNoChildren) \"/\" {12}\r\nSent \"Items\"\r\n"
  "* LIST (\\Noselect) \".\" \"a \\\"b\\\" {3}\"\r\n", 0,
  "LIT 12\nUNT name=LIST lits=1\nUNT name=LIST\nmode=COMMAND\n" },
{ "status with literal", S, 0,
  "* STATUS {5}\r\nINBOX (MESSAGES 3 UIDNEXT 4)\r\n", 0,
  "LIT 5\nUNT name=STATUS lits=1\nmode=COMMAND\n" },
{ "id", S, 0,
  "* ID (\"name\" \"Dovecot\" \"version\" NIL \"x\" {2}\r\n()) \r\n", 0,
  "LIT 2\nUNT name=ID lits=1\nmode=COMMAND\n" },

/* ---- server: FETCH ---- */
{ "dovecot fetch body", S, 0,
  "* 1 FETCH (UID 5 RFC822.SIZE 123 FLAGS (\\Seen) INTERNALDATE "
  "\"17-Jul-1996 02:44:25 -0700\" BODY[] {12}\r\nHello World!)\r\n"
  "a1 OK Fetch completed (0.001 + 0.000 secs).\r\n", 0,
  "LIT 12 sec=BODY[]\n"
  "UNT name=FETCH num=1 lits=1 uid=5 size=123 flags=(\\Seen) "
  "date=17-Jul-1996 02:44:25 -0700\n"
  "TAG tag=a1 name=OK\nmode=COMMAND\n" },
{ "uid after literal, header fields section", S, 0,
  "* 2 FETCH (BODY[HEADER.FIELDS (SUBJECT FROM)] {9}\r\nSubj: x\r\n"
  " UID 7 FLAGS ())\r\n", 0,
  "LIT 9 sec=BODY[HEADER.FIELDS (SUBJECT FROM)]\n"
  "UNT name=FETCH num=2 lits=1 uid=7 flags=()\nmode=COMMAND\n" },
{ "partial, binary, rfc822, nil", S, 0,
  BIN("* 3 FETCH (body[]<0> {2}\r\nab BINARY[1] ~{3}\r\n\0\0\0 RFC822 {1}"
  "\r\nx BODY[TEXT] NIL Uid 8)\r\n"),
  "LIT 2 sec=BODY[]<0>\nLIT 3 bin sec=BINARY[1]\nLIT 1 sec=RFC822\n"
  "UNT name=FETCH num=3 lits=3 uid=8\nmode=COMMAND\n" },
{ "bodystructure nesting", S, 0,
  "* 3 FETCH (UID 9 BODYSTRUCTURE ((\"TEXT\" \"PLAIN\" (\"CHARSET\" "
  "\"us-ascii\") NIL NIL \"7BIT\" 10 1 NIL NIL NIL NIL)(\"APPLICATION\" "
  "\"PDF\" (\"NAME\" \"a).pdf\") NIL NIL \"BASE64\" 200 NIL NIL NIL NIL) "
  "\"MIXED\" (\"BOUNDARY\" \"x\") NIL NIL NIL) FLAGS (\\Seen \\Answered))"
  "\r\n", 0,
  "UNT name=FETCH num=3 uid=9 flags=(\\Seen \\Answered)\nmode=COMMAND\n" },
{ "envelope with literal subject", S, 0,
  "* 4 FETCH (ENVELOPE (\"Mon, 7 Feb 1994\" {5}\r\nHello ((NIL NIL "
  "\"a\" \"b.c\")) NIL NIL NIL NIL NIL NIL \"<id@x>\") UID 10)\r\n", 0,
  "LIT 5 sec=ENVELOPE\nUNT name=FETCH num=4 lits=1 uid=10\nmode=COMMAND\n" },
{ "section with quoted field", S, 0,
  "* 5 FETCH (BODY[HEADER.FIELDS (\"X-A\")] {3}\r\nabc UID 3)\r\n", 0,
  "LIT 3 sec=BODY[HEADER.FIELDS (\"X-A\")]\n"
  "UNT name=FETCH num=5 lits=1 uid=3\nmode=COMMAND\n" },
{ "long section truncated", S, 0,
  "* 6 FETCH (BODY[HEADER.FIELDS (SUBJECT FROM TO CC BCC DATE MESSAGE-ID "
  "IN-REPLY-TO REFERENCES)] {1}\r\nx)\r\n", 0,
  "LIT 1 sec=BODY[HEADER.FIELDS (SUBJECT FROM TO CC BCC DATE MESSAGE-ID IN-RE\n"
  "UNT name=FETCH num=6 lits=1\nmode=COMMAND\n" },
{ "flags too long", S, 0,
  "* 7 FETCH (FLAGS (\\Seen $aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
  "aaaaaa "
  "$bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb "
  "$cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc "
  "$dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd) "
  "UID 11)\r\n", 0,
  "UNT name=FETCH num=7 uid=11\nmode=COMMAND\n" },
{ "internaldate too long", S, 0,
  "* 8 FETCH (INTERNALDATE \"0123456789012345678901234567890123456789X\" "
  "RFC822.SIZE 99999999999 UID 4294967296)\r\n", 0,
  "UNT name=FETCH num=8 size=99999999999\nmode=COMMAND\n" },
{ "fetch literal bomb streams", S, 0,
  "* 1 FETCH (BODY[] {4294967295}\r\nFrom: a\r\n", 0,
  "LIT 4294967295 sec=BODY[]\nmode=COMMAND left=4294967286\n" },
{ "fetch depth bomb", S, 0,
  "* 1 FETCH (X ((((((((((((((((((((((((((((((((((((((((((((((((((((((((("
  "((((((((((((((((\r\n", 0,
  "ERR parentheses nested too deep\nmode=COMMAND blind\n" },
{ "server over-long line", S, 40,
  "* 1 FETCH (FLAGS (\\Seen \\Answered \\Flagged \\Deleted))\r\n", 0,
  "ERR line too long\nmode=COMMAND blind\n" },
{ "not a fetch: no items", S, 0,
  "* 1 FETCH UID 5\r\n* 2 FETCH ()\r\n* 3 FETCH (UID)\r\n", 0,
  "UNT name=FETCH num=1\nUNT name=FETCH num=2\nUNT name=FETCH num=3\n"
  "mode=COMMAND\n" },
};

static void
test_names(void **state)
{
	struct imap_parser p;

	(void)state;
	assert_string_equal(imap_client_mode_name(IMAP_MODE_COMMAND),
	    "COMMAND");
	assert_string_equal(imap_client_mode_name(IMAP_MODE_LITERAL_WAIT),
	    "LITERAL_WAIT");
	assert_string_equal(imap_client_mode_name(IMAP_MODE_AUTH), "AUTH");
	assert_string_equal(imap_client_mode_name((enum imap_client_mode)99),
	    "?");
	imap_parser_init(&p, IMAP_DIR_CLIENT, 0);
	assert_int_equal(p.line_max, 65536);
	assert_string_equal(imap_parser_state_name(&p), "LINE_START");
}

static void
test_reset(void **state)
{
	struct imap_parser p;
	const char *err;
	size_t used;
	static const char in[] = "a1 APPEND x {5}\r\n";

	(void)state;
	imap_parser_init(&p, IMAP_DIR_CLIENT, 0);
	assert_int_equal(imap_parser_feed(&p, (const unsigned char *)in,
	    sizeof(in) - 1, &used, &err), IMAP_PARSE_LITERAL);
	assert_int_equal(imap_parser_mode(&p), IMAP_MODE_LITERAL_WAIT);
	assert_false(imap_parser_in_literal(&p));
	imap_parser_server_continuation(&p);
	assert_true(imap_parser_in_literal(&p));
	assert_int_equal(imap_parser_literal_left(&p), 5);
	assert_int_equal(imap_parser_feed(&p, (const unsigned char *)"(",
	    1, &used, &err), IMAP_PARSE_AGAIN);
	/* STARTTLS-style reset from anywhere, blind included */
	imap_parser_reset(&p);
	assert_int_equal(imap_parser_mode(&p), IMAP_MODE_COMMAND);
	assert_false(imap_parser_in_literal(&p));
	assert_int_equal(imap_parser_feed(&p, (const unsigned char *)"(",
	    1, &used, &err), IMAP_PARSE_ERROR);
	assert_true(imap_parser_blind(&p));
	imap_parser_server_continuation(&p);
	assert_int_equal(imap_parser_feed(&p, (const unsigned char *)"xy",
	    2, &used, &err), IMAP_PARSE_BLIND);
	assert_int_equal(used, 2);
	imap_parser_reset(&p);
	assert_false(imap_parser_blind(&p));
	assert_int_equal(imap_parser_feed(&p,
	    (const unsigned char *)"b CAPABILITY\r\n", 14, &used, &err),
	    IMAP_PARSE_LINE);
	assert_string_equal(p.line.name, "CAPABILITY");
	assert_int_equal(imap_parser_feed(&p, (const unsigned char *)"",
	    0, &used, &err), IMAP_PARSE_AGAIN);
	assert_int_equal(used, 0);
}

/* imap_parser_skip_literal() refuses what the relay must never do: skip
 * outside a literal, past its end, or over a first argument the parser
 * decodes. */
static void
test_skip_contract(void **state)
{
	struct imap_parser p;
	const char *err;
	size_t used;
	static const char fetch[] = "* 1 FETCH (BODY[] {10}\r\n";
	static const char arg1[] = "a SELECT {5+}\r\n";

	(void)state;
	imap_parser_init(&p, IMAP_DIR_SERVER, 0);
	assert_false(imap_parser_literal_opaque(&p));
	assert_false(imap_parser_skip_literal(&p, 1));
	assert_int_equal(imap_parser_feed(&p, (const unsigned char *)fetch,
	    sizeof(fetch) - 1, &used, &err), IMAP_PARSE_LITERAL);
	assert_true(imap_parser_literal_opaque(&p));
	assert_false(imap_parser_skip_literal(&p, 0));
	assert_false(imap_parser_skip_literal(&p, 11));
	assert_int_equal(imap_parser_literal_left(&p), 10);
	assert_true(imap_parser_skip_literal(&p, 10));
	assert_false(imap_parser_literal_opaque(&p));
	assert_int_equal(imap_parser_feed(&p, (const unsigned char *)")\r\n",
	    3, &used, &err), IMAP_PARSE_LINE);
	assert_int_equal(p.line.literals, 1);

	imap_parser_init(&p, IMAP_DIR_CLIENT, 0);
	assert_int_equal(imap_parser_feed(&p, (const unsigned char *)arg1,
	    sizeof(arg1) - 1, &used, &err), IMAP_PARSE_LITERAL);
	assert_true(imap_parser_in_literal(&p));
	assert_false(imap_parser_literal_opaque(&p));
	assert_false(imap_parser_skip_literal(&p, 5));
	assert_int_equal(imap_parser_literal_left(&p), 5);
}

/* ---- imap_parse_args ---- */

struct args_case {
	const char *name;
	const char *in;
	size_t in_len;
	int want_n;		/* -1: error */
	const char *want;	/* "A:x|S:y|L:(..)|N:NIL" or the error */
};

static const struct args_case args_cases[] = {
{ "login atoms", "a LOGIN user pass\r\n", 0, 2, "A:user|A:pass" },
{ "login quoted", "a login \"us er\" \"p\\\"a\\\\ss\"\r\n", 0, 2,
  "S:us er|S:p\"a\\ss" },
{ "login literals", "a LOGIN {4}\r\nuser {6+}\r\nse\r\ncr\r\n", 0, 2,
  "S:user|S:se\r\ncr" },
{ "literal8 and minus", "a LOGIN ~{1}\r\nx {2-}\nyz\n", 0, 2, "S:x|S:yz" },
{ "authenticate ir", "a AUTHENTICATE PLAIN AGEAYg==\r\n", 0, 2,
  "A:PLAIN|A:AGEAYg==" },
{ "authenticate empty ir", "a AUTHENTICATE PLAIN =\r\n", 0, 2,
  "A:PLAIN|A:=" },
{ "id list", "a ID (\"name\" \"x)\" \"v\" {2}\r\n()) \r\n", 0, 1,
  "L:(\"name\" \"x)\" \"v\" {2}\r\n())" },
{ "id nil", "a ID nil\r\n", 0, 1, "N:nil" },
{ "no args", "a CAPABILITY\r\n", 0, 0, "" },
{ "bare LF", "a NOOP\n", 0, 0, "" },
{ "missing CRLF", "a LOGIN user pass", 0, -1, "missing CRLF" },
{ "trailing data", "a NOOP\r\nb NOOP\r\n", 0, -1,
  "data after end of command" },
{ "missing tag", " LOGIN a b\r\n", 0, -1, "missing tag" },
{ "missing name", "a \r\n", 0, -1, "missing command name" },
{ "CR in quoted", "a LOGIN \"u\rx\" p\r\n", 0, -1,
  "unterminated quoted string" },
{ "unterminated quoted", "a LOGIN \"user\r\n", 0, -1,
  "unterminated quoted string" },
{ "short literal", "a LOGIN {10}\r\nuser\r\n", 0, -1,
  "literal data incomplete" },
{ "literal bomb", "a LOGIN {99999999999999999999999}\r\n", 0, -1,
  "literal too large" },
{ "literal no CRLF", "a LOGIN {3} abc\r\n", 0, -1,
  "missing CRLF after literal size" },
{ "bad literal", "a LOGIN {x}\r\n", 0, -1, "invalid literal" },
{ "too many", "a X 1 2 3 4 5 6 7 8 9\r\n", 0, -1, "too many arguments" },
{ "unterminated list", "a ID (\"a\"\r\n", 0, -1, "unterminated list" },
{ "bad separator", "a LOGIN \"a\"\"b\"\r\n", 0, -1,
  "expected SP between arguments" },
{ "CR without LF", "a NOOP\rx", 0, -1, "CR without LF" },
{ "invalid argument", "a LOGIN )\r\n", 0, -1, "invalid argument" },
{ "deep list", "a ID (((((((((((((((((((((((((((((((((((((((((((((((((((((((((("
  "(((((((((((((((()\r\n", 0, -1, "parentheses nested too deep" },
{ "nul in literal", "a LOGIN {3}\r\na\0b c\r\n", 20, 2, "S:a\\0b|A:c" },
};

static void
test_args(void **state)
{
	const struct args_case *c = *state;
	struct imap_arg args[8];
	char scratch[512], got[1024];
	size_t len = c->in_len != 0 ? c->in_len : strlen(c->in), gl = 0;
	const char *err = NULL;
	int n;

	n = imap_parse_args(c->in, len, args, 8, scratch, len, &err);
	if (c->want_n < 0) {
		assert_int_equal(n, -1);
		assert_string_equal(err, c->want);
		return;
	}
	assert_int_equal(n, c->want_n);
	got[0] = '\0';
	for (int i = 0; i < n; i++) {
		static const char t[] = "ASLN";

		gl += (size_t)snprintf(got + gl, sizeof(got) - gl, "%s%c:",
		    i > 0 ? "|" : "", t[args[i].type]);
		for (size_t k = 0; k < args[i].len; k++)
			gl += (size_t)snprintf(got + gl, sizeof(got) - gl,
			    args[i].ptr[k] == '\0' ? "\\0" : "%c",
			    args[i].ptr[k]);
	}
	assert_string_equal(got, c->want);
}

/* The bitmaps behind the character classes, against RFC 9051's rules
 * written out, for every byte value. */
static void
test_char_classes(void **state)
{
	(void)state;
	for (unsigned c = 0; c < 256; c++) {
		bool tag = c > 0x20 && c < 0x7f && c != '(' && c != ')' &&
		    c != '{' && c != '"' && c != '\\';
		bool atom = tag && c != '%' && c != '*' && c != ']';

		if (imap_parser_is_tag_char((unsigned char)c) != tag ||
		    imap_parser_is_atom_char((unsigned char)c) != atom)
			fail_msg("byte 0x%02x: tag %d atom %d", c, tag, atom);
	}
}

#define NCASES (sizeof(cases) / sizeof(cases[0]))
#define NARGS (sizeof(args_cases) / sizeof(args_cases[0]))

int
main(void)
{
	static struct CMUnitTest tests[NCASES + NARGS + 4];
	size_t n = 0;

	for (size_t i = 0; i < NCASES; i++)
		tests[n++] = (struct CMUnitTest){ cases[i].name, test_case,
		    NULL, NULL, &cases[i] };
	for (size_t i = 0; i < NARGS; i++)
		tests[n++] = (struct CMUnitTest){ args_cases[i].name,
		    test_args, NULL, NULL, (void *)&args_cases[i] };
	tests[n++] = (struct CMUnitTest){ "names", test_names, NULL, NULL,
	    NULL };
	tests[n++] = (struct CMUnitTest){ "reset", test_reset, NULL, NULL,
	    NULL };
	tests[n++] = (struct CMUnitTest){ "char_classes", test_char_classes,
	    NULL, NULL, NULL };
	tests[n++] = (struct CMUnitTest){ "skip_contract", test_skip_contract,
	    NULL, NULL, NULL };
	return _cmocka_run_group_tests("imap_parse", tests, n, NULL, NULL);
}
