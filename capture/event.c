/* event.c - see event.h and docs/events.md. */
#include "capture/event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>

#include "lib/clock_ms.h"
#include "lib/xmalloc.h"

struct event_digest {
	EVP_MD_CTX *ctx;
};

static const char *const event_direction_names[] = {
	[EVENT_DIR_IN] = "in",
	[EVENT_DIR_OUT] = "out",
	[EVENT_DIR_DRAFT] = "draft",
	[EVENT_DIR_OTHER] = "other",
};

static const char *const event_source_names[] = {
	[EVENT_SRC_IMAP_FETCH] = "imap-fetch",
	[EVENT_SRC_IMAP_APPEND] = "imap-append",
	[EVENT_SRC_SMTP] = "smtp",
	[EVENT_SRC_CALDAV] = "caldav",
	[EVENT_SRC_BACKFILL] = "backfill",
};

/* Domain separation: a key from a Message-ID can never equal one from a
 * content hash, and a later scheme gets a new prefix. */
#define EVENT_IDKEY_PREFIX "crm-idkey/1"

const char *
event_direction_name(enum event_direction d)
{
	if ((size_t)d >= sizeof(event_direction_names) /
	    sizeof(*event_direction_names))
		return "other";
	return event_direction_names[d];
}

const char *
event_source_name(enum event_source s)
{
	if ((size_t)s >= sizeof(event_source_names) /
	    sizeof(*event_source_names))
		return "backfill";
	return event_source_names[s];
}

int
event_key(const char *tenant, const char *user, char *buf, size_t size)
{
	int n;

	if (*tenant == '\0' || *user == '\0' || strchr(tenant, '/') != NULL)
		return -1;
	n = snprintf(buf, size, "%s/%s", tenant, user);
	if (n < 0 || (size_t)n >= size)
		return -1;
	return n;
}

void
event_rfc3339_ms(uint64_t ms, char *out)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(out, EVENT_TIME_LEN, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (unsigned)(ms % 1000));
}

static bool
event_wsp(char c)
{
	return c == ' ' || c == '\t';
}

bool
event_message_id(const void *msg, size_t len, const char **id_r,
    size_t *len_r)
{
	const char *p = msg, *end, *line, *eol;

	end = p + (len < EVENT_HEADER_SCAN_MAX ? len : EVENT_HEADER_SCAN_MAX);
	for (line = p; line < end; line = eol) {
		const char *v, *ve, *lt, *gt;

		eol = memchr(line, '\n', (size_t)(end - line));
		eol = eol == NULL ? end : eol + 1;
		if (line[0] == '\n' || (line[0] == '\r' && line + 1 < end &&
		    line[1] == '\n'))
			break;		/* end of the header section */
		if ((size_t)(eol - line) < 11 ||
		    strncasecmp(line, "Message-ID", 10) != 0)
			continue;
		v = line + 10;
		while (v < eol && event_wsp(*v))
			v++;
		if (v == eol || *v != ':')
			continue;
		v++;
		/* The value runs on over folded lines (RFC 5322 2.2.3). */
		ve = eol;
		while (ve < end && event_wsp(*ve)) {
			const char *n = memchr(ve, '\n', (size_t)(end - ve));

			ve = n == NULL ? end : n + 1;
		}
		lt = memchr(v, '<', (size_t)(ve - v));
		gt = lt != NULL ? memchr(lt, '>', (size_t)(ve - lt)) : NULL;
		if (lt != NULL && gt != NULL) {
			v = lt;
			ve = gt + 1;
		} else {
			while (v < ve && (event_wsp(*v) || *v == '\r' ||
			    *v == '\n'))
				v++;
			while (ve > v && (event_wsp(ve[-1]) ||
			    ve[-1] == '\r' || ve[-1] == '\n'))
				ve--;
		}
		if (ve == v || ve - v > EVENT_MESSAGE_ID_MAX)
			return false;
		*id_r = v;
		*len_r = (size_t)(ve - v);
		return true;
	}
	return false;
}

struct event_digest *
event_digest_new(void)
{
	struct event_digest *d = xcalloc(1, sizeof(*d));

	/* Allocation failure aborts, as everywhere (STYLE 8). */
	if ((d->ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(d->ctx, EVP_sha256(), NULL) != 1)
		abort();
	return d;
}

void
event_digest_update(struct event_digest *d, const void *p, size_t n)
{
	if (EVP_DigestUpdate(d->ctx, p, n) != 1)
		abort();
}

void
event_digest_final(struct event_digest *d, uint8_t out[32])
{
	unsigned int n = 32;

	if (EVP_DigestFinal_ex(d->ctx, out, &n) != 1 || n != 32)
		abort();
}

void
event_digest_free(struct event_digest **dp)
{
	if (*dp == NULL)
		return;
	EVP_MD_CTX_free((*dp)->ctx);
	x_free(dp);
}

static void
event_hex(const uint8_t *b, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[2 * n] = '\0';
}

static void
event_idkey(const char *tenant, const char *kind, const void *v, size_t n,
    char *out)
{
	struct event_digest *d = event_digest_new();
	uint8_t md[32];

	event_digest_update(d, EVENT_IDKEY_PREFIX, sizeof(EVENT_IDKEY_PREFIX));
	event_digest_update(d, tenant, strlen(tenant) + 1);
	event_digest_update(d, kind, strlen(kind) + 1);
	event_digest_update(d, v, n);
	event_digest_final(d, md);
	event_digest_free(&d);
	event_hex(md, sizeof(md), out);
}

int
event_idkey_from_message_id(const char *tenant, const char *id,
    size_t id_len, char *out)
{
	if (*tenant == '\0' || id_len == 0)
		return -1;
	event_idkey(tenant, "message-id", id, id_len, out);
	return 0;
}

int
event_idkey_from_content(const char *tenant, const uint8_t digest[32],
    char *out)
{
	if (*tenant == '\0')
		return -1;
	event_idkey(tenant, "content", digest, 32, out);
	return 0;
}

int
event_idkey_for_message(const char *tenant, const void *msg, size_t len,
    char *out)
{
	struct event_digest *d;
	const char *id;
	size_t id_len;
	uint8_t md[32];

	if (event_message_id(msg, len, &id, &id_len))
		return event_idkey_from_message_id(tenant, id, id_len, out);
	d = event_digest_new();
	event_digest_update(d, msg, len);
	event_digest_final(d, md);
	event_digest_free(&d);
	return event_idkey_from_content(tenant, md, out);
}

static void
event_add(struct event_headers *eh, const char *name, const char *value)
{
	if (value == NULL || eh->n >= EVENT_HEADERS_MAX)
		return;
	eh->h[eh->n].name = name;
	eh->h[eh->n].value = value;
	eh->h[eh->n].value_len = strlen(value);
	eh->n++;
}

int
event_headers_fill(struct event_headers *eh, const struct event_meta *m)
{
	if (m->schema == NULL || m->tenant == NULL || m->user == NULL ||
	    *m->tenant == '\0' || *m->user == '\0')
		return -1;
	eh->n = 0;
	event_add(eh, "schema", m->schema);
	event_add(eh, "tenant", m->tenant);
	event_add(eh, "user", m->user);
	event_add(eh, "direction", event_direction_name(m->direction));
	event_add(eh, "source", event_source_name(m->source));
	event_add(eh, "mailbox", m->mailbox);
	if (m->uid != 0) {
		snprintf(eh->uid, sizeof(eh->uid), "%u", m->uid);
		event_add(eh, "uid", eh->uid);
	}
	if (m->uidvalidity != 0) {
		snprintf(eh->uidvalidity, sizeof(eh->uidvalidity), "%u",
		    m->uidvalidity);
		event_add(eh, "uidvalidity", eh->uidvalidity);
	}
	event_add(eh, "flags", m->flags);
	event_add(eh, "internaldate", m->internaldate);
	event_rfc3339_ms(m->observed_at_ms != 0 ? m->observed_at_ms :
	    wall_ms(), eh->observed_at);
	event_add(eh, "observed-at", eh->observed_at);
	event_add(eh, "idempotency-key", m->idempotency_key);
	return 0;
}

const void *
event_header_find(const struct spool_header *hdrs, size_t n,
    const char *name, size_t *len_r)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(hdrs[i].name, name) == 0) {
			*len_r = hdrs[i].value_len;
			return hdrs[i].value;
		}
	return NULL;
}
