/*
 * imap_tap.h - the capture tap of one relayed IMAP session.
 *
 * The relay feeds both directions' bytes to its parsers (imap_parse.h); the
 * tap sees the same slices, in the same order, together with the parser's
 * verdict for each, and turns them into spool records:
 *
 *   server -> client  a FETCH answer carrying a whole message (BODY[],
 *                     RFC822, BINARY[]) becomes a record on crm.mail.v1,
 *                     streamed as the literal passes; UID, FLAGS and
 *                     INTERNALDATE, before or after the literal in the same
 *                     response, go into the commit headers.  A partial or
 *                     header-only FETCH becomes a notice on crm.mail.seen.v1.
 *   client -> server  every message of an APPEND (MULTIAPPEND included) is
 *                     streamed into a record, committed when the server
 *                     answers the command OK (UID and UIDVALIDITY from
 *                     APPENDUID), aborted otherwise.
 *
 * Before a record is begun the header section is buffered (at most
 * header_max bytes) and the edge policy (tap_policy.h) decides: drop,
 * headers only, or capture.  Beyond that buffer the tap holds no message
 * bytes: they go to the sink as they pass.
 *
 * Fail-open (STYLE 3, 13): the tap never asks the relay to wait or change a
 * byte.  When a parser loses sync the tap goes blind for the rest of the
 * session: open records are aborted and nothing more is captured (one
 * IMAP_TAP_EV_BLIND event).  It never guesses.
 *
 * The sink is where records go (the spool in crm-proxy, memory in tests).
 * Pure code: includes no libevent, OpenSSL or rdkafka header.
 */
#ifndef CRM_IMAP_TAP_H
#define CRM_IMAP_TAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "capture/event.h"
#include "capture/spool.h"
#include "proxy/imap_parse.h"
#include "proxy/tap_policy.h"

#define IMAP_TAP_HEADER_MAX_DEFAULT (64 * 1024)
#define IMAP_TAP_APPENDS_MAX 16		/* messages of pending APPENDs */
#define IMAP_TAP_SPECIAL_MAX 32		/* LIST SPECIAL-USE names kept */
#define IMAP_TAP_LINE_MAX 4096		/* line bytes kept, literals excluded */
#define IMAP_TAP_MAILBOX_MAX 512
#define IMAP_TAP_PENDING_MAX 8 		/* SELECT/EXAMINE/CLOSE in flight */
/* FLAGS / INTERNALDATE known from earlier FETCH responses, per session:
 * UIDs kept (the first ones seen in the mailbox; 16 bytes each, the table
 * grows as they come), distinct flag lists kept (with their parentheses,
 * each up to FLAGS_MAX bytes), so at most 256 KiB + 12 KiB when full.
 * A date is kept when it has RFC 3501's fixed form
 * ("dd-Mon-yyyy hh:mm:ss +zzzz", 26 bytes). */
#define IMAP_TAP_KNOWN_MAX 16384
#define IMAP_TAP_KNOWN_FLAGSETS_MAX 256
#define IMAP_TAP_KNOWN_FLAGS_MAX 47
#define IMAP_TAP_KNOWN_DATE_LEN 26

/* Where records go.  begin returns a handle for that record (NULL with
 * *st_r != SPOOL_OK when refused); the other calls take it back.  A sink may
 * hold several records open at once (one per handle). */
struct imap_tap_sink {
	void *(*begin)(void *arg, const char *topic, const void *key,
	    size_t key_len, const struct spool_header *h, size_t n,
	    enum spool_status *st_r);
	enum spool_status (*append)(void *arg, void *rec, const void *data,
	    size_t len);
	enum spool_status (*commit)(void *arg, void *rec,
	    const struct spool_header *h, size_t n);
	void (*abort)(void *arg, void *rec);
};

enum imap_tap_event {
	IMAP_TAP_EV_CAPTURED,	/* committed to crm.mail.v1 */
	IMAP_TAP_EV_HEADERS_ONLY, /* committed, body left out by policy */
	IMAP_TAP_EV_SEEN,	/* committed to crm.mail.seen.v1 */
	IMAP_TAP_EV_BLOCKED,	/* dropped by policy: nothing written */
	IMAP_TAP_EV_ABORTED,	/* APPEND refused, or cut short */
	IMAP_TAP_EV_REFUSED,	/* the sink refused or failed (full, too big,
				 * I/O error): lost, counted */
	IMAP_TAP_EV_BLIND,	/* sync lost; tap off for the session */
	IMAP_TAP_EV_COUNT,
};

/* What an event is about.  Strings are valid during the callback only.
 * Never carries message bytes or addresses. */
struct imap_tap_info {
	enum imap_tap_event ev;
	enum event_source source;
	enum event_direction direction;
	const char *mailbox;		/* may be NULL */
	uint32_t uid;			/* 0: unknown */
	uint64_t size;			/* message bytes seen */
	const char *reason;		/* BLOCKED: policy reason; REFUSED:
					 * "spool full" ...; BLIND: parser's */
	const char *detail;		/* BLOCKED: the pattern, or "" */
	enum spool_status status;	/* REFUSED */
};

struct imap_tap_conf {
	const char *tenant;		/* required */
	const char *user;		/* mailbox owner, required */
	const struct tap_policy *policy;	/* NULL: capture everything */
	size_t header_max;		/* 0: IMAP_TAP_HEADER_MAX_DEFAULT */
	const struct imap_tap_sink *sink;
	void *sink_arg;
	/* Optional: told about every event (metrics, the audit log). */
	void (*notify)(void *arg, const struct imap_tap_info *info);
	void *notify_arg;
};

struct imap_tap;

/* A tap for one session; conf's strings and policy are copied or must
 * outlive the tap (policy: borrowed).  Never NULL (xmalloc). */
struct imap_tap *imap_tap_new(const struct imap_tap_conf *conf);

/* Aborts what is still open (a session that ends mid-message or before an
 * APPEND's answer captures nothing from it), frees *tp, sets it NULL. */
void imap_tap_free(struct imap_tap **tp);

/*
 * One parser feed, as the relay just did it:
 *   dir        which parser (IMAP_DIR_CLIENT: client -> server bytes)
 *   p          that parser, after the feed (its line facts are read)
 *   data, len  the bytes the feed consumed (len = *consumed_r)
 *   lit_before imap_parser_literal_left() taken before the feed when
 *              imap_parser_in_literal() was true, else 0: the first
 *              MIN(len, lit_before) bytes are literal data
 *   r          what the feed returned
 * Call for every feed in stream order, including ones that consumed 0
 * bytes.  The client parser must see imap_parser_server_*() before this is
 * called for the server line that drove them (the relay already does).
 */
void imap_tap_feed(struct imap_tap *t, enum imap_dir dir,
    const struct imap_parser *p, const unsigned char *data, size_t len,
    uint64_t lit_before, enum imap_parse_result r);

bool imap_tap_is_blind(const struct imap_tap *t);

/*
 * Literal data the relay may move without showing it to the tap (its
 * splice path).  imap_tap_literal_unwanted() is true when the tap is
 * blind, when no message rides on dir's current literal, or when that
 * message is already decided and the rest of its bytes would only be
 * counted: dropped by the policy, refused by the sink, or headers-only and
 * keyed by its Message-ID (no content hash to feed).  Only then may
 * imap_tap_skip_literal() be called, right after the parser skipped the
 * same n bytes (imap_parser_skip_literal()); it leaves the tap where a
 * feed of them would have.
 */
bool imap_tap_literal_unwanted(const struct imap_tap *t, enum imap_dir dir);
void imap_tap_skip_literal(struct imap_tap *t, enum imap_dir dir,
    uint64_t n);

/* Events so far, by enum imap_tap_event. */
const uint64_t *imap_tap_counts(const struct imap_tap *t);

/* Direction of a mailbox for this session: LIST/LSUB SPECIAL-USE seen so
 * far, else common names (Sent, Drafts, Trash, Junk ...), else "in". */
enum event_direction imap_tap_direction(const struct imap_tap *t,
    const char *mailbox);

#endif
