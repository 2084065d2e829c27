/*
 * event.h - the Kafka event contract in code: topics, schema names, the
 * message key, standard headers and the idempotency key.  docs/events.md is
 * the specification; keep the two in step.
 *
 * Pure code over caller buffers (SHA-256 from OpenSSL's libcrypto).  The
 * proxy uses it to label tap records; crm-capture uses it to fill in an
 * idempotency key a record arrived without.
 */
#ifndef CRM_EVENT_H
#define CRM_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "capture/spool.h"

#define EVENT_TOPIC_MAIL "crm.mail.v1"
#define EVENT_TOPIC_MAIL_SEEN "crm.mail.seen.v1"
#define EVENT_TOPIC_CALENDAR "crm.calendar.v1"
#define EVENT_TOPIC_DRAFTS "crm.drafts.v1"
#define EVENT_TOPIC_DEADLETTER "crm.deadletter.v1"

#define EVENT_SCHEMA_MAIL "crm.mail/1"
#define EVENT_SCHEMA_MAIL_SEEN "crm.mail.seen/1"
#define EVENT_SCHEMA_CALENDAR "crm.calendar/1"
#define EVENT_SCHEMA_DRAFT "crm.drafts/1"

#define EVENT_IDKEY_LEN 64		/* lower-case hex SHA-256 */
#define EVENT_TIME_LEN 25		/* "2026-11-25T22:08:01.123Z" + NUL */
#define EVENT_HEADERS_MAX 12
/* Longest Message-ID we key on; RFC 5322 lines stop at 998 octets. */
#define EVENT_MESSAGE_ID_MAX 998
/* Header section bytes scanned for Message-ID. */
#define EVENT_HEADER_SCAN_MAX (256 * 1024)

enum event_direction {
	EVENT_DIR_IN,
	EVENT_DIR_OUT,
	EVENT_DIR_DRAFT,
	EVENT_DIR_OTHER,
};

enum event_source {
	EVENT_SRC_IMAP_FETCH,
	EVENT_SRC_IMAP_APPEND,
	EVENT_SRC_SMTP,
	EVENT_SRC_CALDAV,
	EVENT_SRC_BACKFILL,
};

/* "in" "out" "draft" "other"; "imap-fetch" "imap-append" "smtp" "caldav"
 * "backfill".  Static strings. */
const char *event_direction_name(enum event_direction d);
const char *event_source_name(enum event_source s);

/*
 * The Kafka message key "<tenant>/<user>" into buf.  Returns its length,
 * or -1 when a part is empty, the tenant contains '/', or it does not fit.
 */
int event_key(const char *tenant, const char *user, char *buf, size_t size);

/* Unix ms -> RFC 3339 UTC with milliseconds, in out[EVENT_TIME_LEN]. */
void event_rfc3339_ms(uint64_t ms, char *out);

/*
 * Finds the Message-ID field in the header section of an RFC 5322 message
 * (the first EVENT_HEADER_SCAN_MAX bytes, up to the first empty line;
 * field name case-insensitive, folded values followed).  id_r, len_r
 * point into msg: the "<...>" token when present, else the trimmed value.
 * Returns false when there is none (or it is over EVENT_MESSAGE_ID_MAX).
 */
bool event_message_id(const void *msg, size_t len, const char **id_r,
    size_t *len_r);

/* Incremental SHA-256 of a message as it streams through the proxy. */
struct event_digest;
struct event_digest *event_digest_new(void);
void event_digest_update(struct event_digest *d, const void *p, size_t n);
/* Writes the 32-byte digest; the object can then only be freed. */
void event_digest_final(struct event_digest *d, uint8_t out[32]);
void event_digest_free(struct event_digest **dp);

/*
 * Idempotency keys (docs/events.md gives the exact bytes hashed).  out
 * receives EVENT_IDKEY_LEN hex digits and a NUL.  Return 0, or -1 for an
 * empty tenant.
 */
int event_idkey_from_message_id(const char *tenant, const char *id,
    size_t id_len, char *out);
int event_idkey_from_content(const char *tenant, const uint8_t digest[32],
    char *out);
/* Message-ID when the message has one, else its content hash. */
int event_idkey_for_message(const char *tenant, const void *msg, size_t len,
    char *out);

/* What the tap knows about one event.  NULL / 0 fields are omitted. */
struct event_meta {
	const char *schema;		/* EVENT_SCHEMA_*, required */
	const char *tenant;		/* required */
	const char *user;		/* mailbox owner, required */
	enum event_direction direction;
	enum event_source source;
	const char *mailbox;
	uint32_t uid;
	uint32_t uidvalidity;
	const char *flags;		/* IMAP flag list, e.g. "\\Seen $Work" */
	const char *internaldate;	/* as IMAP sent it */
	uint64_t observed_at_ms;	/* 0: now */
	const char *idempotency_key;	/* NULL: set at commit or by capture */
};

/* Headers for spool_record_begin(); the strings they point at live in
 * the struct or in *meta, which must outlive the call that uses them. */
struct event_headers {
	struct spool_header h[EVENT_HEADERS_MAX];
	size_t n;
	char uid[12];
	char uidvalidity[12];
	char observed_at[EVENT_TIME_LEN];
};

/* Fills eh from m in the documented order.  Returns 0, or -1 when a
 * required field is missing. */
int event_headers_fill(struct event_headers *eh, const struct event_meta *m);

/* The value of header name in hdrs, or NULL (value_len in *len_r). */
const void *event_header_find(const struct spool_header *hdrs, size_t n,
    const char *name, size_t *len_r);

#endif
