/*
 * imap_tap_drive.h - drives imap_tap the way relay.c does, for the unit
 * test and the fuzz target.
 *
 * A session is a list of steps, each the bytes one side sends next.  Each
 * step is fed to that side's parser in chunks chosen by a seed (0: whole,
 * 1: one byte at a time, else pseudo-random sizes); every feed's slice and
 * verdict go to the tap, and server lines drive the client parser's mode
 * (continuation, tagged) as the relay does.  Random splits also skip
 * literal data the tap does not want (imap_tap_literal_unwanted()) instead
 * of feeding it, as the relay's splice path does; the transcript must not
 * change.  Records land in a memory sink
 * that keeps their state, headers and payload, so a run can be printed as
 * a transcript and two splits compared.
 */
#ifndef CRM_IMAP_TAP_DRIVE_H
#define CRM_IMAP_TAP_DRIVE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/imap_parse.h"
#include "proxy/imap_tap.h"

#define TAP_DRIVE_RECS 64
#define TAP_DRIVE_HDRS 2048
#define TAP_DRIVE_PAYLOAD_MAX (4u << 20)

enum { MEM_OPEN = 1, MEM_COMMITTED, MEM_ABORTED };

struct mem_rec {
	char topic[64];
	char hdrs[TAP_DRIVE_HDRS];
	size_t hdrs_len;
	unsigned char *payload;
	size_t len;
	int state;
};

struct tap_drive {
	struct imap_parser cp, sp;
	struct imap_tap *tap;
	struct mem_rec recs[TAP_DRIVE_RECS];
	unsigned nrecs;
	char events[2048];
	size_t events_len;
	uint32_t seed, rng;
	unsigned open_now;
	uint64_t skipped;	/* literal bytes skipped, not fed */
};

static inline void
mem_hdrs_add(struct mem_rec *r, const struct spool_header *h, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int k;

		if (strcmp(h[i].name, "observed-at") == 0)
			continue;
		k = snprintf(r->hdrs + r->hdrs_len,
		    sizeof(r->hdrs) - r->hdrs_len, " %s=%.*s", h[i].name,
		    strcmp(h[i].name, "idempotency-key") == 0 ? 8 :
		    (int)h[i].value_len, (const char *)h[i].value);
		if (k > 0 && (size_t)k < sizeof(r->hdrs) - r->hdrs_len)
			r->hdrs_len += (size_t)k;
	}
}

static inline void *
mem_begin(void *arg, const char *topic, const void *key, size_t key_len,
    const struct spool_header *h, size_t n, enum spool_status *st_r)
{
	struct tap_drive *d = arg;
	struct mem_rec *r;

	(void)key;
	(void)key_len;
	if (d->nrecs == TAP_DRIVE_RECS) {
		*st_r = SPOOL_FULL;
		return NULL;
	}
	r = &d->recs[d->nrecs++];
	memset(r, 0, sizeof(*r));
	snprintf(r->topic, sizeof(r->topic), "%s", topic);
	mem_hdrs_add(r, h, n);
	r->state = MEM_OPEN;
	d->open_now++;
	*st_r = SPOOL_OK;
	return r;
}

static inline enum spool_status
mem_append(void *arg, void *rec, const void *data, size_t len)
{
	struct mem_rec *r = rec;

	(void)arg;
	if (r->state != MEM_OPEN)
		abort();
	if (r->len + len > TAP_DRIVE_PAYLOAD_MAX)
		return SPOOL_TOO_BIG;
	r->payload = realloc(r->payload, r->len + len + 1);
	if (r->payload == NULL)
		abort();
	memcpy(r->payload + r->len, data, len);
	r->len += len;
	return SPOOL_OK;
}

static inline enum spool_status
mem_commit(void *arg, void *rec, const struct spool_header *h, size_t n)
{
	struct tap_drive *d = arg;
	struct mem_rec *r = rec;

	if (r->state != MEM_OPEN)
		abort();
	mem_hdrs_add(r, h, n);
	r->state = MEM_COMMITTED;
	d->open_now--;
	return SPOOL_OK;
}

static inline void
mem_abort(void *arg, void *rec)
{
	struct tap_drive *d = arg;
	struct mem_rec *r = rec;

	if (r->state != MEM_OPEN)
		abort();
	r->state = MEM_ABORTED;
	d->open_now--;
}

static const struct imap_tap_sink mem_sink = {
	mem_begin, mem_append, mem_commit, mem_abort,
};

static inline void
tap_drive_notify(void *arg, const struct imap_tap_info *i)
{
	static const char *const names[] = { "CAPTURED", "HEADERS_ONLY",
		"SEEN", "BLOCKED", "ABORTED", "REFUSED", "BLIND" };
	struct tap_drive *d = arg;
	int k;

	k = snprintf(d->events + d->events_len,
	    sizeof(d->events) - d->events_len, "%s%s%s%s;", names[i->ev],
	    i->ev == IMAP_TAP_EV_BLOCKED ? " " : "",
	    i->ev == IMAP_TAP_EV_BLOCKED ? i->reason : "",
	    i->ev == IMAP_TAP_EV_BLOCKED && *i->detail ? "" : "");
	if (k > 0 && (size_t)k < sizeof(d->events) - d->events_len)
		d->events_len += (size_t)k;
}

static inline void
tap_drive_init(struct tap_drive *d, const struct tap_policy *policy,
    size_t header_max, uint32_t seed)
{
	struct imap_tap_conf c = {
		.tenant = "acme",
		.user = "alice@acme.example",
		.policy = policy,
		.header_max = header_max,
		.sink = &mem_sink,
		.notify = tap_drive_notify,
	};

	memset(d, 0, sizeof(*d));
	c.sink_arg = d;
	c.notify_arg = d;
	imap_parser_init(&d->cp, IMAP_DIR_CLIENT, 0);
	imap_parser_init(&d->sp, IMAP_DIR_SERVER, 1 << 20);
	d->tap = imap_tap_new(&c);
	d->seed = seed;
	d->rng = seed * 2654435761u + 1;
}

static inline size_t
tap_drive_chunk(struct tap_drive *d, size_t left)
{
	size_t n;

	if (d->seed == 0)
		return left;
	if (d->seed == 1)
		return 1;
	d->rng ^= d->rng << 13;
	d->rng ^= d->rng >> 17;
	d->rng ^= d->rng << 5;
	n = 1 + d->rng % 41;
	return n < left ? n : left;
}

/* One step: bytes one side sends. */
static inline void
tap_drive_feed(struct tap_drive *d, enum imap_dir dir,
    const unsigned char *data, size_t len)
{
	struct imap_parser *p = dir == IMAP_DIR_CLIENT ? &d->cp : &d->sp;

	while (len > 0) {
		size_t chunk = tap_drive_chunk(d, len);

		data += chunk;
		len -= chunk;
		for (const unsigned char *q = data - chunk; chunk > 0;) {
			const char *err;
			size_t used = 0;
			uint64_t lit = imap_parser_in_literal(p) ?
			    imap_parser_literal_left(p) : 0;
			enum imap_parse_result r;

			/* random splits also skip literal data the tap does
			 * not want, as the relay's splice path does */
			if (d->seed > 1 && imap_parser_literal_opaque(p) &&
			    imap_tap_literal_unwanted(d->tap, dir) &&
			    (d->rng & 2) != 0) {
				used = chunk < lit ? chunk : (size_t)lit;
				if (!imap_parser_skip_literal(p, used))
					abort();
				imap_tap_skip_literal(d->tap, dir, used);
				d->skipped += used;
				q += used;
				chunk -= used;
				continue;
			}
			r = imap_parser_feed(p, q, chunk, &used, &err);

			imap_tap_feed(d->tap, dir, p, q, used, lit, r);
			if (r == IMAP_PARSE_LINE && dir == IMAP_DIR_SERVER) {
				if (p->line.kind == IMAP_LINE_CONTINUATION)
					imap_parser_server_continuation(&d->cp);
				else if (p->line.kind == IMAP_LINE_TAGGED)
					imap_parser_server_tagged(&d->cp,
					    p->line.tag);
			}
			q += used;
			chunk -= used;
			if (used == 0)
				break;
		}
	}
}

static inline void
tap_drive_free(struct tap_drive *d)
{
	imap_tap_free(&d->tap);
	for (unsigned i = 0; i < d->nrecs; i++)
		free(d->recs[i].payload);
	/* every record the tap began was committed or aborted */
	if (d->open_now != 0)
		abort();
}

#endif
