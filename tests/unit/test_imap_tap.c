/*
 * test_imap_tap.c - table-driven tests of proxy/imap_tap.c.
 *
 * Each case is an IMAP session, step by step ("C" client bytes, "S"
 * server bytes), and the transcript the tap must leave in a memory sink:
 * one line per record (topic, state, headers in order without observed-at,
 * idempotency key cut to 8 digits, and the payload of committed records),
 * then the tap's events.  Every session is fed whole, one byte at a time
 * and in 24 seeded random splits; all must give the same transcript.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include "tests/fuzz/imap_tap_drive.h"

#define STEPS_MAX 16

struct tap_case {
	const char *name;
	const char *steps[STEPS_MAX];	/* "C..." / "S..." */
	const char *want;
	bool header_only;
	const char *block_domains;
	size_t header_max;
};

#define MSG1 "From: Dana <dana@customer.example>\r\n" \
	"To: alice@acme.example\r\nMessage-ID: <m1@customer.example>\r\n" \
	"Subject: hi\r\n\r\nBody line\r\n"
#define MSG1_LEN "121"
#define MSG2 "From: alice@acme.example\r\nTo: bob@lawfirm.example\r\n" \
	"Subject: x\r\n\r\nsecret\r\n"
#define MSG2_LEN "73"

#define SELECT_INBOX \
	"Ca1 SELECT INBOX\r\n", \
	"S* 3 EXISTS\r\n* OK [UIDVALIDITY 1700] ok\r\na1 OK [READ-WRITE] done\r\n"

static const struct tap_case cases[] = {
	{ "fetch body[] with items before and after the literal", {
		SELECT_INBOX,
		"Ca2 UID FETCH 4 (FLAGS BODY.PEEK[] INTERNALDATE)\r\n",
		"S* 1 FETCH (UID 4 FLAGS (\\Seen $Work) BODY[] {" MSG1_LEN
		"}\r\n" MSG1 " INTERNALDATE \"25-Nov-2026 22:08:01 +0000\")\r\n"
		"a2 OK done\r\n",
	  }, "crm.mail.v1 C schema=crm.mail/1 tenant=acme "
	  "user=alice@acme.example direction=in source=imap-fetch "
	  "mailbox=INBOX uid=4 uidvalidity=1700 flags=\\Seen $Work "
	  "internaldate=25-Nov-2026 22:08:01 +0000 idempotency-key=d523a144 |"
	  MSG1 "|\nCAPTURED;\n" },
	{ "rfc822 and a second FETCH without literal", {
		SELECT_INBOX,
		"Ca2 FETCH 1 RFC822\r\n",
		"S* 1 FETCH (RFC822 {" MSG2_LEN "}\r\n" MSG2 ")\r\n"
		"* 2 FETCH (FLAGS (\\Seen))\r\na2 OK done\r\n",
	  }, "crm.mail.v1 C schema=crm.mail/1 tenant=acme "
	  "user=alice@acme.example direction=in source=imap-fetch "
	  "mailbox=INBOX uidvalidity=1700 idempotency-key=*|" MSG2
	  "|\nCAPTURED;\n" },
	{ "header fetch and partial fetch become seen notices", {
		SELECT_INBOX,
		"Ca2 UID FETCH 4:5 (RFC822.SIZE BODY.PEEK[HEADER])\r\n",
		"S* 1 FETCH (UID 4 RFC822.SIZE 117 BODY[HEADER] {17}\r\n"
		"Message-ID: <z>\r\n)\r\n"
		"* 2 FETCH (UID 5 BODY[]<0> {4}\r\nFrom)\r\na2 OK done\r\n",
	  }, "crm.mail.seen.v1 C schema=crm.mail.seen/1 tenant=acme "
	  "user=alice@acme.example direction=in source=imap-fetch "
	  "mailbox=INBOX uid=4 uidvalidity=1700 size=117 message-id=<z> ||\n"
	  "crm.mail.seen.v1 C schema=crm.mail.seen/1 tenant=acme "
	  "user=alice@acme.example direction=in source=imap-fetch "
	  "mailbox=INBOX uid=5 uidvalidity=1700 ||\nSEEN;SEEN;\n" },
	{ "append to a SPECIAL-USE \\Sent, committed with APPENDUID", {
		"Ca1 LIST \"\" *\r\n",
		"S* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent Items\"\r\n"
		"a1 OK list\r\n",
		"Ca2 APPEND \"Sent Items\" (\\Seen) {" MSG2_LEN "}\r\n",
		"S+ go\r\n",
		"C" MSG2 "\r\n",
		"Sa2 OK [APPENDUID 99 12] done\r\n",
	  }, "crm.mail.v1 C schema=crm.mail/1 tenant=acme "
	  "user=alice@acme.example direction=out source=imap-append "
	  "mailbox=Sent Items uid=12 uidvalidity=99 flags=\\Seen "
	  "idempotency-key=*|" MSG2 "|\nCAPTURED;\n" },
	{ "append refused before its literal, then one refused after", {
		"Ca1 APPEND Drafts {" MSG2_LEN "}\r\n",
		"Sa1 NO [OVERQUOTA] no room\r\n",
		"Ca2 APPEND Drafts {" MSG2_LEN "+}\r\n" MSG2 "\r\n",
		"Sa2 NO [TRYCREATE] no such mailbox\r\n",
	  }, "crm.mail.v1 A schema=crm.mail/1 tenant=acme "
	  "user=alice@acme.example direction=draft source=imap-append "
	  "mailbox=Drafts\nABORTED;ABORTED;\n" },
	{ "multiappend: two messages, two UIDs", {
		"Ca1 APPEND INBOX {" MSG1_LEN "+}\r\n" MSG1 " (\\Flagged) {"
		MSG2_LEN "+}\r\n" MSG2 "\r\n",
		"Sa1 OK [APPENDUID 7 20:21] done\r\n",
	  }, "crm.mail.v1 C schema=crm.mail/1 tenant=acme "
	  "user=alice@acme.example direction=in source=imap-append "
	  "mailbox=INBOX uid=20 uidvalidity=7 idempotency-key=d523a144 |"
	  MSG1 "|\ncrm.mail.v1 C schema=crm.mail/1 tenant=acme "
	  "user=alice@acme.example direction=in source=imap-append "
	  "mailbox=INBOX uid=21 uidvalidity=7 flags=\\Flagged "
	  "idempotency-key=*|" MSG2 "|\nCAPTURED;CAPTURED;\n" },
	{ "binary[] literal8, LIST with a NIL delimiter names Drafts", {
		"Ca0 LIST \"\" *\r\n",
		"S* LIST (\\Drafts) NIL Entw\r\na0 OK\r\n",
		"Ca1 EXAMINE Entw\r\n",
		"S* OK [UIDVALIDITY 5] x\r\na1 OK [READ-ONLY] done\r\n",
		"Ca2 UID FETCH 9 BINARY.PEEK[]\r\n",
		"S* 1 FETCH (UID 9 BINARY[] ~{" MSG2_LEN "}\r\n" MSG2 ")\r\n"
		"a2 OK done\r\n",
	  }, "crm.mail.v1 C schema=crm.mail/1 tenant=acme "
	  "user=alice@acme.example direction=draft source=imap-fetch "
	  "mailbox=Entw uid=9 uidvalidity=5 idempotency-key=*|" MSG2
	  "|\nCAPTURED;\n" },
	{ "CLOSE forgets the mailbox", {
		SELECT_INBOX,
		"Ca2 CLOSE\r\n",
		"Sa2 OK closed\r\n",
		"Ca3 FETCH 1 BODY[]\r\n",
		"S* 1 FETCH (BODY[] {" MSG2_LEN "}\r\n" MSG2 ")\r\na3 OK\r\n",
	  }, "crm.mail.v1 C schema=crm.mail/1 tenant=acme "
	  "user=alice@acme.example direction=other source=imap-fetch "
	  "idempotency-key=*|" MSG2 "|\nCAPTURED;\n" },
	{ "blocked domain: nothing is written", {
		SELECT_INBOX,
		"Ca2 UID FETCH 4 BODY.PEEK[]\r\n",
		"S* 1 FETCH (UID 4 BODY[] {" MSG2_LEN "}\r\n" MSG2 ")\r\n"
		"a2 OK done\r\n",
	  }, "BLOCKED blocked-domain;\n", false, "lawfirm.example" },
	{ "header-only: the body is never stored", {
		SELECT_INBOX,
		"Ca2 UID FETCH 4 BODY.PEEK[]\r\n",
		"S* 1 FETCH (UID 4 BODY[] {" MSG1_LEN "}\r\n" MSG1 ")\r\n"
		"a2 OK done\r\n",
	  }, "crm.mail.v1 C schema=crm.mail/1 tenant=acme "
	  "user=alice@acme.example direction=in source=imap-fetch "
	  "mailbox=INBOX uid=4 uidvalidity=1700 idempotency-key=d523a144 "
	  "content=headers-only |From: Dana <dana@customer.example>\r\n"
	  "To: alice@acme.example\r\nMessage-ID: <m1@customer.example>\r\n"
	  "Subject: hi\r\n\r\n|\nHEADERS_ONLY;\n", true },
	{ "a header section over the bound is still streamed whole", {
		SELECT_INBOX,
		"Ca2 UID FETCH 4 BODY.PEEK[]\r\n",
		"S* 1 FETCH (UID 4 BODY[] {" MSG1_LEN "}\r\n" MSG1 ")\r\n"
		"a2 OK done\r\n",
	  }, "crm.mail.v1 C schema=crm.mail/1 tenant=acme "
	  "user=alice@acme.example direction=in source=imap-fetch "
	  "mailbox=INBOX uid=4 uidvalidity=1700 idempotency-key=* |" MSG1
	  "|\nCAPTURED;\n", false, NULL, 40 },
	{ "lost sync mid-append: blind, the record aborted", {
		"Ca1 APPEND INBOX {" MSG1_LEN "+}\r\nFrom: x\r\n\r\nbody",
		"S* OK still here\rX\n",
		"C more body\r\n",
	  }, "crm.mail.v1 A schema=crm.mail/1 tenant=acme "
	  "user=alice@acme.example direction=in source=imap-append "
	  "mailbox=INBOX\nBLIND;\n" },
	{ "data before the continuation: blind, nothing begun", {
		"Ca1 APPEND INBOX {10}\r\n0123456789\r\n",
		"S+ go\r\n",
	  }, "BLIND;\n" },
	{ "session ends mid-message: aborted, never committed", {
		SELECT_INBOX,
		"Ca2 UID FETCH 4 BODY.PEEK[]\r\n",
		"S* 1 FETCH (UID 4 BODY[] {" MSG1_LEN "}\r\nFrom: Dana\r\n\r\nBody",
	  }, "crm.mail.v1 A schema=crm.mail/1 tenant=acme "
	  "user=alice@acme.example direction=in source=imap-fetch "
	  "mailbox=INBOX\n\n" },
	{ "flags and internaldate known from earlier FETCHes (mbsync)", {
		SELECT_INBOX,
		"Ca2 UID FETCH 1:* (UID FLAGS)\r\n",
		"S* 1 FETCH (UID 4 FLAGS ($Work))\r\n"
		"* 2 FETCH (UID 5 FLAGS ())\r\na2 OK\r\n",
		"Ca3 UID FETCH 4 (INTERNALDATE)\r\n",
		"S* 1 FETCH (UID 4 INTERNALDATE \"25-Nov-2026 22:08:01 +0000\")"
		"\r\n* 1 FETCH (UID 4 FLAGS (\\Seen $Work))\r\na3 OK\r\n",
		"Ca4 UID FETCH 4 (BODY.PEEK[])\r\n",
		"S* 1 FETCH (UID 4 BODY[] {" MSG1_LEN "}\r\n" MSG1 ")\r\n"
		"a4 OK done\r\n",
		"Ca5 UID FETCH 5 (BODY.PEEK[])\r\n",
		"S* 2 FETCH (UID 5 BODY[] {" MSG2_LEN "}\r\n" MSG2 ")\r\n"
		"a5 OK done\r\n",
	  }, "crm.mail.v1 C schema=crm.mail/1 tenant=acme "
	  "user=alice@acme.example direction=in source=imap-fetch "
	  "mailbox=INBOX uid=4 uidvalidity=1700 flags=\\Seen $Work "
	  "internaldate=25-Nov-2026 22:08:01 +0000 idempotency-key=d523a144 |"
	  MSG1 "|\ncrm.mail.v1 C schema=crm.mail/1 tenant=acme "
	  "user=alice@acme.example direction=in source=imap-fetch "
	  "mailbox=INBOX uid=5 uidvalidity=1700 flags= idempotency-key=*|"
	  MSG2 "|\nCAPTURED;CAPTURED;\n" },
	{ "a message's own flags win over what was known", {
		SELECT_INBOX,
		"Ca2 UID FETCH 4 (UID FLAGS)\r\n",
		"S* 1 FETCH (UID 4 FLAGS ($Work))\r\na2 OK\r\n",
		"Ca3 UID FETCH 4 (FLAGS BODY.PEEK[])\r\n",
		"S* 1 FETCH (UID 4 FLAGS (\\Flagged) BODY[] {" MSG1_LEN "}\r\n"
		MSG1 ")\r\na3 OK done\r\n",
	  }, "crm.mail.v1 C schema=crm.mail/1 tenant=acme "
	  "user=alice@acme.example direction=in source=imap-fetch "
	  "mailbox=INBOX uid=4 uidvalidity=1700 flags=\\Flagged "
	  "idempotency-key=d523a144 |" MSG1 "|\nCAPTURED;\n" },
	{ "new flags without a UID forget what was known", {
		SELECT_INBOX,
		"Ca2 UID FETCH 4 (UID FLAGS INTERNALDATE)\r\n",
		"S* 1 FETCH (UID 4 FLAGS ($Work) INTERNALDATE "
		"\"25-Nov-2026 22:08:01 +0000\")\r\na2 OK\r\n",
		"Ca3 STORE 2 +FLAGS (\\Seen)\r\n",
		"S* 2 FETCH (FLAGS (\\Seen))\r\na3 OK\r\n",
		"Ca4 UID FETCH 4 (BODY.PEEK[])\r\n",
		"S* 1 FETCH (UID 4 BODY[] {" MSG1_LEN "}\r\n" MSG1 ")\r\n"
		"a4 OK done\r\n",
	  }, "crm.mail.v1 C schema=crm.mail/1 tenant=acme "
	  "user=alice@acme.example direction=in source=imap-fetch "
	  "mailbox=INBOX uid=4 uidvalidity=1700 idempotency-key=d523a144 |"
	  MSG1 "|\nCAPTURED;\n" },
	{ "SELECT again, or IDLE, forgets what was known", {
		SELECT_INBOX,
		"Ca2 UID FETCH 4:5 (UID FLAGS)\r\n",
		"S* 1 FETCH (UID 4 FLAGS ($Work))\r\n"
		"* 2 FETCH (UID 5 FLAGS ($Work))\r\na2 OK\r\n",
		SELECT_INBOX,
		"Ca3 UID FETCH 4 (BODY.PEEK[])\r\n",
		"S* 1 FETCH (UID 4 BODY[] {" MSG1_LEN "}\r\n" MSG1 ")\r\n"
		"a3 OK done\r\n",
		"Ca4 UID FETCH 5 (UID FLAGS)\r\n",
		"S* 2 FETCH (UID 5 FLAGS ($Work))\r\na4 OK\r\n",
		"Ca5 IDLE\r\n", "S+ idling\r\n", "CDONE\r\n", "Sa5 OK\r\n",
		"Ca6 UID FETCH 5 (BODY.PEEK[])\r\n",
		"S* 2 FETCH (UID 5 BODY[] {" MSG2_LEN "}\r\n" MSG2 ")\r\n"
		"a6 OK done\r\n",
	  }, "crm.mail.v1 C schema=crm.mail/1 tenant=acme "
	  "user=alice@acme.example direction=in source=imap-fetch "
	  "mailbox=INBOX uid=4 uidvalidity=1700 idempotency-key=d523a144 |"
	  MSG1 "|\ncrm.mail.v1 C schema=crm.mail/1 tenant=acme "
	  "user=alice@acme.example direction=in source=imap-fetch "
	  "mailbox=INBOX uid=5 uidvalidity=1700 idempotency-key=*|"
	  MSG2 "|\nCAPTURED;CAPTURED;\n" },
	{ "no mailbox selected after a failed SELECT", {
		SELECT_INBOX,
		"Ca2 SELECT Nope\r\n",
		"Sa2 NO no such mailbox\r\n",
		"Ca3 FETCH 1 BODY[]\r\n",
		"S* 1 FETCH (BODY[] {" MSG2_LEN "}\r\n" MSG2 ")\r\na3 OK\r\n",
	  }, "crm.mail.v1 C schema=crm.mail/1 tenant=acme "
	  "user=alice@acme.example direction=other source=imap-fetch "
	  "idempotency-key=*|" MSG2 "|\nCAPTURED;\n" },
};

static void
transcript(struct tap_drive *d, char *out, size_t size)
{
	size_t n = 0;

	out[0] = '\0';
	for (unsigned i = 0; i < d->nrecs; i++) {
		struct mem_rec *r = &d->recs[i];
		int k = snprintf(out + n, size - n, "%s %c%.*s", r->topic,
		    r->state == MEM_COMMITTED ? 'C' : r->state == MEM_ABORTED ?
		    'A' : 'O', (int)r->hdrs_len, r->hdrs);

		assert_true(k > 0 && (size_t)k < size - n);
		n += (size_t)k;
		if (r->state == MEM_COMMITTED) {
			k = snprintf(out + n, size - n, " |%.*s|",
			    (int)r->len, r->payload ? (char *)r->payload : "");
			assert_true(k > 0 && (size_t)k < size - n);
			n += (size_t)k;
		}
		out[n++] = '\n';
	}
	snprintf(out + n, size - n, "%.*s\n", (int)d->events_len, d->events);
}

/* "*" in want matches an idempotency key's 8 digits and the space. */
static bool
tr_match(const char *want, const char *got)
{
	while (*want != '\0') {
		if (*want == '*') {
			for (int i = 0; i < 8; i++, got++)
				if (*got == '\0')
					return false;
			if (*got == ' ')
				got++;
			want++;
			if (*want == ' ')
				want++;
			continue;
		}
		if (*want++ != *got++)
			return false;
	}
	return *got == '\0';
}

static void
run_case(const struct tap_case *c, uint32_t seed, char *out, size_t size,
    uint64_t *skipped_r)
{
	struct tap_policy pol;
	struct tap_drive d;
	const char *err;

	memset(&pol, 0, sizeof(pol));
	pol.header_only = c->header_only;
	if (c->block_domains != NULL)
		assert_int_equal(tap_list_parse(&pol.block_domains,
		    c->block_domains, &err), 0);
	tap_drive_init(&d, &pol, c->header_max, seed);
	for (unsigned i = 0; i < STEPS_MAX && c->steps[i] != NULL; i++)
		tap_drive_feed(&d, c->steps[i][0] == 'C' ? IMAP_DIR_CLIENT :
		    IMAP_DIR_SERVER, (const unsigned char *)c->steps[i] + 1,
		    strlen(c->steps[i] + 1));
	/* end of session: what is open is aborted */
	imap_tap_free(&d.tap);
	transcript(&d, out, size);
	*skipped_r += d.skipped;
	tap_drive_free(&d);
	tap_policy_fini(&pol);
}

static void
test_cases(void **state)
{
	static char got[16384];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t skipped = 0;

		for (uint32_t seed = 0; seed < 26; seed++) {
			run_case(&cases[i], seed, got, sizeof(got), &skipped);
			if (!tr_match(cases[i].want, got)) {
				print_error("case \"%s\" seed %u:\nwant:\n%s"
				    "got:\n%s", cases[i].name, seed,
				    cases[i].want, got);
				fail();
			}
		}
		/* the dropped and headers-only bodies were skipped in some
		 * splits, so the transcripts above cover the splice path */
		if ((cases[i].header_only || cases[i].block_domains != NULL) &&
		    skipped == 0) {
			print_error("case \"%s\": no split skipped literal data",
			    cases[i].name);
			fail();
		}
	}
}

enum {
	KB_SETS = IMAP_TAP_KNOWN_FLAGSETS_MAX + 44,	/* distinct lists */
	KB_LISTED = IMAP_TAP_KNOWN_MAX + 512,		/* UIDs listed */
};

/* The INTERNALDATE listed for uid in test_known_bound: every seventh
 * none, every seventh after that one of another form, else the fixed
 * form with every field varying (a space before a one-digit day). */
static bool
known_bound_date(uint32_t uid, char *buf, size_t len, bool *fixed_r)
{
	static const char *months[] = { "Jan", "Feb", "Mar", "Apr", "May",
	    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

	*fixed_r = uid % 7 != 1;
	if (uid % 7 == 2)
		return false;
	if (uid % 7 == 1)
		snprintf(buf, len, "Tue, %u Nov 2026 10:00:00", uid % 28 + 1);
	else
		snprintf(buf, len, "%2u-%s-%04u %02u:%02u:%02u %c%04u",
		    uid % 28 + 1, months[uid % 12], 2000 + uid % 100,
		    uid % 24, uid % 60, uid * 7 % 60, uid % 2 ? '-' : '+',
		    uid % 13 * 100 + uid % 4 * 15);
	return true;
}

/* Known labels stay within IMAP_TAP_KNOWN_MAX UIDs (the first ones seen
 * are kept, later ones are not) and IMAP_TAP_KNOWN_FLAGSETS_MAX distinct
 * flag lists; a list too long is not kept (and forgets the one kept); a
 * UID listed out of order is found; a date is kept, to the byte, when it
 * has RFC 3501's fixed form, and not otherwise. */
static void
test_known_bound(void **state)
{
	static char buf[KB_LISTED * 100 + 4096];
	struct tap_drive d;
	size_t n = 0;
	const char *sel[] = { SELECT_INBOX };
	char flags[IMAP_TAP_KNOWN_FLAGS_MAX + 8], date[64];
	static const uint32_t uids[] = { 1, 2, 3, 14, 15, 16, 256, 257, 299,
	    300, 301, 556, IMAP_TAP_KNOWN_MAX - 1, IMAP_TAP_KNOWN_MAX,
	    IMAP_TAP_KNOWN_MAX + 1, KB_LISTED };
	bool fixed;

	(void)state;
	tap_drive_init(&d, NULL, 0, 7);
	for (size_t i = 0; i < 2; i++)
		tap_drive_feed(&d, sel[i][0] == 'C' ? IMAP_DIR_CLIENT :
		    IMAP_DIR_SERVER, (const unsigned char *)sel[i] + 1,
		    strlen(sel[i] + 1));
	tap_drive_feed(&d, IMAP_DIR_CLIENT, (const unsigned char *)
	    "a2 UID FETCH 1:* (UID FLAGS INTERNALDATE)\r\n", 43);
	for (uint32_t i = 1; i <= KB_LISTED; i++) {
		/* 1, 3, 2, 4, ...: UID 2 comes after 3 */
		uint32_t u = i == 2 ? 3 : i == 3 ? 2 : i;

		n += (size_t)snprintf(buf + n, sizeof(buf) - n,
		    "* %u FETCH (UID %u FLAGS ($K%u)", u, u, u % KB_SETS);
		if (known_bound_date(u, date, sizeof(date), &fixed))
			n += (size_t)snprintf(buf + n, sizeof(buf) - n,
			    " INTERNALDATE \"%s\"", date);
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, ")\r\n");
		assert_true(n < sizeof(buf) - 256);
	}
	/* UID 2: a flag list over the bound forgets the kept one */
	memset(flags, 'x', sizeof(flags) - 1);
	flags[sizeof(flags) - 1] = '\0';
	n += (size_t)snprintf(buf + n, sizeof(buf) - n,
	    "* 2 FETCH (UID 2 FLAGS ($%s))\r\na2 OK\r\n", flags);
	tap_drive_feed(&d, IMAP_DIR_SERVER, (const unsigned char *)buf, n);
	for (size_t i = 0; i < sizeof(uids) / sizeof(uids[0]); i++) {
		uint32_t uid = uids[i], k = uid % KB_SETS;
		bool kept = uid <= IMAP_TAP_KNOWN_MAX;
		bool has_flags = kept && uid != 2 && k >= 1 &&
		    k <= IMAP_TAP_KNOWN_FLAGSETS_MAX;
		bool has_date = kept && known_bound_date(uid, date,
		    sizeof(date), &fixed) && fixed;
		char want[96];

		n = (size_t)snprintf(buf, sizeof(buf),
		    "b%zu UID FETCH %u (BODY.PEEK[])\r\n", i, uid);
		tap_drive_feed(&d, IMAP_DIR_CLIENT, (unsigned char *)buf, n);
		n = (size_t)snprintf(buf, sizeof(buf),
		    "* 1 FETCH (UID %u BODY[] {" MSG2_LEN "}\r\n" MSG2
		    ")\r\nb%zu OK\r\n", uid, i);
		tap_drive_feed(&d, IMAP_DIR_SERVER, (unsigned char *)buf, n);
		assert_int_equal(d.nrecs, i + 1);
		snprintf(want, sizeof(want), " flags=$K%u ", k);
		if (has_flags)
			assert_non_null(strstr(d.recs[i].hdrs, want));
		else
			assert_null(strstr(d.recs[i].hdrs, " flags="));
		snprintf(want, sizeof(want), " internaldate=%s ", date);
		if (has_date)
			assert_non_null(strstr(d.recs[i].hdrs, want));
		else
			assert_null(strstr(d.recs[i].hdrs, " internaldate="));
	}
	imap_tap_free(&d.tap);
	tap_drive_free(&d);
}

static void
test_direction_fallbacks(void **state)
{
	struct tap_drive d;
	static const struct {
		const char *mailbox;
		enum event_direction dir;
	} t[] = {
		{ "INBOX", EVENT_DIR_IN }, { "Sent", EVENT_DIR_OUT },
		{ "INBOX.Sent", EVENT_DIR_OUT },
		{ "[Gmail]/Sent Mail", EVENT_DIR_OUT },
		{ "Drafts", EVENT_DIR_DRAFT }, { "Trash", EVENT_DIR_OTHER },
		{ "Junk", EVENT_DIR_OTHER }, { "Projects/Acme", EVENT_DIR_IN },
	};

	(void)state;
	tap_drive_init(&d, NULL, 0, 0);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		assert_int_equal(imap_tap_direction(d.tap, t[i].mailbox),
		    t[i].dir);
	tap_drive_free(&d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_known_bound),
		cmocka_unit_test(test_direction_fallbacks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
