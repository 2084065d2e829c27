/*
 * mail_parse.h - the fields crm-enrich takes from one RFC 5322 message.
 *
 * mail_parse() is the single place a message is turned into struct
 * mail_parsed; the rest of crm-enrich reads only the struct.  It is built
 * on the project's libraries: enrich/mime (header fields decoded with RFC
 * 2047, best text and HTML bodies in UTF-8, attachments, text/calendar
 * parts), enrich/scrub (the sender's new words apart from quotes,
 * signature and disclaimer, and the signature's fields) and enrich/ident
 * (canonical address keys, display names, automated-sender verdict).
 *
 * Every string is NUL-terminated, valid UTF-8 and bounded; a message over
 * a limit keeps what fits and counts the rest (truncated fields are
 * flagged, never an error).
 */
#ifndef CRM_ENRICH_MAIL_PARSE_H
#define CRM_ENRICH_MAIL_PARSE_H

#include <stddef.h>
#include <stdint.h>

#define MAIL_ADDRS_MAX 1000		/* From+To+Cc entries kept */
#define MAIL_REFS_MAX 100		/* References entries kept */
#define MAIL_ATTACHMENTS_MAX 500
#define MAIL_FIELD_MAX 4096		/* subject, names */
#define MAIL_BODY_MAX (4u * 1024 * 1024)	/* each body column */

enum mail_role {
	MAIL_ROLE_FROM,
	MAIL_ROLE_TO,
	MAIL_ROLE_CC,
	MAIL_ROLE_BCC,
};
extern const char *const mail_role_names[];

struct mail_addr {
	enum mail_role role;
	char *address;		/* canonical key (ident_addr_parse) */
	const char *domain;	/* points into address */
	char *display_name;	/* decoded and cleaned, or NULL */
};

struct mail_attachment {
	char *filename;		/* decoded, or NULL */
	char *content_type;	/* "type/subtype", lower case */
	uint64_t size;		/* decoded bytes */
	char sha256[65];	/* of the decoded bytes, lower-case hex */
};

/* What the sender's signature says about them; each NULL when absent. */
struct mail_signature {
	char *name, *title, *company;
	char *phone;		/* E.164 ("+441234567890") */
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
	char *body_text;	/* the sender's new words (scrubbed) */
	char *body_quoted;	/* each NULL when empty */
	char *body_signature;
	char *body_disclaimer;
	struct mail_signature sig;	/* of the (first) From address */
	unsigned auto_reasons;	/* IDENT_AUTO_* bits: 0 = a person */
	size_t ncalendars;	/* text/calendar parts (iMIP) */
	struct mail_attachment *atts;
	size_t natts;
	unsigned truncated;	/* fields cut at a limit (see above) */
};

/*
 * Parses a whole message.  Returns 0 and fills *mp (free with
 * mail_parsed_fini), or -1 with a static reason in *errstr_r when the
 * bytes are not a message at all.
 */
int mail_parse(const char *msg, size_t len, struct mail_parsed *mp,
    const char **errstr_r);
void mail_parsed_fini(struct mail_parsed *mp);

#endif
