/*
 * imip.h - iMIP invitations (RFC 6047) found in a captured mail message,
 * as crm.calendar.v1 records: which text/calendar parts qualify, what the
 * record says about each (capture/ical_meta) and its idempotency key.
 *
 * The MIME walk and transfer decoding are enrich/mime's; the iCalendar
 * reading is capture/ical_meta's (libical).  This file only decides and
 * keys.  A library: never logs, never exits (STYLE 17).
 */
#ifndef CRM_IMIP_H
#define CRM_IMIP_H

#include <stdbool.h>
#include <stddef.h>

#include "capture/event.h"
#include "capture/ical_meta.h"
#include "enrich/mime/mime.h"

#define IMIP_SOURCE "imip"
/* Calendar parts looked at per message; the rest are counted ignored. */
#define IMIP_PARTS_MAX 16

enum imip_part_status {
	IMIP_PART_OK,		/* publish it */
	IMIP_PART_BROKEN,	/* an iMIP part libical refused: no record */
	IMIP_PART_IGNORED,	/* not iMIP (no METHOD, PUBLISH, ...) */
};

struct imip_part {
	enum imip_part_status status;
	const char *error;	/* static reason, when BROKEN or IGNORED */
	const char *text;	/* the decoded part (points into the mime
				 * result), len bytes */
	size_t len;
	const char *method;	/* REQUEST, REPLY or CANCEL when OK */
	struct ical_meta meta;
	char idkey[EVENT_IDKEY_LEN + 1];
};

struct imip_result {
	struct mime_message mime;
	struct imip_part parts[IMIP_PARTS_MAX];
	size_t n;
	unsigned n_ok, n_broken, n_ignored;
};

/* "REQUEST", "REPLY", "CANCEL" (as spelled there) for an iTIP method
 * this daemon publishes, else NULL.  Case-insensitive. */
const char *imip_method(const char *m);

/*
 * The idempotency key of an iMIP record (docs/events.md, "iMIP"): SHA-256
 * hex of "crm-idkey/1" \0 tenant \0 "imip" \0 METHOD \0 UID \0 SEQUENCE
 * \0 who, where who is "" for REQUEST and CANCEL and, for REPLY, the
 * replying attendee (lower case) \0 the reply's content fingerprint (16
 * hex digits).  out gets EVENT_IDKEY_LEN digits and a NUL.  Returns 0, or
 * -1 for an empty tenant, UID or method.
 */
int imip_idkey(const char *tenant, const char *method, const char *uid,
    int sequence, const char *attendee, uint64_t fingerprint, char *out);

/*
 * Parses one crm.mail.v1 value and classifies its text/calendar parts
 * into *r (zeroed first).  ical_meta_init() must have been called.
 * Returns 0, or -1 with a static reason in *errstr_r when the value
 * cannot be a message (mime_parse refused it); r then holds nothing.
 */
int imip_extract(const char *tenant, const void *msg, size_t len,
    const struct mime_limits *limits, struct imip_result *r,
    const char **errstr_r);

void imip_result_free(struct imip_result *r);

#endif
