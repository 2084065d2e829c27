/*
 * imap_tap.c - see imap_tap.h.
 *
 * The tap rides on the relay's parsers instead of parsing again: every
 * feed's slice arrives with the parser's verdict, so literal data is
 * recognised by count (the first MIN(len, literal_left) bytes of a feed),
 * never by looking at it.  What the parser does not keep (the UIDVALIDITY
 * and APPENDUID numbers, LIST attributes) is read from a bounded copy of
 * the current line, literal data excluded.
 *
 * The tap keeps its own count of each direction's literal bytes and checks
 * it against the parser's on every feed: if the two ever disagree, it has
 * lost track of which bytes belong to which message and goes blind rather
 * than publish a message with the wrong bytes or labels (STYLE 13).
 */
#include "proxy/imap_tap.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/clock_ms.h"
#include "lib/xmalloc.h"

/* direction -> array index (0 client, 1 server) */
#define DI(dir) ((dir) == IMAP_DIR_CLIENT ? 0 : 1)

struct tap_msg {
	bool used;
	bool seen_only;		/* buffered for a seen notice; no record */
	bool header_section;	/* seen: the literal starts with headers */
	bool decided, dropped, refused, complete;
	enum event_source source;
	enum event_direction direction;
	char mailbox[IMAP_TAP_MAILBOX_MAX + 1];
	bool has_mailbox;
	uint64_t observed_ms;
	struct tap_decision dec;
	unsigned char *hdr;	/* header buffer, grows to header_max */
	size_t hdr_len, hdr_end, hdr_cap;
	void *rec;
	struct event_digest *dg;
	uint64_t size, expect;
	/* APPEND */
	char tag[IMAP_TAG_MAX + 1];
	char flags[IMAP_FLAGS_MAX + 1];
	char date[IMAP_DATE_MAX + 1];
};

/*
 * What an earlier FETCH response said of a UID without bringing its
 * message: mbsync asks "UID FETCH 1:* (UID FLAGS)" first and then each
 * message alone, so the message's own response has no FLAGS.  Kept for
 * the selected mailbox only; forgotten when it changes, when the client
 * IDLEs (a session idling for hours holds none) and when new FLAGS come
 * without a UID (tap_known_note).
 *
 * Compact, since a client lists a whole mailbox: entries sorted by UID
 * (listings come in order, so an entry is almost always appended), flag
 * lists interned (a mailbox has few distinct ones), the date packed.
 */
struct tap_known {
	uint32_t uid;
	uint16_t flagset;	/* 1 + index in known_sets; 0: not known */
	uint16_t date_form;	/* 0: not known; else month (1-12), the
				 * zone's sign (bit 4), a space for the
				 * day's first digit (bit 5) */
	uint64_t date_digits;	/* the date's 16 digits, a nibble each */
};

struct tap_known_sets {
	char flags[IMAP_TAP_KNOWN_FLAGSETS_MAX][IMAP_TAP_KNOWN_FLAGS_MAX + 1];
	unsigned n;
};

enum tap_pending_kind { TAP_PEND_SELECT, TAP_PEND_CLOSE };

struct tap_pending {
	char tag[IMAP_TAG_MAX + 1];
	enum tap_pending_kind kind;
	char mailbox[IMAP_TAP_MAILBOX_MAX + 1];
	bool has_mailbox;
};

struct tap_special {
	char name[IMAP_TAP_MAILBOX_MAX + 1];
	enum event_direction dir;
};

struct imap_tap {
	struct imap_tap_conf conf;
	char *tenant, *user;
	char key[SPOOL_KEY_MAX + 1];
	size_t key_len;
	size_t header_max;
	bool blind;
	uint64_t counts[IMAP_TAP_EV_COUNT];

	/* per direction: literal bytes still to come, and whose they are */
	uint64_t lit_left[2];
	struct tap_msg *lit_msg[2];
	char line[2][IMAP_TAP_LINE_MAX];
	size_t line_len[2];
	bool line_trunc[2];
	size_t seg_start;	/* client: line offset after the last literal */

	struct tap_msg fetch_mail, fetch_seen;
	bool fetch_whole;	/* this FETCH response carried a message */
	struct tap_msg *appends[IMAP_TAP_APPENDS_MAX];	/* on first use */

	struct tap_pending pending[IMAP_TAP_PENDING_MAX];
	unsigned npending;
	char selected[IMAP_TAP_MAILBOX_MAX + 1];
	bool has_selected;
	uint32_t uidvalidity, pending_uidvalidity;

	struct tap_special *special[IMAP_TAP_SPECIAL_MAX];
	unsigned nspecial;

	struct tap_known *known;	/* grown up to IMAP_TAP_KNOWN_MAX */
	unsigned nknown, known_cap;
	struct tap_known_sets *known_sets;	/* on first use */
};

static void tap_msg_abort(struct imap_tap *t, struct tap_msg *m, bool tell);
static void tap_literal_data(struct imap_tap *t, enum imap_dir dir,
    const unsigned char *d, size_t n);

static void
tap_notify(struct imap_tap *t, const struct tap_msg *m,
    enum imap_tap_event ev, uint32_t uid, const char *reason,
    const char *detail, enum spool_status st)
{
	struct imap_tap_info info = {
		.ev = ev,
		.source = m != NULL ? m->source : EVENT_SRC_IMAP_FETCH,
		.direction = m != NULL ? m->direction : EVENT_DIR_OTHER,
		.mailbox = m != NULL && m->has_mailbox ? m->mailbox : NULL,
		.uid = uid,
		.size = m != NULL ? m->size : 0,
		.reason = reason,
		.detail = detail != NULL ? detail : "",
		.status = st,
	};

	t->counts[ev]++;
	if (t->conf.notify != NULL)
		t->conf.notify(t->conf.notify_arg, &info);
}

static const char *
tap_status_name(enum spool_status st)
{
	switch (st) {
	case SPOOL_OK:
		return "ok";
	case SPOOL_FULL:
		return "spool full";
	case SPOOL_TOO_BIG:
		return "message too big";
	case SPOOL_INVALID:
		return "invalid record";
	case SPOOL_IO_ERROR:
		return "spool write error";
	}
	return "?";
}

struct imap_tap *
imap_tap_new(const struct imap_tap_conf *conf)
{
	struct imap_tap *t = xcalloc(1, sizeof(*t));
	int n;

	t->conf = *conf;
	t->tenant = xstrdup(conf->tenant);
	t->user = xstrdup(conf->user);
	t->conf.tenant = t->tenant;
	t->conf.user = t->user;
	t->header_max = conf->header_max != 0 ? conf->header_max :
	    IMAP_TAP_HEADER_MAX_DEFAULT;
	n = event_key(t->tenant, t->user, t->key, sizeof(t->key));
	if (n < 0) {
		/* no valid key: nothing could be published anyway */
		t->blind = true;
		t->key_len = 0;
	} else {
		t->key_len = (size_t)n;
	}
	return t;
}

/* ---- mailbox directions ---- */

static const char *
tap_leaf(const char *mailbox)
{
	const char *a = strrchr(mailbox, '/'), *b = strrchr(mailbox, '.');

	if (b > a)
		a = b;
	return a != NULL ? a + 1 : mailbox;
}

enum event_direction
imap_tap_direction(const struct imap_tap *t, const char *mailbox)
{
	static const char *const sent[] = { "sent", "sent items",
		"sent messages", "sent mail", "outbox", "gesendet",
		"gesendete elemente", "envoyés", NULL };
	static const char *const drafts[] = { "drafts", "draft",
		"entwürfe", "brouillons", NULL };
	static const char *const other[] = { "trash", "junk", "spam",
		"deleted items", "deleted messages", "bin", "junk e-mail",
		NULL };
	const char *leaf;

	if (mailbox == NULL)
		return EVENT_DIR_OTHER;
	for (unsigned i = 0; i < t->nspecial; i++)
		if (strcmp(t->special[i]->name, mailbox) == 0)
			return t->special[i]->dir;
	leaf = tap_leaf(mailbox);
	for (unsigned i = 0; sent[i] != NULL; i++)
		if (strcasecmp(leaf, sent[i]) == 0)
			return EVENT_DIR_OUT;
	for (unsigned i = 0; drafts[i] != NULL; i++)
		if (strcasecmp(leaf, drafts[i]) == 0)
			return EVENT_DIR_DRAFT;
	for (unsigned i = 0; other[i] != NULL; i++)
		if (strcasecmp(leaf, other[i]) == 0)
			return EVENT_DIR_OTHER;
	return EVENT_DIR_IN;
}

/* ---- one message ---- */

static void
tap_msg_start(struct imap_tap *t, struct tap_msg *m, enum event_source src,
    const char *mailbox, size_t mailbox_len, uint64_t size, bool seen_only)
{
	memset(m, 0, sizeof(*m));
	m->used = true;
	m->seen_only = seen_only;
	m->source = src;
	if (mailbox != NULL && mailbox_len <= IMAP_TAP_MAILBOX_MAX) {
		memcpy(m->mailbox, mailbox, mailbox_len);
		m->mailbox[mailbox_len] = '\0';
		m->has_mailbox = true;
	}
	m->direction = imap_tap_direction(t, m->has_mailbox ? m->mailbox :
	    NULL);
	m->observed_ms = wall_ms();
	m->expect = size;
	if (!seen_only)
		m->dg = event_digest_new();
}

/* Frees what the message held (an idle session keeps no buffers). */
static void
tap_msg_reset(struct tap_msg *m)
{
	event_digest_free(&m->dg);
	free(m->hdr);
	memset(m, 0, sizeof(*m));
}

/* event_message_id() over the buffered header bytes (none yet: false). */
static bool
tap_message_id(const struct tap_msg *m, size_t len, const char **id_r,
    size_t *len_r)
{
	return m->hdr != NULL && len > 0 && event_message_id(m->hdr, len,
	    id_r, len_r);
}

static void
tap_msg_refused(struct imap_tap *t, struct tap_msg *m, enum spool_status st)
{
	if (m->rec != NULL) {
		t->conf.sink->abort(t->conf.sink_arg, m->rec);
		m->rec = NULL;
	}
	m->refused = true;
	tap_notify(t, m, IMAP_TAP_EV_REFUSED, 0, tap_status_name(st), NULL,
	    st);
}

static void
tap_msg_append(struct imap_tap *t, struct tap_msg *m, const void *d,
    size_t n)
{
	enum spool_status st;

	if (m->rec == NULL || n == 0)
		return;
	st = t->conf.sink->append(t->conf.sink_arg, m->rec, d, n);
	if (st != SPOOL_OK)
		tap_msg_refused(t, m, st);
}

/* The header section is buffered (or the bound reached): ask the policy,
 * then begin the record with what is buffered. */
static void
tap_msg_decide(struct imap_tap *t, struct tap_msg *m)
{
	struct event_headers eh;
	struct event_meta meta = {
		.schema = EVENT_SCHEMA_MAIL,
		.tenant = t->tenant,
		.user = t->user,
		.direction = m->direction,
		.source = m->source,
		.mailbox = m->has_mailbox ? m->mailbox : NULL,
		.observed_at_ms = m->observed_ms,
	};
	enum spool_status st = SPOOL_OK;
	size_t hlen = m->hdr_end != 0 ? m->hdr_end : m->hdr_len, idlen;
	const char *id;

	m->decided = true;
	if (m->seen_only)
		return;
	/* A whole header section with a Message-ID keys the record: the
	 * content hash (a SHA-256 pass over every byte) is not needed. */
	if (m->hdr_end != 0 && tap_message_id(m, m->hdr_end, &id,
	    &idlen))
		event_digest_free(&m->dg);
	tap_policy_decide(t->conf.policy, meta.mailbox, m->hdr, hlen,
	    &m->dec);
	if (m->dec.verdict == TAP_VERDICT_DROP) {
		m->dropped = true;
		return;
	}
	if (event_headers_fill(&eh, &meta) != 0) {
		tap_msg_refused(t, m, SPOOL_INVALID);
		return;
	}
	m->rec = t->conf.sink->begin(t->conf.sink_arg, EVENT_TOPIC_MAIL,
	    t->key, t->key_len, eh.h, eh.n, &st);
	if (m->rec == NULL) {
		tap_msg_refused(t, m, st != SPOOL_OK ? st : SPOOL_IO_ERROR);
		return;
	}
	tap_msg_append(t, m, m->hdr, m->dec.verdict ==
	    TAP_VERDICT_HEADERS_ONLY ? hlen : m->hdr_len);
}

static void
tap_msg_data(struct imap_tap *t, struct tap_msg *m, const unsigned char *d,
    size_t n)
{
	m->size += n;
	if (m->dg != NULL)
		event_digest_update(m->dg, d, n);
	if (!m->decided) {
		size_t take = t->header_max - m->hdr_len, from;

		if (take > n)
			take = n;
		from = m->hdr_len > 3 ? m->hdr_len - 3 : 0;
		if (m->hdr_len + take > m->hdr_cap) {
			size_t cap = m->hdr_cap != 0 ? m->hdr_cap : 4096;

			while (cap < m->hdr_len + take)
				cap *= 2;
			if (cap > t->header_max)
				cap = t->header_max;
			m->hdr = xreallocarray(m->hdr, cap, 1);
			m->hdr_cap = cap;
		}
		if (take > 0)
			memcpy(m->hdr + m->hdr_len, d, take);
		m->hdr_len += take;
		d += take;
		n -= take;
		for (size_t i = from; i + 1 < m->hdr_len && m->hdr_end == 0;
		    i++) {
			if (m->hdr[i] != '\n')
				continue;
			if (m->hdr[i + 1] == '\n')
				m->hdr_end = i + 2;
			else if (m->hdr[i + 1] == '\r' && i + 2 < m->hdr_len &&
			    m->hdr[i + 2] == '\n')
				m->hdr_end = i + 3;
		}
		if (m->seen_only)
			return;
		if (m->hdr_end == 0 && m->hdr_len < t->header_max)
			return;
		tap_msg_decide(t, m);
	}
	if (m->rec != NULL && m->dec.verdict == TAP_VERDICT_CAPTURE)
		tap_msg_append(t, m, d, n);
}

static void
tap_msg_literal_end(struct imap_tap *t, struct tap_msg *m)
{
	m->complete = m->size == m->expect;
	if (!m->decided && !m->seen_only)
		tap_msg_decide(t, m);
}

/* The header bytes the Message-ID may be read from: up to the blank line,
 * or up to the last whole line when the bound cut the section. */
static size_t
tap_msg_header_len(const struct tap_msg *m)
{
	size_t n = m->hdr_end != 0 ? m->hdr_end : m->hdr_len;

	if (m->hdr_end == 0 && !m->complete) {
		while (n > 0 && m->hdr[n - 1] != '\n')
			n--;
	}
	return n;
}

static void
tap_flags_strip(const char *in, char *out, size_t size)
{
	size_t n = strlen(in);

	if (n >= 2 && in[0] == '(' && in[n - 1] == ')') {
		in++;
		n -= 2;
	}
	if (n >= size)
		n = size - 1;
	memcpy(out, in, n);
	out[n] = '\0';
}

static void
tap_msg_commit(struct imap_tap *t, struct tap_msg *m, uint32_t uid,
    uint32_t uidvalidity, const char *flags, const char *date)
{
	struct spool_header h[8];
	char uidbuf[12], uvbuf[12], fl[IMAP_FLAGS_MAX + 1];
	char idkey[EVENT_IDKEY_LEN + 1];
	const char *id;
	size_t idlen, n = 0;
	uint8_t digest[32];
	enum spool_status st;

	if (m->dropped) {
		tap_notify(t, m, IMAP_TAP_EV_BLOCKED, uid, m->dec.reason,
		    m->dec.detail, SPOOL_OK);
		tap_msg_reset(m);
		return;
	}
	if (m->refused) {
		tap_msg_reset(m);
		return;
	}
	if (!m->complete || m->rec == NULL) {
		tap_msg_abort(t, m, true);
		return;
	}
	if (tap_message_id(m, tap_msg_header_len(m), &id, &idlen)) {
		event_idkey_from_message_id(t->tenant, id, idlen, idkey);
	} else if (m->dg != NULL) {
		event_digest_final(m->dg, digest);
		event_idkey_from_content(t->tenant, digest, idkey);
	} else {
		tap_msg_abort(t, m, true);	/* cannot happen: never guess */
		return;
	}
#define HDR(nm, v) do { \
	h[n].name = (nm); \
	h[n].value = (v); \
	h[n].value_len = strlen(v); \
	n++; \
} while (0)
	if (uid != 0) {
		snprintf(uidbuf, sizeof(uidbuf), "%u", uid);
		HDR("uid", uidbuf);
	}
	if (uidvalidity != 0) {
		snprintf(uvbuf, sizeof(uvbuf), "%u", uidvalidity);
		HDR("uidvalidity", uvbuf);
	}
	if (flags != NULL && *flags != '\0') {
		tap_flags_strip(flags, fl, sizeof(fl));
		HDR("flags", fl);
	}
	if (date != NULL && *date != '\0')
		HDR("internaldate", date);
	HDR("idempotency-key", idkey);
	if (m->dec.verdict == TAP_VERDICT_HEADERS_ONLY)
		HDR("content", "headers-only");
#undef HDR
	st = t->conf.sink->commit(t->conf.sink_arg, m->rec, h, n);
	m->rec = NULL;
	if (st != SPOOL_OK)
		tap_notify(t, m, IMAP_TAP_EV_REFUSED, uid, tap_status_name(st),
		    NULL, st);
	else
		tap_notify(t, m, m->dec.verdict == TAP_VERDICT_HEADERS_ONLY ?
		    IMAP_TAP_EV_HEADERS_ONLY : IMAP_TAP_EV_CAPTURED, uid, NULL,
		    NULL, SPOOL_OK);
	tap_msg_reset(m);
}

static void
tap_msg_abort(struct imap_tap *t, struct tap_msg *m, bool tell)
{
	if (!m->used)
		return;
	if (m->rec != NULL) {
		t->conf.sink->abort(t->conf.sink_arg, m->rec);
		m->rec = NULL;
	}
	if (tell && !m->seen_only && !m->dropped && !m->refused)
		tap_notify(t, m, IMAP_TAP_EV_ABORTED, 0, NULL, NULL, SPOOL_OK);
	for (int d = 0; d < 2; d++)
		if (t->lit_msg[d] == m)
			t->lit_msg[d] = NULL;
	tap_msg_reset(m);
}

/* A seen notice: a FETCH showed part of a message (or its headers). */
static void
tap_seen(struct imap_tap *t, struct tap_msg *m, const struct imap_line *l)
{
	struct spool_header h[EVENT_HEADERS_MAX + 4];
	struct event_headers eh;
	struct event_meta meta = {
		.schema = EVENT_SCHEMA_MAIL_SEEN,
		.tenant = t->tenant,
		.user = t->user,
		.direction = m->direction,
		.source = EVENT_SRC_IMAP_FETCH,
		.mailbox = m->has_mailbox ? m->mailbox : NULL,
		.uid = l->fetch.has_uid ? l->fetch.uid : 0,
		.uidvalidity = t->uidvalidity,
		.observed_at_ms = m->observed_ms,
	};
	char size[24];
	const char *id = NULL;
	size_t idlen = 0, n;
	enum spool_status st = SPOOL_OK;
	void *rec;

	if (m->header_section) {
		size_t hl = tap_msg_header_len(m);

		if (tap_policy_decide(t->conf.policy, meta.mailbox, m->hdr, hl,
		    &m->dec) == TAP_VERDICT_DROP) {
			tap_notify(t, m, IMAP_TAP_EV_BLOCKED, meta.uid,
			    m->dec.reason, m->dec.detail, SPOOL_OK);
			return;
		}
		if (!tap_message_id(m, hl, &id, &idlen))
			id = NULL;
	} else if (!tap_policy_folder_ok(t->conf.policy, meta.mailbox)) {
		tap_notify(t, m, IMAP_TAP_EV_BLOCKED, meta.uid,
		    "folder-not-opted-in", NULL, SPOOL_OK);
		return;
	}
	if (event_headers_fill(&eh, &meta) != 0)
		return;
	n = eh.n;
	memcpy(h, eh.h, n * sizeof(h[0]));
	if (l->fetch.has_size) {
		snprintf(size, sizeof(size), "%llu",
		    (unsigned long long)l->fetch.rfc822_size);
		h[n++] = (struct spool_header){ "size", size, strlen(size) };
	}
	if (id != NULL)
		h[n++] = (struct spool_header){ "message-id", id, idlen };
	rec = t->conf.sink->begin(t->conf.sink_arg, EVENT_TOPIC_MAIL_SEEN,
	    t->key, t->key_len, h, n, &st);
	if (rec == NULL) {
		tap_notify(t, m, IMAP_TAP_EV_REFUSED, meta.uid,
		    tap_status_name(st), NULL, st);
		return;
	}
	st = t->conf.sink->commit(t->conf.sink_arg, rec, NULL, 0);
	tap_notify(t, m, st == SPOOL_OK ? IMAP_TAP_EV_SEEN :
	    IMAP_TAP_EV_REFUSED, meta.uid, st == SPOOL_OK ? NULL :
	    tap_status_name(st), NULL, st);
}

/* ---- blind ---- */

static void
tap_go_blind(struct imap_tap *t, const char *why)
{
	if (t->blind)
		return;
	tap_msg_abort(t, &t->fetch_mail, false);
	tap_msg_abort(t, &t->fetch_seen, false);
	for (unsigned i = 0; i < IMAP_TAP_APPENDS_MAX; i++)
		if (t->appends[i] != NULL)
			tap_msg_abort(t, t->appends[i], false);
	t->blind = true;
	tap_notify(t, NULL, IMAP_TAP_EV_BLIND, 0, why, NULL, SPOOL_OK);
}

bool
imap_tap_is_blind(const struct imap_tap *t)
{
	return t->blind;
}

bool
imap_tap_literal_unwanted(const struct imap_tap *t, enum imap_dir dir)
{
	const struct tap_msg *m = t->lit_msg[DI(dir)];

	if (t->blind || m == NULL)
		return true;
	/* a seen notice still collects its header section; an undecided
	 * message still needs its headers for the policy */
	if (m->seen_only || !m->decided)
		return false;
	return m->dropped || m->refused || (m->dg == NULL &&
	    m->dec.verdict == TAP_VERDICT_HEADERS_ONLY);
}

void
imap_tap_skip_literal(struct imap_tap *t, enum imap_dir dir, uint64_t n)
{
	if (t->blind)
		return;
	if (n > t->lit_left[DI(dir)] || !imap_tap_literal_unwanted(t, dir)) {
		tap_go_blind(t, "skipped literal data the tap needed");
		return;
	}
	tap_literal_data(t, dir, NULL, n);
}

const uint64_t *
imap_tap_counts(const struct imap_tap *t)
{
	return t->counts;
}

void
imap_tap_free(struct imap_tap **tp)
{
	struct imap_tap *t = *tp;

	if (t == NULL)
		return;
	tap_msg_abort(t, &t->fetch_mail, false);
	tap_msg_abort(t, &t->fetch_seen, false);
	tap_msg_reset(&t->fetch_mail);
	tap_msg_reset(&t->fetch_seen);
	for (unsigned i = 0; i < IMAP_TAP_APPENDS_MAX; i++) {
		if (t->appends[i] == NULL)
			continue;
		tap_msg_abort(t, t->appends[i], false);
		tap_msg_reset(t->appends[i]);
		x_free(&t->appends[i]);
	}
	for (unsigned i = 0; i < t->nspecial; i++)
		free(t->special[i]);
	free(t->known);
	free(t->known_sets);
	free(t->tenant);
	free(t->user);
	x_free(tp);
}

/* ---- small readers of the kept line ---- */

/* The number after "[CODE " in the kept server line, 0 if none. */
static bool
tap_code_args(const struct imap_tap *t, const char *code, const char **p_r,
    const char **end_r)
{
	const char *l = t->line[1], *end = l + t->line_len[1];
	size_t cl = strlen(code);

	for (const char *p = l; p + cl + 2 <= end; p++) {
		if (*p == '[' && strncasecmp(p + 1, code, cl) == 0 &&
		    p[cl + 1] == ' ') {
			*p_r = p + cl + 2;
			*end_r = memchr(*p_r, ']', (size_t)(end - *p_r));
			if (*end_r == NULL)
				*end_r = end;
			return true;
		}
	}
	return false;
}

static bool
tap_number(const char **pp, const char *end, uint32_t *v_r)
{
	const char *p = *pp;
	uint64_t v = 0;

	if (p >= end || !isdigit((unsigned char)*p))
		return false;
	while (p < end && isdigit((unsigned char)*p)) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > UINT32_MAX)
			return false;
		p++;
	}
	*pp = p;
	*v_r = (uint32_t)v;
	return true;
}

/* The i-th UID (0-based) of an APPENDUID set "7" "5:9" "3,8:9", or 0. */
static uint32_t
tap_uidset_nth(const char *p, const char *end, unsigned i)
{
	while (p < end) {
		uint32_t a, b;

		if (!tap_number(&p, end, &a))
			return 0;
		b = a;
		if (p < end && *p == ':' && (p++, !tap_number(&p, end, &b)))
			return 0;
		if (b < a) {
			uint32_t x = a;

			a = b;
			b = x;
		}
		if ((uint64_t)i <= (uint64_t)b - a)
			return a + i;
		i -= (unsigned)(b - a + 1);
		if (p < end && *p == ',')
			p++;
		else
			return 0;
	}
	return 0;
}

/* "* LIST (\HasNoChildren \Sent) "/" Sent": remember Sent as outgoing. */
static void
tap_list_line(struct imap_tap *t)
{
	const char *l = t->line[1], *end = l + t->line_len[1], *p, *q;
	enum event_direction dir;
	char name[IMAP_TAP_MAILBOX_MAX + 1];
	size_t n = 0;

	if (t->line_trunc[1] || (p = memchr(l, '(', (size_t)(end - l))) ==
	    NULL || (q = memchr(p, ')', (size_t)(end - p))) == NULL)
		return;
#define HAS(a) (memmem(p, (size_t)(q - p), (a), strlen(a)) != NULL)
	if (HAS("\\Sent"))
		dir = EVENT_DIR_OUT;
	else if (HAS("\\Drafts"))
		dir = EVENT_DIR_DRAFT;
	else if (HAS("\\Trash") || HAS("\\Junk"))
		dir = EVENT_DIR_OTHER;
	else
		return;
#undef HAS
	p = q + 1;
	while (p < end && *p == ' ')
		p++;
	if (p < end && *p == '"') {	/* delimiter */
		p++;
		if (p < end && *p == '\\')
			p++;
		p += 2;
	} else if (end - p >= 3 && strncasecmp(p, "NIL", 3) == 0) {
		p += 3;
	} else {
		return;
	}
	while (p < end && *p == ' ')
		p++;
	if (p < end && *p == '"') {
		for (p++; p < end && *p != '"'; p++) {
			if (*p == '\\' && p + 1 < end)
				p++;
			if (n == IMAP_TAP_MAILBOX_MAX)
				return;
			name[n++] = *p;
		}
		if (p >= end)
			return;
	} else {
		while (p < end && *p != ' ' && *p != '\r' && *p != '\n' &&
		    *p != '{') {
			if (n == IMAP_TAP_MAILBOX_MAX)
				return;
			name[n++] = *p++;
		}
		if (p < end && *p == '{')
			return;	/* a literal name: not kept */
	}
	if (n == 0)
		return;
	name[n] = '\0';
	for (unsigned i = 0; i < t->nspecial; i++) {
		if (strcmp(t->special[i]->name, name) == 0) {
			t->special[i]->dir = dir;
			return;
		}
	}
	if (t->nspecial == IMAP_TAP_SPECIAL_MAX)
		return;
	t->special[t->nspecial] = xmalloc(sizeof(*t->special[0]));
	memcpy(t->special[t->nspecial]->name, name, n + 1);
	t->special[t->nspecial++]->dir = dir;
}

/* ---- events from the parsers ---- */

static bool
tap_section_whole(const char *s)
{
	return strcmp(s, "BODY[]") == 0 || strcmp(s, "RFC822") == 0 ||
	    strcmp(s, "BINARY[]") == 0;
}

static bool
tap_section_headers(const char *s)
{
	return strncmp(s, "BODY[HEADER", 11) == 0 ||
	    strcmp(s, "RFC822.HEADER") == 0 ||
	    strncmp(s, "BODY[]<0>", 9) == 0 ||
	    strncmp(s, "BINARY[]<0>", 11) == 0;
}

static void
tap_append_args(struct imap_tap *t, struct tap_msg *m)
{
	const char *seg = t->line[0] + t->seg_start;
	const char *end = t->line[0] + t->line_len[0];
	const char *a, *b, *q;

	if (t->seg_start > t->line_len[0])
		return;
	a = memchr(seg, '(', (size_t)(end - seg));
	if (a != NULL && (b = memchr(a, ')', (size_t)(end - a))) != NULL &&
	    (size_t)(b - a) < sizeof(m->flags)) {
		memcpy(m->flags, a, (size_t)(b - a + 1));
		m->flags[b - a + 1] = '\0';
	}
	q = memchr(seg, '"', (size_t)(end - seg));
	if (q != NULL && (b = memchr(q + 1, '"', (size_t)(end - q - 1))) !=
	    NULL && (size_t)(b - q - 1) < sizeof(m->date)) {
		/* skip the mailbox when it was the quoted string */
		if (t->seg_start == 0 && m->has_mailbox &&
		    (size_t)(b - q - 1) == strlen(m->mailbox) &&
		    memcmp(q + 1, m->mailbox, (size_t)(b - q - 1)) == 0) {
			q = memchr(b + 1, '"', (size_t)(end - b - 1));
			if (q == NULL || (b = memchr(q + 1, '"',
			    (size_t)(end - q - 1))) == NULL ||
			    (size_t)(b - q - 1) >= sizeof(m->date))
				return;
		}
		memcpy(m->date, q + 1, (size_t)(b - q - 1));
		m->date[b - q - 1] = '\0';
	}
}

/* "tag APPEND {n}": this literal is the mailbox name, not a message. */
static bool
tap_append_mailbox_literal(const struct imap_tap *t,
    const struct imap_line *l)
{
	const char *p = t->line[0], *end = p + t->line_len[0];
	size_t tl = strlen(l->tag);

	if (t->seg_start != 0 || tl == 0 || (size_t)(end - p) < tl + 8 ||
	    memcmp(p, l->tag, tl) != 0)
		return false;
	p += tl;
	return strncasecmp(p, " APPEND {", 9) == 0;
}

static const char *
strcasestr_n(const char *h, size_t n, const char *needle)
{
	size_t k = strlen(needle);

	for (size_t i = 0; i + k <= n; i++)
		if (strncasecmp(h + i, needle, k) == 0)
			return h + i;
	return NULL;
}

static void
tap_literal(struct imap_tap *t, enum imap_dir dir,
    const struct imap_parser *p)
{
	const struct imap_line *l = &p->line;
	uint64_t size = imap_parser_literal_size(p);
	struct tap_msg *m = NULL;

	t->lit_left[DI(dir)] = size;
	t->lit_msg[DI(dir)] = NULL;
	if (dir == IMAP_DIR_SERVER) {
		const char *sec = imap_parser_literal_section(p);
		const char *sel = t->has_selected ? t->selected : NULL;
		size_t sel_len = sel != NULL ? strlen(sel) : 0;

		if (l->kind == IMAP_LINE_UNTAGGED &&
		    strcmp(l->name, "FETCH") == 0 && *sec != '\0') {
			if (tap_section_whole(sec)) {
				if (!t->fetch_whole && !t->fetch_mail.used) {
					t->fetch_whole = true;
					m = &t->fetch_mail;
					tap_msg_start(t, m,
					    EVENT_SRC_IMAP_FETCH, sel,
					    sel_len, size, false);
				}
			} else if (!t->fetch_seen.used) {
				m = &t->fetch_seen;
				tap_msg_start(t, m, EVENT_SRC_IMAP_FETCH,
				    sel, sel_len, size, true);
				m->header_section = tap_section_headers(sec);
			}
		}
	} else if (l->kind == IMAP_LINE_COMMAND &&
	    strcmp(l->name, "APPEND") == 0 && !t->line_trunc[0] &&
	    strcasestr_n(t->line[0], t->line_len[0], "CATENATE") == NULL &&
	    !tap_append_mailbox_literal(t, l) && l->has_arg1 &&
	    !l->arg1_truncated) {
		for (unsigned i = 0; i < IMAP_TAP_APPENDS_MAX; i++) {
			if (t->appends[i] == NULL)
				t->appends[i] = xcalloc(1,
				    sizeof(*t->appends[i]));
			if (!t->appends[i]->used) {
				m = t->appends[i];
				break;
			}
		}
		if (m != NULL) {
			tap_msg_start(t, m, EVENT_SRC_IMAP_APPEND, l->arg1,
			    l->arg1_len, size, false);
			snprintf(m->tag, sizeof(m->tag), "%s", l->tag);
			tap_append_args(t, m);
		} else {
			tap_notify(t, NULL, IMAP_TAP_EV_REFUSED, 0,
			    "too many APPENDs in flight", NULL,
			    SPOOL_FULL);
		}
	}
	if (dir == IMAP_DIR_CLIENT)
		t->seg_start = t->line_len[0];
	t->lit_msg[DI(dir)] = m;
	if (size == 0 && m != NULL) {
		tap_msg_literal_end(t, m);
		t->lit_msg[DI(dir)] = NULL;
	}
}

/* n bytes of dir's literal went by: fed (d), or skipped (d NULL: the
 * message, unwanted, only counts them). */
static void
tap_literal_data(struct imap_tap *t, enum imap_dir dir,
    const unsigned char *d, size_t n)
{
	struct tap_msg *m = t->lit_msg[DI(dir)];

	t->lit_left[DI(dir)] -= n;
	if (m == NULL)
		return;
	if (d != NULL)
		tap_msg_data(t, m, d, n);
	else
		m->size += n;
	if (t->lit_left[DI(dir)] == 0) {
		tap_msg_literal_end(t, m);
		t->lit_msg[DI(dir)] = NULL;
	}
}

static void
tap_known_forget(struct imap_tap *t)
{
	x_free(&t->known);
	x_free(&t->known_sets);
	t->nknown = t->known_cap = 0;
}

/* Where uid is, or would go, in the sorted table. */
static unsigned
tap_known_pos(const struct imap_tap *t, uint32_t uid)
{
	unsigned lo = 0, hi = t->nknown;

	if (hi > 0 && t->known[hi - 1].uid < uid)
		return hi;	/* a listing in order: past the end */
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (t->known[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static const struct tap_known *
tap_known_find(const struct imap_tap *t, uint32_t uid)
{
	unsigned i = tap_known_pos(t, uid);

	return i < t->nknown && t->known[i].uid == uid ? &t->known[i] : NULL;
}

/* The entry for uid, made if there is room; NULL if there is not. */
static struct tap_known *
tap_known_entry(struct imap_tap *t, uint32_t uid)
{
	unsigned i = tap_known_pos(t, uid);

	if (i < t->nknown && t->known[i].uid == uid)
		return &t->known[i];
	if (t->nknown == IMAP_TAP_KNOWN_MAX)
		return NULL;
	if (t->nknown == t->known_cap) {
		t->known_cap = t->known_cap == 0 ? 256 : 2 * t->known_cap;
		t->known = xreallocarray(t->known, t->known_cap,
		    sizeof(*t->known));
	}
	memmove(&t->known[i + 1], &t->known[i],
	    (t->nknown - i) * sizeof(*t->known));
	t->nknown++;
	memset(&t->known[i], 0, sizeof(*t->known));
	t->known[i].uid = uid;
	return &t->known[i];
}

/* The interned flag list's number (1-based), 0 if it cannot be kept. */
static uint16_t
tap_known_flagset(struct imap_tap *t, const char *flags)
{
	struct tap_known_sets *s;
	size_t n = strlen(flags);

	if (n > IMAP_TAP_KNOWN_FLAGS_MAX)
		return 0;
	if (t->known_sets == NULL)
		t->known_sets = xcalloc(1, sizeof(*t->known_sets));
	s = t->known_sets;
	for (unsigned i = s->n; i-- > 0; )	/* the newest first */
		if (strcmp(s->flags[i], flags) == 0)
			return (uint16_t)(i + 1);
	if (s->n == IMAP_TAP_KNOWN_FLAGSETS_MAX)
		return 0;
	memcpy(s->flags[s->n], flags, n + 1);
	return (uint16_t)++s->n;
}

static const char tap_months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May",
    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
/* RFC 3501 date-time without its quotes: '#' a digit, '_' a digit or a
 * space (the day's first), 'M' the month, '+' the zone's sign. */
static const char tap_date_form[] = "_#-MMM-#### ##:##:## +####";

_Static_assert(sizeof(tap_date_form) == IMAP_TAP_KNOWN_DATE_LEN + 1,
    "the date form is RFC 3501's");

/* Packs date into k; false (nothing kept) if it has another form. */
static bool
tap_date_pack(struct tap_known *k, const char *date)
{
	uint64_t digits = 0;
	unsigned form = 0, month = 0;

	if (strlen(date) != IMAP_TAP_KNOWN_DATE_LEN)
		return false;
	for (unsigned m = 0; m < 12; m++)
		if (memcmp(date + 3, tap_months[m], 3) == 0)
			month = m + 1;
	if (month == 0)
		return false;
	form = month;
	for (size_t i = 0; i < IMAP_TAP_KNOWN_DATE_LEN; i++) {
		char f = tap_date_form[i], c = date[i];

		if (f == '_' && c == ' ') {
			form |= 1u << 5;
			digits <<= 4;
		} else if (f == '#' || f == '_') {
			if (c < '0' || c > '9')
				return false;
			digits = digits << 4 | (uint64_t)(c - '0');
		} else if (f == '+') {
			if (c != '+' && c != '-')
				return false;
			if (c == '-')
				form |= 1u << 4;
		} else if (f != 'M' && c != f) {
			return false;
		}
	}
	k->date_form = (uint16_t)form;
	k->date_digits = digits;
	return true;
}

/* Writes k's date into buf (IMAP_TAP_KNOWN_DATE_LEN + 1 bytes). */
static void
tap_date_unpack(const struct tap_known *k, char *buf)
{
	unsigned shift = 64;

	for (size_t i = 0; i < IMAP_TAP_KNOWN_DATE_LEN; i++) {
		char f = tap_date_form[i];

		if (f == '#' || f == '_') {
			unsigned dgt;

			shift -= 4;
			dgt = (unsigned)(k->date_digits >> shift) & 15;
			buf[i] = f == '_' && (k->date_form & 1u << 5) ? ' ' :
			    (char)('0' + dgt);
		} else if (f == '+') {
			buf[i] = k->date_form & 1u << 4 ? '-' : '+';
		} else if (f == 'M') {
			buf[i] = tap_months[(k->date_form & 15) - 1][i - 3];
		} else {
			buf[i] = f;
		}
	}
	buf[IMAP_TAP_KNOWN_DATE_LEN] = '\0';
}

/*
 * Notes the FLAGS and INTERNALDATE of a FETCH response without a message.
 * A value too long to keep forgets the old one rather than keep it.  New
 * FLAGS without a UID (a STORE's answer, another client's change) may be
 * any message's: everything known is forgotten rather than left stale.
 */
static void
tap_known_note(struct imap_tap *t, const struct imap_line *l)
{
	struct tap_known *k;

	if (!l->fetch.has_uid) {
		if (l->fetch.has_flags)
			tap_known_forget(t);
		return;
	}
	if (!l->fetch.has_flags && !l->fetch.has_internaldate)
		return;
	if ((k = tap_known_entry(t, l->fetch.uid)) == NULL)
		return;
	if (l->fetch.has_flags)
		k->flagset = tap_known_flagset(t, l->fetch.flags);
	if (l->fetch.has_internaldate && !tap_date_pack(k,
	    l->fetch.internaldate))
		k->date_form = 0;
}

static void
tap_fetch_end(struct imap_tap *t, const struct imap_line *l)
{
	if (t->fetch_mail.used) {
		/* the response's own items first, else the session's */
		const struct tap_known *k = l->fetch.has_uid ?
		    tap_known_find(t, l->fetch.uid) : NULL;
		const char *flags = l->fetch.has_flags ? l->fetch.flags : NULL;
		const char *date = l->fetch.has_internaldate ?
		    l->fetch.internaldate : NULL;
		char kdate[IMAP_TAP_KNOWN_DATE_LEN + 1];

		if (k != NULL && flags == NULL && k->flagset != 0)
			flags = t->known_sets->flags[k->flagset - 1];
		if (k != NULL && date == NULL && k->date_form != 0) {
			tap_date_unpack(k, kdate);
			date = kdate;
		}
		tap_msg_commit(t, &t->fetch_mail,
		    l->fetch.has_uid ? l->fetch.uid : 0, t->uidvalidity,
		    flags, date);
	} else if (!t->fetch_whole) {
		tap_known_note(t, l);
	}
	if (t->fetch_seen.used) {
		if (!t->fetch_whole)
			tap_seen(t, &t->fetch_seen, l);
		tap_msg_reset(&t->fetch_seen);
	}
	t->fetch_whole = false;
}

static void
tap_tagged(struct imap_tap *t, const struct imap_line *l)
{
	bool ok = strcmp(l->name, "OK") == 0;
	const char *set = NULL, *set_end = NULL;
	uint32_t uv = 0;
	unsigned nth = 0;

	for (unsigned i = 0; i < t->npending; i++) {
		struct tap_pending *pd = &t->pending[i];

		if (strcmp(pd->tag, l->tag) != 0)
			continue;
		tap_known_forget(t);	/* another mailbox, or none */
		if (pd->kind == TAP_PEND_SELECT) {
			t->has_selected = ok && pd->has_mailbox;
			if (t->has_selected) {
				memcpy(t->selected, pd->mailbox,
				    sizeof(t->selected));
				t->uidvalidity = t->pending_uidvalidity;
			} else {
				t->uidvalidity = 0;
			}
		} else if (ok) {
			t->has_selected = false;
			t->uidvalidity = 0;
		}
		t->pending[i] = t->pending[--t->npending];
		break;
	}
	if (ok && tap_code_args(t, "APPENDUID", &set, &set_end)) {
		if (!tap_number(&set, set_end, &uv) || set >= set_end ||
		    *set != ' ')
			set = NULL;
		else
			set++;
	} else {
		set = NULL;
	}
	for (unsigned i = 0; i < IMAP_TAP_APPENDS_MAX; i++) {
		struct tap_msg *m = t->appends[i];

		if (m == NULL || !m->used || strcmp(m->tag, l->tag) != 0)
			continue;
		if (ok) {
			uint32_t uid = set != NULL ?
			    tap_uidset_nth(set, set_end, nth) : 0;

			nth++;
			if (t->lit_msg[0] == m) {
				/* answered before its bytes all came */
				tap_msg_abort(t, m, true);
				t->lit_left[0] = 0;
				continue;
			}
			tap_msg_commit(t, m, uid, set != NULL ? uv : 0,
			    m->flags, m->date);
		} else {
			if (t->lit_msg[0] == m)
				t->lit_left[0] = 0;
			tap_msg_abort(t, m, true);
		}
	}
}

static void
tap_client_line(struct imap_tap *t, const struct imap_line *l)
{
	struct tap_pending *pd;

	if (l->kind != IMAP_LINE_COMMAND || l->tag[0] == '\0')
		return;
	if (strcmp(l->name, "IDLE") == 0) {
		tap_known_forget(t);
		return;
	}
	if (strcmp(l->name, "SELECT") != 0 && strcmp(l->name, "EXAMINE") !=
	    0 && strcmp(l->name, "CLOSE") != 0 &&
	    strcmp(l->name, "UNSELECT") != 0)
		return;
	if (t->npending == IMAP_TAP_PENDING_MAX) {
		/* cannot follow the mailbox any more: never guess it */
		tap_go_blind(t, "too many SELECTs in flight");
		return;
	}
	pd = &t->pending[t->npending++];
	memset(pd, 0, sizeof(*pd));
	snprintf(pd->tag, sizeof(pd->tag), "%s", l->tag);
	if (l->name[0] == 'S' || l->name[0] == 'E') {
		pd->kind = TAP_PEND_SELECT;
		if (l->has_arg1 && !l->arg1_truncated &&
		    l->arg1_len <= IMAP_TAP_MAILBOX_MAX) {
			memcpy(pd->mailbox, l->arg1, l->arg1_len);
			pd->mailbox[l->arg1_len] = '\0';
			pd->has_mailbox = true;
		}
	} else {
		pd->kind = TAP_PEND_CLOSE;
	}
}

static void
tap_server_line(struct imap_tap *t, const struct imap_line *l)
{
	const char *a, *e;

	if (l->kind != IMAP_LINE_UNTAGGED || strcmp(l->name, "FETCH") != 0) {
		/* a message literal belongs to a FETCH response */
		tap_msg_abort(t, &t->fetch_mail, true);
		if (t->fetch_seen.used)
			tap_msg_reset(&t->fetch_seen);
		t->fetch_whole = false;
	}
	switch (l->kind) {
	case IMAP_LINE_TAGGED:
		if (l->tag[0] != '\0')
			tap_tagged(t, l);
		break;
	case IMAP_LINE_UNTAGGED:
		if (strcmp(l->name, "FETCH") == 0)
			tap_fetch_end(t, l);
		else if (strcmp(l->name, "LIST") == 0 ||
		    strcmp(l->name, "LSUB") == 0)
			tap_list_line(t);
		else if (strcmp(l->code, "UIDVALIDITY") == 0 &&
		    tap_code_args(t, "UIDVALIDITY", &a, &e) &&
		    !tap_number(&a, e, &t->pending_uidvalidity))
			t->pending_uidvalidity = 0;
		break;
	default:
		break;
	}
}

static void
tap_keep(struct imap_tap *t, enum imap_dir dir, const unsigned char *d,
    size_t n)
{
	size_t room = IMAP_TAP_LINE_MAX - t->line_len[DI(dir)];

	if (n > room) {
		n = room;
		t->line_trunc[DI(dir)] = true;
	}
	memcpy(t->line[DI(dir)] + t->line_len[DI(dir)], d, n);
	t->line_len[DI(dir)] += n;
}

void
imap_tap_feed(struct imap_tap *t, enum imap_dir dir,
    const struct imap_parser *p, const unsigned char *data, size_t len,
    uint64_t lit_before, enum imap_parse_result r)
{
	size_t lit;

	if (t->blind)
		return;
	if (r == IMAP_PARSE_BLIND) {
		tap_go_blind(t, "parser blind");
		return;
	}
	/* our count of literal bytes must be the parser's */
	if (lit_before != t->lit_left[DI(dir)]) {
		if (dir != IMAP_DIR_CLIENT || lit_before != 0) {
			tap_go_blind(t, "literal count out of step");
			return;
		}
		if (imap_parser_mode(p) != IMAP_MODE_LITERAL_WAIT) {
			/* the server refused the literal before it was
			 * sent (tagged reply instead of "+") */
			if (t->lit_msg[0] != NULL)
				tap_msg_abort(t, t->lit_msg[0], true);
			t->lit_left[0] = 0;
			t->lit_msg[0] = NULL;
		}
	}
	lit = lit_before < len ? (size_t)lit_before : len;
	if (lit > 0)
		tap_literal_data(t, dir, data, lit);
	if (r == IMAP_PARSE_ERROR) {
		/* The literal data before the error was literal data however
		 * the input was split; what follows it is not understood. */
		tap_go_blind(t, dir == IMAP_DIR_CLIENT ?
		    "client stream not understood" :
		    "server stream not understood");
		return;
	}
	tap_keep(t, dir, data + lit, len - lit);
	if (r == IMAP_PARSE_LITERAL) {
		tap_literal(t, dir, p);
		return;
	}
	if (r != IMAP_PARSE_LINE)
		return;
	if (dir == IMAP_DIR_CLIENT)
		tap_client_line(t, &p->line);
	else
		tap_server_line(t, &p->line);
	t->line_len[DI(dir)] = 0;
	t->line_trunc[DI(dir)] = false;
	if (dir == IMAP_DIR_CLIENT)
		t->seg_start = 0;
}
