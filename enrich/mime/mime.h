/*
 * mime.h - a raw RFC 5322 message into a bounded, decoded summary.
 *
 * mime_parse() reads one whole message (the value of a crm.mail.v1 record)
 * and returns what enrichment needs: the envelope header fields decoded to
 * UTF-8, the best text/plain and text/html bodies in UTF-8, the list of
 * attachments (name, type, size, SHA-256; never their bytes) and the
 * text/calendar parts with their iTIP METHOD, raw, for the calendar step.
 *
 * Field grammar (addresses, dates, Content-Type, Content-Disposition,
 * Content-Transfer-Encoding) and transfer decoding (base64,
 * quoted-printable) are libetpan's; message ids are tokenized by
 * enrich/ident (ident_msgid_list); the multipart walk, RFC 2047
 * encoded words, RFC 2231 parameters and charset conversion (iconv) are
 * here, because they are where the limits must be enforced.
 *
 * Everything is bounded by struct mime_limits.  Exceeding a structural
 * limit (depth, part count, decoded bytes) never fails the message: the
 * rest is skipped and a MIME_F_* flag says what was cut.  Charsets iconv
 * does not know are decoded as Windows-1252 (or kept when the bytes are
 * valid UTF-8), never failing the message; undecodable bytes become
 * U+FFFD.  The only hard errors are input no message can be: empty, larger
 * than max_message, or a top-level header section larger than max_header.
 *
 * The library never logs and never exits (STYLE 17).  Allocation failure
 * aborts (xmalloc).  Not thread-hostile: no global state.
 */
#ifndef CRM_ENRICH_MIME_H
#define CRM_ENRICH_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mime_limits {
	size_t max_message;	/* whole input; larger is an error */
	size_t max_header;	/* one header section (top or part) */
	size_t max_header_fields; /* fields per header section */
	unsigned max_depth;	/* multipart / message nesting */
	unsigned max_parts;	/* entities walked, all levels */
	size_t max_body;	/* each of text and html, UTF-8 bytes */
	size_t max_calendar;	/* each text/calendar part */
	unsigned max_addrs;	/* per address field */
	unsigned max_refs;	/* References / In-Reply-To ids kept */
};

/* 64 MiB, 256 KiB, 1000, 16, 500, 4 MiB, 1 MiB, 500, 100. */
void mime_limits_default(struct mime_limits *l);

/* Flags: what was approximated or cut.  Informational, never fatal. */
#define MIME_F_DEPTH		0x0001u	/* nesting deeper than max_depth */
#define MIME_F_PARTS		0x0002u	/* more than max_parts entities */
#define MIME_F_BODY_TRUNC	0x0004u	/* text or html cut at max_body */
#define MIME_F_CHARSET		0x0008u	/* unknown charset or bad bytes */
#define MIME_F_HEADER_TRUNC	0x0010u	/* a part's header over the limit */
#define MIME_F_BAD_MULTIPART	0x0020u	/* no boundary / no close line */
#define MIME_F_CAL_TRUNC	0x0040u	/* a calendar part over the limit */
#define MIME_F_ADDR_TRUNC	0x0080u	/* addresses or ids over the limit */
#define MIME_F_BAD_HEADER	0x0100u	/* a field failed its grammar */

struct mime_addr {
	char *name;		/* display name, UTF-8, may be "" */
	char *addr;		/* local@domain as written, may be "" */
};

struct mime_addr_list {
	struct mime_addr *v;
	size_t n;
};

struct mime_attachment {
	char *filename;		/* UTF-8, RFC 2231/2047 decoded; "" if none */
	char *content_type;	/* "type/subtype", lower case */
	char *content_id;	/* without <>; NULL if none */
	bool is_inline;		/* Content-Disposition: inline */
	size_t size;		/* decoded bytes */
	uint8_t sha256[32];	/* of the decoded bytes */
};

struct mime_calendar {
	char *method;		/* upper case ("REQUEST"...), "" if none */
	char *text;		/* UTF-8 iCalendar text, NUL-terminated */
	size_t len;
};

struct mime_message {
	struct mime_addr_list from, to, cc, reply_to;
	char *subject;		/* UTF-8, unfolded; NULL if absent */
	char *date_raw;		/* as written; NULL if absent */
	bool has_date;		/* date parsed: date_utc, date_tz_min */
	int64_t date_utc;	/* seconds since the epoch */
	int date_tz_min;	/* the sender's offset, minutes east */
	char *message_id;	/* without <>; NULL if absent */
	char **in_reply_to;	/* ids without <> */
	size_t n_in_reply_to;
	char **references;	/* ids without <>, oldest first */
	size_t n_references;
	bool has_list_unsubscribe;
	char *auto_submitted;	/* value, lower case; NULL if absent */
	char *precedence;	/* value, lower case; NULL if absent */

	char *text;		/* best text/plain, UTF-8, LF line ends */
	size_t text_len;
	char *html;		/* best text/html, UTF-8 */
	size_t html_len;

	struct mime_attachment *attachments;
	size_t n_attachments;
	struct mime_calendar *calendars;
	size_t n_calendars;

	unsigned flags;		/* MIME_F_* */
	unsigned n_parts;	/* entities walked */
	unsigned depth;		/* deepest nesting seen */
};

/*
 * Parses msg[0..len) into *m (zeroed first).  limits may be NULL for the
 * defaults.  Returns 0 on success; -1 with *errstr_r set to a static
 * string when the input cannot be a message (see the top of this file),
 * in which case *m holds nothing to free (mime_message_free is harmless).
 * msg need not be NUL-terminated and is not kept.
 */
int mime_parse(const char *msg, size_t len, const struct mime_limits *limits,
    struct mime_message *m, const char **errstr_r);

/* Frees everything mime_parse put into *m and zeroes it.  Idempotent. */
void mime_message_free(struct mime_message *m);

/*
 * Helpers, public because the scrubber and the tests use them.
 */

/*
 * Decodes RFC 2047 encoded words in an unstructured header value (and in
 * display names); unfolds; converts raw 8-bit to UTF-8 (valid UTF-8 kept,
 * else Windows-1252).  Returns a new NUL-terminated UTF-8 string of at most
 * max bytes (cut on a character boundary).  Sets *bad_r (if not NULL) when
 * a charset was unknown or bytes were replaced.
 */
char *mime_decode_header(const char *s, size_t len, size_t max, bool *bad_r);

/*
 * Converts in[0..len) from charset (NULL or "" = unknown) to UTF-8.
 * Unknown charsets: bytes kept if valid UTF-8, else read as
 * Windows-1252.  Invalid sequences become U+FFFD.  The result is
 * NUL-terminated, at most max bytes (cut on a character boundary;
 * *trunc_r set).  *bad_r set on an unknown charset or replaced bytes.
 */
char *mime_to_utf8(const char *in, size_t len, const char *charset,
    size_t max, size_t *out_len_r, bool *bad_r, bool *trunc_r);

#endif
