/*
 * imap_parse.h - incremental IMAP parser, one instance per direction.
 *
 * The parser never owns or holds the stream: it takes (ptr, len), returns how
 * many bytes it consumed, and keeps only small fixed-size facts about the
 * line in progress (tag, command or response name, first argument, FETCH
 * items).  It includes no libevent, OpenSSL or rdkafka header, so it links
 * alone into unit tests and fuzz targets (STYLE 14).
 *
 * Grammar followed: RFC 9051 / RFC 3501, literals from RFC 7888 (LITERAL+,
 * LITERAL-: "{n+}") and RFC 3516 (BINARY: "~{n}").  Only as much structure
 * is parsed as a transparent proxy and its tap need: line boundaries,
 * literal boundaries, tags, modes (AUTHENTICATE, IDLE, synchronizing
 * literals) and the FETCH items that describe a captured message.
 *
 * Limits (all checked before use; exceeding one is an ERROR for the parser,
 * never for the relay):
 *   line_max        bytes of one line, literal data excluded
 *   depth           IMAP_NEST_MAX parenthesis levels
 *   literal size    < 2^63; digits are summed with an overflow check
 *
 * Line ends: CRLF, or a bare LF as Dovecot accepts it (also after a literal
 * size), so the proxy splits lines where the server does.  Empty lines are
 * skipped (except in AUTHENTICATE, where one is an empty SASL response).
 *
 * On ERROR the parser is "blind" (STYLE 13): it consumes and ignores every
 * byte after that and reports IMAP_PARSE_BLIND; the caller keeps relaying.
 */
#ifndef CRM_IMAP_PARSE_H
#define CRM_IMAP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IMAP_TAG_MAX	 64	/* longer tags are legal but not tracked */
#define IMAP_NAME_MAX	 32	/* command / response keyword */
#define IMAP_ARG1_MAX	 256	/* first command argument (mailbox name) */
#define IMAP_SECTION_MAX 64	/* FETCH item name before a literal */
#define IMAP_FLAGS_MAX	 256	/* FETCH FLAGS list, parentheses included */
#define IMAP_DATE_MAX	 40	/* INTERNALDATE string, without quotes */
#define IMAP_NEST_MAX	 64	/* parenthesis depth */
#define IMAP_LITERAL_MAX ((uint64_t)1 << 62)

enum imap_dir {
	IMAP_DIR_CLIENT,	/* parses commands sent by a client */
	IMAP_DIR_SERVER,	/* parses responses sent by a server */
};

enum imap_parse_result {
	IMAP_PARSE_AGAIN,	/* input used up; the line is not complete */
	IMAP_PARSE_LINE,	/* a line ended (CRLF consumed); see p->line */
	IMAP_PARSE_LITERAL,	/* a literal header "{n}\r\n" was consumed;
				 * p->literal_left bytes of literal data
				 * follow (see imap_parser_literal_*) */
	IMAP_PARSE_ERROR,	/* sync lost just now; *errstr_r says why */
	IMAP_PARSE_BLIND,	/* lost earlier; bytes consumed and ignored */
};

enum imap_line_kind {
	IMAP_LINE_NONE,
	/* client direction */
	IMAP_LINE_COMMAND,	/* "tag NAME ..." */
	IMAP_LINE_DONE,		/* "DONE" ending IDLE */
	IMAP_LINE_SASL,		/* an AUTHENTICATE response line (or "*") */
	/* server direction */
	IMAP_LINE_TAGGED,	/* "tag OK|NO|BAD ..." */
	IMAP_LINE_UNTAGGED,	/* "* ..." */
	IMAP_LINE_CONTINUATION,	/* "+ ..." */
};

/* What the client side is waiting for; driven by imap_parser_server_*(). */
enum imap_client_mode {
	IMAP_MODE_COMMAND,	/* next line is a command */
	IMAP_MODE_LITERAL_WAIT,	/* sent "{n}\r\n", waits for "+" or tagged */
	IMAP_MODE_IDLE_WAIT,	/* sent IDLE, waits for "+" or tagged */
	IMAP_MODE_IDLE,		/* idling; next line is DONE */
	IMAP_MODE_AUTH,		/* in AUTHENTICATE; lines are SASL data */
};

/* Facts about the line just ended (valid after IMAP_PARSE_LINE until the
 * next feed) or in progress (valid after IMAP_PARSE_LITERAL). */
struct imap_line {
	enum imap_line_kind kind;
	char tag[IMAP_TAG_MAX + 1];	/* "" if too long or none */
	bool tag_too_long;
	/* Client: command upper-cased; "UID FETCH" style for UID commands.
	 * Server tagged: OK / NO / BAD / BYE / PREAUTH.
	 * Server untagged: the keyword after "*" or after "* <number>":
	 * "CAPABILITY", "OK", "FETCH", "EXISTS", "LIST", ... */
	char name[IMAP_NAME_MAX + 1];
	bool has_number;		/* server untagged "* 12 FETCH" */
	uint32_t number;
	/* Server status responses: response code atom, upper-cased, e.g.
	 * "CAPABILITY", "APPENDUID", "UIDVALIDITY"; "" if none. */
	char code[IMAP_NAME_MAX + 1];
	/* Client: first argument, decoded (quoted unescaped, literal data
	 * included when it fits); arg1_truncated if it did not fit. */
	char arg1[IMAP_ARG1_MAX + 1];
	size_t arg1_len;
	bool has_arg1, arg1_truncated;
	/* Literals seen so far in this line. */
	unsigned literals;
	/* Server "* n FETCH (...)": items seen so far in this line. */
	struct {
		bool has_uid, has_flags, has_internaldate, has_size;
		uint32_t uid;
		uint64_t rfc822_size;
		char flags[IMAP_FLAGS_MAX + 1];		/* "(\Seen $X)" */
		char internaldate[IMAP_DATE_MAX + 1];
	} fetch;
};

struct imap_parser {
	enum imap_dir dir;
	size_t line_max;
	/* private state: read only through the functions below */
	int state;
	enum imap_client_mode mode;
	char mode_tag[IMAP_TAG_MAX + 1];	/* command that set the mode */
	uint64_t literal_left;
	uint64_t literal_size;
	bool literal_nonsync, literal_binary;
	char literal_section[IMAP_SECTION_MAX + 1];	/* e.g. "BODY[]" */
	size_t line_len;
	unsigned depth;
	unsigned token_len;
	char token[IMAP_SECTION_MAX + 1];	/* scratch: current atom */
	unsigned item;			/* private: FETCH item in progress */
	struct imap_line line;
	const char *errstr;
	/* private: finer scanner state (imap_parse.c) */
	unsigned tag_len, name_len, code_len, lit_digits;
	unsigned flags_len, date_len, bracket;
	int arg1_state, fetch_state;
	bool uid_prefix, tag_only, value_ok, value_overflow;
	uint64_t value;
};

/* Initializes p for one direction.  line_max bounds one line without its
 * literal data (0 means the default, 65536).  Never allocates. */
void imap_parser_init(struct imap_parser *p, enum imap_dir dir,
    size_t line_max);

/* Resets to "start of a line, command mode" - used after STARTTLS, where
 * everything pipelined before the handshake is discarded (STYLE 12). */
void imap_parser_reset(struct imap_parser *p);

/*
 * Consumes input up to the first point of interest: end of a line, end of a
 * literal header, or the end of the input.  Literal data is consumed in bulk
 * (as much of it as is in the input) and never returned as LINE/LITERAL.
 * Always sets *consumed_r (<= len).  On IMAP_PARSE_ERROR sets *errstr_r to a
 * static string and the parser becomes blind.  Callers loop until the input
 * is used up.
 */
enum imap_parse_result imap_parser_feed(struct imap_parser *p,
    const unsigned char *data, size_t len, size_t *consumed_r,
    const char **errstr_r);

/* True while literal data is being consumed; literal_left is what remains.
 * False in IMAP_MODE_LITERAL_WAIT: that data must not arrive yet. */
bool imap_parser_in_literal(const struct imap_parser *p);

/* Literal bytes still to come.  A feed that starts while
 * imap_parser_in_literal() is true consumes MIN(len, literal_left) bytes of
 * literal data first, so a tap splits its input with this before feeding. */
uint64_t imap_parser_literal_left(const struct imap_parser *p);

/* At least imap_parser_literal_left(), without a call: for a caller that
 * runs on every line and only cares whether much literal is left. */
static inline uint64_t
imap_parser_literal_bound(const struct imap_parser *p)
{
	return p->literal_left;
}

/*
 * Literal data the caller moved without reading it (the relay's splice(2)
 * path).  imap_parser_literal_opaque() is true when the parser is inside a
 * literal whose bytes it does not need to see -- every literal but a
 * client command's first argument, which it decodes.
 * imap_parser_skip_literal() then takes n bytes, 0 < n <= literal_left, and
 * leaves the parser where feeding them would have; outside that contract
 * it changes nothing and returns false.
 */
bool imap_parser_literal_opaque(const struct imap_parser *p);
bool imap_parser_skip_literal(struct imap_parser *p, uint64_t n);

/* After IMAP_PARSE_LITERAL: size, whether it is a non-synchronizing
 * ("{n+}") or a literal8 ("~{n}") literal, and for server FETCH responses
 * the item it belongs to ("BODY[]", "BODY[HEADER]", "RFC822",
 * "BINARY[1]", "BODY[]<0>" ...), upper-cased; "" otherwise. */
uint64_t imap_parser_literal_size(const struct imap_parser *p);
bool imap_parser_literal_nonsync(const struct imap_parser *p);
const char *imap_parser_literal_section(const struct imap_parser *p);
/* After IMAP_PARSE_LITERAL: true for a literal8 ("~{n}", RFC 3516). */
bool imap_parser_literal_binary(const struct imap_parser *p);

bool imap_parser_blind(const struct imap_parser *p);
enum imap_client_mode imap_parser_mode(const struct imap_parser *p);

/*
 * Cross-direction hints for a client-direction parser.  A transparent proxy
 * learns what a client will send next only from what the server said:
 * "+" starts a waited-for literal or IDLE; a tagged reply to the command
 * that set the mode cancels or ends it.  Call with the server's line as it
 * is relayed, before the client can see it.
 */
void imap_parser_server_continuation(struct imap_parser *client);
void imap_parser_server_tagged(struct imap_parser *client, const char *tag);

/* Names for logs: "COMMAND" etc. */
const char *imap_client_mode_name(enum imap_client_mode mode);
/* The parser's character classes (RFC 9051): a tag character is 0x21-0x7e
 * except ( ) { " \ (lenient about % * and +, which cannot move a line
 * boundary); an atom character is a tag character except % * ]. */
bool imap_parser_is_tag_char(unsigned char c);
bool imap_parser_is_atom_char(unsigned char c);

/* Name of the scanner's current state, for debug logs: "LINE_START",
 * "ARGS", "LITERAL_DATA", "BLIND", ... */
const char *imap_parser_state_name(const struct imap_parser *p);

/*
 * imap_parse_args - split one complete, buffered command into arguments.
 * Used before login, where the proxy itself is the server and holds the whole
 * command (bounded by the pre-auth limits).  data..len holds
 * "tag SP name [SP args] CRLF" with literal data inline after each
 * (args[] receives the arguments after the command name)
 * "{n}\r\n" / "{n+}\r\n".  Atoms, quoted strings (unescaped into scratch)
 * and literals become slices; a parenthesized list is one slice of its raw
 * bytes; an atom "NIL" (any case) is IMAP_ARG_NIL.  The command name is the
 * first atom only ("UID" is not joined here: pre-auth commands have no UID
 * form).  At most max_args arguments.
 * Returns the number of arguments (>= 0), or -1 with *errstr_r on a syntax
 * error.  Slices point into data or into scratch (scratch_size >= len is
 * always enough).
 */
struct imap_arg {
	const char *ptr;
	size_t len;
	enum { IMAP_ARG_ATOM, IMAP_ARG_STRING, IMAP_ARG_LIST, IMAP_ARG_NIL }
	    type;
};
int imap_parse_args(const char *data, size_t len, struct imap_arg *args,
    int max_args, char *scratch, size_t scratch_size,
    const char **errstr_r);

#endif
