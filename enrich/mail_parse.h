/*
 * mail_parse.h - the fields crm-enrich takes from one RFC 5322 message.
 *
 * mail_parse() is the single place a message is turned into struct
 * mail_parsed; the rest of crm-enrich reads only the struct, so the
 * parser behind it (libetpan's mailimf/mailmime today) can be swapped
 * for the project's own MIME library without touching the store.
 *
 * Every string is NUL-terminated, valid UTF-8 (text_utf8_clean) and
 * bounded by the limits below; a message over a limit keeps what fits
 * and counts the rest (truncated fields are flagged, never an error).
 */
#ifndef CRM_ENRICH_MAIL_PARSE_H
#define CRM_ENRICH_MAIL_PARSE_H

#include <stddef.h>
#include <stdint.h>

#define MAIL_ADDRS_MAX 1000		/* From+To+Cc+Bcc entries kept */
#define MAIL_REFS_MAX 200		/* References entries kept (newest) */
#define MAIL_ATTACHMENTS_MAX 500
#define MAIL_FIELD_MAX 4096		/* subject, names, message-ids */
#define MAIL_BODY_MAX (4u * 1024 * 1024)	/* text/plain body kept */
#define MAIL_MIME_DEPTH_MAX 20

enum mail_role {
	MAIL_ROLE_FROM,
	MAIL_ROLE_TO,
	MAIL_ROLE_CC,
	MAIL_ROLE_BCC,
};
extern const char *const mail_role_names[];

struct mail_addr {
	enum mail_role role;
	char *address;		/* lower-cased addr-spec */
	const char *domain;	/* points into address */
	char *display_name;	/* decoded, or NULL */
};

struct mail_attachment {
	char *filename;		/* decoded, or NULL */
	char *content_type;	/* "type/subtype", lower case */
	uint64_t size;		/* decoded bytes */
	char sha256[65];	/* of the decoded bytes, lower-case hex */
};

struct mail_parsed {
	char *message_id;	/* without <>, or NULL */
	char *in_reply_to;	/* first msg-id, without <>, or NULL */
	char **refs;		/* References, oldest first, without <> */
	size_t nrefs;
	char *subject;		/* RFC 2047-decoded, or NULL */
	char *date;		/* "YYYY-MM-DD HH:MM:SS+HHMM" or NULL */
	struct mail_addr *addrs;
	size_t naddrs;
	char *body_text;	/* first inline text/plain part, UTF-8 */
	struct mail_attachment *atts;
	size_t natts;
	unsigned truncated;	/* fields cut at a limit (see above) */
};

/*
 * Parses a whole message.  Returns 0 and fills *mp (free with
 * mail_parsed_fini), or -1 with a static reason in *errstr_r when the
 * bytes are not a message at all (no header section).
 */
int mail_parse(const char *msg, size_t len, struct mail_parsed *mp,
    const char **errstr_r);
void mail_parsed_fini(struct mail_parsed *mp);

#endif
