/*
 * smtp_parse.h - incremental SMTP parsers, one per direction: client
 * commands (with SASL lines, DATA bodies and BDAT chunks) and server
 * replies.
 *
 * Like imap_parse.h, the parsers take (ptr, len) and return how much they
 * consumed; they hold only fixed-size facts about the line in progress (a
 * bounded copy of the current line), never the stream.  No libevent,
 * OpenSSL or rdkafka header is included (STYLE 14).
 *
 * Message boundaries (the smuggling rules, CVE-2023-51764 and friends):
 *
 *   - a command or SASL line ends only with CRLF.  A bare LF or a bare CR
 *     anywhere in a line is an ERROR;
 *   - DATA ends only with <CRLF>.<CRLF>.  A bare LF or a bare CR anywhere
 *     in the message is an ERROR, reported before the offending byte is
 *     consumed.  So every byte consumed before an ERROR is free of bare
 *     line ends, and no server - whether it splits lines on LF, on CR or
 *     on CRLF - can find an end of data in it that the parser did not;
 *   - BDAT chunks are exactly chunk-size octets; the size is digits only,
 *     summed with an overflow check and capped at SMTP_CHUNK_MAX.
 *
 * A CR is consumed only together with the byte after it: input ending in
 * CR leaves that CR unconsumed (feed it again with more).
 *
 * The caller relays only consumed bytes, so after an ERROR it holds the
 * rest and decides (crm-proxy answers and closes: a server that has seen
 * half a message never sees its end, and discards it).
 *
 * Modes that depend on the server's answer (DATA after 354, SASL lines
 * after AUTH) are switched by the caller with smtp_client_set_mode(); BDAT
 * switches by itself, because its chunk follows the command unconditionally
 * (RFC 3030 section 2).
 */
#ifndef CRM_SMTP_PARSE_H
#define CRM_SMTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RFC 5321 4.5.3.1.4 gives 512 octets for a command line, extensions
 * (SIZE, DSN, SMTPUTF8) make it longer in practice; RFC 4954 section 4
 * allows 12288 for an AUTH line and its SASL responses. */
#define SMTP_LINE_MAX 12288
#define SMTP_REPLY_LINE_MAX 4096	/* RFC 5321 says 512 */
#define SMTP_CHUNK_MAX ((uint64_t)1 << 40)

enum smtp_parse_result {
	SMTP_PARSE_AGAIN,	/* input used up, nothing complete */
	SMTP_PARSE_LINE,	/* a line ended (CRLF consumed): p->line */
	SMTP_PARSE_DATA,	/* message bytes in p->data, p->data_len */
	SMTP_PARSE_DATA_END,	/* <CRLF>.<CRLF> consumed; p->data holds the
				 * last bytes of the message (maybe none) */
	SMTP_PARSE_CHUNK_END,	/* a BDAT chunk fully consumed */
	SMTP_PARSE_ERROR,	/* *errstr_r says why; the offending byte is
				 * not consumed.  Sticky. */
};

enum smtp_cmd {
	SMTP_CMD_NONE,
	SMTP_CMD_EHLO,
	SMTP_CMD_HELO,
	SMTP_CMD_MAIL,
	SMTP_CMD_RCPT,
	SMTP_CMD_DATA,
	SMTP_CMD_BDAT,
	SMTP_CMD_AUTH,
	SMTP_CMD_STARTTLS,
	SMTP_CMD_RSET,
	SMTP_CMD_NOOP,
	SMTP_CMD_QUIT,
	SMTP_CMD_UNKNOWN,	/* VRFY, HELP, XCLIENT, anything else */
};

enum smtp_client_mode {
	SMTP_MODE_COMMAND,	/* next line is a command */
	SMTP_MODE_SASL,		/* lines are SASL responses (334) */
	SMTP_MODE_DATA,		/* a message after DATA's 354 */
	SMTP_MODE_CHUNK,	/* BDAT chunk octets */
};

struct smtp_client_parser {
	int state;
	enum smtp_client_mode mode;
	size_t line_max;
	bool error;
	const char *errstr;

	/* The line just completed (SMTP_PARSE_LINE); NUL-terminated, CRLF
	 * stripped.  Valid until the next feed. */
	char line[SMTP_LINE_MAX + 1];
	size_t line_len;
	bool line_ready;	/* line holds a finished line */
	bool sasl_line;		/* the line was a SASL response */
	enum smtp_cmd cmd;
	const char *arg;	/* after the verb and one space, in line */
	size_t arg_len;

	/* BDAT: set with its LINE; bdat_ok false when the arguments are
	 * malformed (then no chunk follows as far as the parser knows). */
	bool bdat_ok, bdat_last;
	uint64_t bdat_size, chunk_left;

	/* Message bytes (DATA unstuffed, BDAT raw), a slice of the input. */
	const unsigned char *data;
	size_t data_len;
	uint64_t data_total;	/* of the current message / chunk */
};

struct smtp_server_parser {
	int state;
	bool error;
	const char *errstr;
	char line[SMTP_REPLY_LINE_MAX + 1];
	size_t line_len;	/* CRLF stripped */
	bool line_ready;
	unsigned code;		/* 200..599 */
	bool last;		/* "ddd " or "ddd": the reply's final line */
	const char *text;	/* after the separator, in line */
	size_t text_len;
};

/* line_max: 0 or > SMTP_LINE_MAX means SMTP_LINE_MAX. */
void smtp_client_init(struct smtp_client_parser *p, size_t line_max);
/* Forgets everything (after STARTTLS); keeps line_max. */
void smtp_client_reset(struct smtp_client_parser *p);
/* DATA accepted (354) -> SMTP_MODE_DATA; AUTH continues (334) ->
 * SMTP_MODE_SASL; its final reply -> SMTP_MODE_COMMAND.  Only between
 * lines (not inside a line or chunk). */
void smtp_client_set_mode(struct smtp_client_parser *p,
    enum smtp_client_mode mode);

/*
 * Parses client bytes.  Stops after each event so the caller can act on it
 * before any later byte is looked at.  *consumed_r counts input bytes
 * used, the event's own included.  Returns an smtp_parse_result.
 */
enum smtp_parse_result smtp_client_feed(struct smtp_client_parser *p,
    const unsigned char *in, size_t len, size_t *consumed_r,
    const char **errstr_r);

void smtp_server_init(struct smtp_server_parser *p);
/* SMTP_PARSE_LINE per reply line (or AGAIN / ERROR). */
enum smtp_parse_result smtp_server_feed(struct smtp_server_parser *p,
    const unsigned char *in, size_t len, size_t *consumed_r,
    const char **errstr_r);

/* "EHLO" -> SMTP_CMD_EHLO etc., case-insensitive. */
enum smtp_cmd smtp_cmd_parse(const char *verb, size_t len);
const char *smtp_cmd_name(enum smtp_cmd cmd);

/*
 * The path of "FROM:<path> params" / "TO:<path> params" (prefix "FROM:" or
 * "TO:", case-insensitive, blanks allowed after the colon): *path_r and
 * *len_r point inside arg, angle brackets excluded ("<>" gives len 0).
 * Quoted local parts may hold '>'.  Returns false when malformed.
 */
bool smtp_path(const char *arg, size_t len, const char *prefix,
    const char **path_r, size_t *len_r);

/* The EHLO keyword of a reply line's text ("SIZE 1000" -> "SIZE"). */
size_t smtp_ehlo_keyword(const char *text, size_t len);

#endif
