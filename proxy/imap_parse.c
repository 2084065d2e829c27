/*
 * imap_parse.c - incremental IMAP parser for both directions of a relay.
 *
 * The scanner is one byte-driven state machine.  It recognises exactly what
 * decides where the next line starts: quoted strings (a "{" inside one is
 * text), literal headers at the end of a line, and CRLF.  Everything a proxy
 * must agree on with the server is checked strictly; anything it could only
 * guess at is an error, after which the parser is blind (STYLE 13).
 *
 * A bare LF is accepted as a line end, as Dovecot and most servers accept
 * it: if the server treats "{5}\n" as a literal header, so must we, or the
 * literal's bytes would be read as commands.
 */
#include <stddef.h>
#include <string.h>

#include "proxy/imap_parse.h"

#define IMAP_LINE_MAX_DEFAULT 65536
/* gcc reads comments for -Wimplicit-fallthrough, clang only this */
#define FALLTHROUGH __attribute__((fallthrough))

enum imap_state {
	ST_LINE_START,
	ST_TAG,
	ST_NAME,
	ST_STAR,		/* server: after "*", SP expected */
	ST_UNTAGGED,		/* server: number or keyword */
	ST_NUMBER,
	ST_RESP_START,		/* server: resp-text, "[" starts a code */
	ST_CODE,
	ST_TEXT,		/* to end of line, no literals */
	ST_ARGS,
	ST_QUOTED,
	ST_QUOTED_ESC,
	ST_TILDE,
	ST_LIT_SIZE,
	ST_LIT_PLUS,
	ST_LIT_CLOSE,
	ST_LIT_CR,
	ST_LIT_DATA,
	ST_CR,
	ST_BLIND,
	ST_COUNT
};

static const char *const state_names[ST_COUNT] = {
	[ST_LINE_START] = "LINE_START",
	[ST_TAG] = "TAG",
	[ST_NAME] = "NAME",
	[ST_STAR] = "STAR",
	[ST_UNTAGGED] = "UNTAGGED",
	[ST_NUMBER] = "NUMBER",
	[ST_RESP_START] = "RESP_START",
	[ST_CODE] = "CODE",
	[ST_TEXT] = "TEXT",
	[ST_ARGS] = "ARGS",
	[ST_QUOTED] = "QUOTED",
	[ST_QUOTED_ESC] = "QUOTED_ESC",
	[ST_TILDE] = "TILDE",
	[ST_LIT_SIZE] = "LITERAL_SIZE",
	[ST_LIT_PLUS] = "LITERAL_PLUS",
	[ST_LIT_CLOSE] = "LITERAL_CLOSE",
	[ST_LIT_CR] = "LITERAL_CR",
	[ST_LIT_DATA] = "LITERAL_DATA",
	[ST_CR] = "CR",
	[ST_BLIND] = "BLIND",
};

static const char *const mode_names[] = {
	[IMAP_MODE_COMMAND] = "COMMAND",
	[IMAP_MODE_LITERAL_WAIT] = "LITERAL_WAIT",
	[IMAP_MODE_IDLE_WAIT] = "IDLE_WAIT",
	[IMAP_MODE_IDLE] = "IDLE",
	[IMAP_MODE_AUTH] = "AUTH",
};

/* Capture of a client command's first argument. */
enum arg1_state {
	A1_WAIT,		/* before it */
	A1_ATOM,
	A1_QUOTED,
	A1_LIT_MAYBE,		/* "{" or "~" seen: literal or odd atom */
	A1_LITERAL,
	A1_LIST,
	A1_DONE,
};

/* Tracking of "* n FETCH (name value ...)" items. */
enum fetch_state {
	FT_OFF,
	FT_OPEN,		/* "(" expected */
	FT_NAME_WAIT,		/* item name or ")" expected */
	FT_NAME,
	FT_VALUE_WAIT,
	FT_VALUE_ATOM,
	FT_VALUE_QUOTED,
	FT_VALUE_LIST,
	FT_VALUE_LIT_MAYBE,
	FT_VALUE_LIT,
};

enum fetch_item {
	ITEM_OTHER,
	ITEM_UID,
	ITEM_FLAGS,
	ITEM_INTERNALDATE,
	ITEM_SIZE,
};

static void
imap_parser_set_state(struct imap_parser *p, enum imap_state st)
{
	/* A library never logs (STYLE 17); imap_parser_state_name() gives
	 * the caller the name when it wants to. */
	p->state = (int)st;
}

static void
imap_parser_set_mode(struct imap_parser *p, enum imap_client_mode mode,
    const char *tag)
{
	p->mode = mode;
	if (tag == NULL)
		p->mode_tag[0] = '\0';
	else if (tag != p->mode_tag)
		memcpy(p->mode_tag, tag, strlen(tag) + 1);
}

static unsigned char
to_upper(unsigned char c)
{
	return c >= 'a' && c <= 'z' ? (unsigned char)(c - 'a' + 'A') : c;
}

static bool
is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/*
 * Character classes, one table entry per byte value: the parser asks once
 * or twice per byte, so a single load beats a chain of comparisons.
 * test_imap_parse checks every byte value against the definitions written
 * out below (through the public wrappers).
 *
 * RFC 9051 tag: ASTRING-CHAR except "+"; we are lenient about the list
 * wildcards and "+" since they cannot move a line boundary.  That is
 * 0x21-0x7e except ( ) { " \.  An atom character is a tag character
 * except % * ].
 */
#define CC_TAG	0x1
#define CC_ATOM	0x2
#define CC_IS_TAG(c) ((c) > 0x20 && (c) < 0x7f && (c) != '(' && \
	(c) != ')' && (c) != '{' && (c) != '"' && (c) != '\\')
#define CC(c) ((CC_IS_TAG(c) ? CC_TAG : 0) | \
	(CC_IS_TAG(c) && (c) != '%' && (c) != '*' && (c) != ']' ? CC_ATOM : 0))
#define CC4(c) CC(c), CC((c) + 1), CC((c) + 2), CC((c) + 3)
#define CC16(c) CC4(c), CC4((c) + 4), CC4((c) + 8), CC4((c) + 12)
static const unsigned char char_class[256] = {
	CC16(0x00), CC16(0x10), CC16(0x20), CC16(0x30),
	CC16(0x40), CC16(0x50), CC16(0x60), CC16(0x70),
	CC16(0x80), CC16(0x90), CC16(0xa0), CC16(0xb0),
	CC16(0xc0), CC16(0xd0), CC16(0xe0), CC16(0xf0),
};
#undef CC16
#undef CC4
#undef CC
#undef CC_IS_TAG

static bool
is_tag_char(unsigned char c)
{
	return (char_class[c] & CC_TAG) != 0;
}

static bool
is_atom_char(unsigned char c)
{
	return (char_class[c] & CC_ATOM) != 0;
}

bool
imap_parser_is_tag_char(unsigned char c)
{
	return is_tag_char(c);
}

bool
imap_parser_is_atom_char(unsigned char c)
{
	return is_atom_char(c);
}

/*
 * Where a run of bytes that keeps the parser in its state may end: end,
 * or earlier if the line limit the per-byte count enforces would be
 * passed (the byte at pos is counted already).  Tags and keywords are
 * read this way in one loop; only the byte that ends a run goes round the
 * state machine again.
 */
static inline const unsigned char *
imap_run_stop(const struct imap_parser *p, const unsigned char *pos,
    const unsigned char *end)
{
	if ((size_t)(end - pos - 1) > p->line_max - p->line_len)
		return pos + 1 + (p->line_max - p->line_len);
	return end;
}

/* First CR or LF in [q, stop), or stop: two vector scans instead of a
 * byte loop (resp-text is most of a status line). */
static const unsigned char *
imap_scan_eol(const unsigned char *q, const unsigned char *stop)
{
	const unsigned char *lf = memchr(q, '\n', (size_t)(stop - q));
	const unsigned char *cr;

	if (lf != NULL)
		stop = lf;
	cr = memchr(q, '\r', (size_t)(stop - q));
	return cr != NULL ? cr : stop;
}

static bool
is_status(const char *name)
{
	return strcmp(name, "OK") == 0 || strcmp(name, "NO") == 0 ||
	    strcmp(name, "BAD") == 0 || strcmp(name, "BYE") == 0 ||
	    strcmp(name, "PREAUTH") == 0;
}

static void
append_bounded(char *buf, unsigned *len, size_t max, unsigned char c,
    bool *overflow_r)
{
	if (*len < max) {
		buf[(*len)++] = (char)c;
		buf[*len] = '\0';
	} else if (overflow_r != NULL)
		*overflow_r = true;
}

void
imap_parser_init(struct imap_parser *p, enum imap_dir dir, size_t line_max)
{
	memset(p, 0, sizeof(*p));
	p->dir = dir;
	p->line_max = line_max != 0 ? line_max : IMAP_LINE_MAX_DEFAULT;
	imap_parser_reset(p);
}

static void
imap_parser_line_reset(struct imap_parser *p)
{
	imap_parser_set_state(p, ST_LINE_START);
	p->line_len = 0;
	p->depth = 0;
	p->literal_left = 0;
	p->arg1_state = A1_WAIT;
	p->fetch_state = FT_OFF;
}

void
imap_parser_reset(struct imap_parser *p)
{
	imap_parser_line_reset(p);
	imap_parser_set_mode(p, IMAP_MODE_COMMAND, NULL);
	memset(&p->line, 0, sizeof(p->line));
	p->errstr = NULL;
}

/* ---- first argument of a client command ---- */

static void
arg1_append(struct imap_parser *p, unsigned char c)
{
	struct imap_line *l = &p->line;

	if (l->arg1_len < IMAP_ARG1_MAX) {
		l->arg1[l->arg1_len++] = (char)c;
		l->arg1[l->arg1_len] = '\0';
	} else
		l->arg1_truncated = true;
}

/* c is outside quoted strings and literal headers; depth is before c. */
static void
arg1_byte(struct imap_parser *p, unsigned char c)
{
	switch (p->arg1_state) {
	case A1_WAIT:
		if (c == ' ' || c == '\r' || c == '\n')
			return;
		p->line.has_arg1 = true;
		if (c == '"')
			p->arg1_state = A1_QUOTED;
		else if (c == '{' || c == '~')
			p->arg1_state = A1_LIT_MAYBE;
		else {
			p->arg1_state = c == '(' ? A1_LIST : A1_ATOM;
			arg1_append(p, c);
		}
		return;
	case A1_LIT_MAYBE:
		/* "{x": not a literal after all, an (invalid) atom */
		p->arg1_state = A1_ATOM;
		FALLTHROUGH;
	case A1_ATOM:
		if (c == ' ' || c == '\r' || c == '\n')
			p->arg1_state = A1_DONE;
		else
			arg1_append(p, c);
		return;
	case A1_LIST:
		if (c == '\r' || c == '\n') {
			p->arg1_state = A1_DONE;
			return;
		}
		arg1_append(p, c);
		if (c == ')' && p->depth <= 1)
			p->arg1_state = A1_DONE;
		return;
	default:
		return;
	}
}

static void
arg1_quoted(struct imap_parser *p, unsigned char c, bool escaped, bool end)
{
	if (p->arg1_state == A1_QUOTED) {
		if (end)
			p->arg1_state = A1_DONE;
		else
			arg1_append(p, c);
	} else if (p->arg1_state == A1_LIST) {
		/* lists are kept raw */
		if (escaped)
			arg1_append(p, '\\');
		arg1_append(p, c);
	}
}

/* ---- FETCH items of a server response ---- */

static void
fetch_name_append(struct imap_parser *p, unsigned char c)
{
	if (p->token_len < IMAP_SECTION_MAX) {
		p->token[p->token_len++] = (char)to_upper(c);
		p->token[p->token_len] = '\0';
	}
}

static void
fetch_name_done(struct imap_parser *p)
{
	const char *t = p->token;

	if (strcmp(t, "UID") == 0)
		p->item = ITEM_UID;
	else if (strcmp(t, "FLAGS") == 0)
		p->item = ITEM_FLAGS;
	else if (strcmp(t, "INTERNALDATE") == 0)
		p->item = ITEM_INTERNALDATE;
	else if (strcmp(t, "RFC822.SIZE") == 0)
		p->item = ITEM_SIZE;
	else
		p->item = ITEM_OTHER;
	p->value = 0;
	p->value_ok = true;
	p->value_overflow = false;
	p->flags_len = 0;
	p->date_len = 0;
	p->fetch_state = FT_VALUE_WAIT;
}

static void
fetch_atom_done(struct imap_parser *p)
{
	struct imap_line *l = &p->line;

	if (!p->value_ok)
		return;
	if (p->item == ITEM_UID && p->value <= UINT32_MAX) {
		l->fetch.has_uid = true;
		l->fetch.uid = (uint32_t)p->value;
	} else if (p->item == ITEM_SIZE) {
		l->fetch.has_size = true;
		l->fetch.rfc822_size = p->value;
	}
}

/* c is outside quoted strings and literal headers; depth is before c. */
static void
fetch_byte(struct imap_parser *p, unsigned char c)
{
	switch (p->fetch_state) {
	case FT_OPEN:
		if (c == '(' && p->depth == 0)
			p->fetch_state = FT_NAME_WAIT;
		else if (c != ' ')
			p->fetch_state = FT_OFF;
		return;
	case FT_NAME_WAIT:
		if (c == ' ')
			return;
		if (!is_atom_char(c)) {
			p->fetch_state = FT_OFF;	/* ")" or garbage */
			return;
		}
		p->token_len = 0;
		p->token[0] = '\0';
		p->bracket = 0;
		p->fetch_state = FT_NAME;
		FALLTHROUGH;
	case FT_NAME:
		/* A section may hold spaces and a parenthesized list:
		 * BODY[HEADER.FIELDS (SUBJECT FROM)]<0.100> is one name. */
		if (p->bracket > 0) {
			if (c == '[' && p->bracket < IMAP_NEST_MAX)
				p->bracket++;
			else if (c == ']')
				p->bracket--;
		} else if (c == '[')
			p->bracket = 1;
		else if (c == ' ') {
			fetch_name_done(p);
			return;
		} else if (c == ')') {
			p->fetch_state = FT_OFF;
			return;
		}
		fetch_name_append(p, c);
		return;
	case FT_VALUE_WAIT:
		if (c == '(') {
			p->fetch_state = FT_VALUE_LIST;
			if (p->item == ITEM_FLAGS)
				append_bounded(p->line.fetch.flags,
				    &p->flags_len, IMAP_FLAGS_MAX, c,
				    &p->value_overflow);
		} else if (c == '"')
			p->fetch_state = FT_VALUE_QUOTED;
		else if (c == '{' || c == '~')
			p->fetch_state = FT_VALUE_LIT_MAYBE;
		else if (c == ')')
			p->fetch_state = FT_OFF;
		else if (c != ' ') {
			p->fetch_state = FT_VALUE_ATOM;
			fetch_byte(p, c);
		}
		return;
	case FT_VALUE_LIT_MAYBE:
		p->value_ok = false;
		p->fetch_state = FT_VALUE_ATOM;
		FALLTHROUGH;
	case FT_VALUE_ATOM:
		if (c == ' ' || c == ')') {
			fetch_atom_done(p);
			p->fetch_state = c == ' ' ? FT_NAME_WAIT : FT_OFF;
		} else if (c >= '0' && c <= '9') {
			if (p->value > (UINT64_MAX - (uint64_t)(c - '0')) / 10)
				p->value_ok = false;
			else
				p->value = p->value * 10 + (uint64_t)(c - '0');
		} else
			p->value_ok = false;
		return;
	case FT_VALUE_LIST:
		if (p->item == ITEM_FLAGS)
			append_bounded(p->line.fetch.flags, &p->flags_len,
			    IMAP_FLAGS_MAX, c, &p->value_overflow);
		if (c == ')' && p->depth == 2) {
			if (p->item == ITEM_FLAGS && !p->value_overflow)
				p->line.fetch.has_flags = true;
			p->fetch_state = FT_NAME_WAIT;
		}
		return;
	default:
		return;
	}
}

static void
fetch_quoted(struct imap_parser *p, unsigned char c, bool end)
{
	switch (p->fetch_state) {
	case FT_NAME:
		fetch_name_append(p, end ? '"' : c);
		return;
	case FT_VALUE_QUOTED:
		if (p->item != ITEM_INTERNALDATE) {
			if (end)
				p->fetch_state = FT_NAME_WAIT;
			return;
		}
		if (!end) {
			append_bounded(p->line.fetch.internaldate,
			    &p->date_len, IMAP_DATE_MAX, c,
			    &p->value_overflow);
			return;
		}
		if (!p->value_overflow)
			p->line.fetch.has_internaldate = true;
		else
			p->line.fetch.internaldate[0] = '\0';
		p->fetch_state = FT_NAME_WAIT;
		return;
	case FT_VALUE_LIST:
		if (p->item == ITEM_FLAGS)
			append_bounded(p->line.fetch.flags, &p->flags_len,
			    IMAP_FLAGS_MAX, end ? '"' : c,
			    &p->value_overflow);
		return;
	default:
		return;
	}
}

static bool
fetch_in_value(const struct imap_parser *p)
{
	return p->fetch_state >= FT_VALUE_WAIT;
}

/* ---- lines, literals, errors ---- */

static enum imap_parse_result
imap_parser_error(struct imap_parser *p, const char *why, size_t consumed,
    size_t *consumed_r, const char **errstr_r)
{
	p->errstr = why;
	imap_parser_set_state(p, ST_BLIND);
	*consumed_r = consumed;
	*errstr_r = why;
	return IMAP_PARSE_ERROR;
}

/*
 * A new line: every field back to empty.  The text buffers are written
 * with their terminator as they grow and read only up to it (arg1 up to
 * arg1_len), so emptying one takes its first byte, not its 257: the
 * whole struct is about 750 bytes and a NOOP round trip starts two lines.
 */
#define LINE_OFF(f) offsetof(struct imap_line, f)
_Static_assert(LINE_OFF(kind) < LINE_OFF(arg1) &&
    LINE_OFF(tag) < LINE_OFF(arg1) && LINE_OFF(tag_too_long) <
    LINE_OFF(arg1) && LINE_OFF(name) < LINE_OFF(arg1) &&
    LINE_OFF(has_number) < LINE_OFF(arg1) && LINE_OFF(number) <
    LINE_OFF(arg1) && LINE_OFF(code) < LINE_OFF(arg1),
    "imap_parser_line_clear: scalars and short buffers precede arg1");
_Static_assert(LINE_OFF(fetch.has_uid) < LINE_OFF(fetch.flags) &&
    LINE_OFF(fetch.has_flags) < LINE_OFF(fetch.flags) &&
    LINE_OFF(fetch.has_internaldate) < LINE_OFF(fetch.flags) &&
    LINE_OFF(fetch.has_size) < LINE_OFF(fetch.flags) &&
    LINE_OFF(fetch.uid) < LINE_OFF(fetch.flags) &&
    LINE_OFF(fetch.rfc822_size) < LINE_OFF(fetch.flags) &&
    LINE_OFF(fetch.flags) < LINE_OFF(fetch.internaldate),
    "imap_parser_line_clear: fetch scalars precede its buffers");
#undef LINE_OFF

static void
imap_parser_line_clear(struct imap_line *l)
{
	memset(l, 0, offsetof(struct imap_line, arg1));
	l->arg1[0] = '\0';
	l->arg1_len = 0;
	l->has_arg1 = l->arg1_truncated = false;
	l->literals = 0;
	memset(&l->fetch, 0, offsetof(struct imap_line, fetch.flags) -
	    offsetof(struct imap_line, fetch));
	l->fetch.flags[0] = '\0';
	l->fetch.internaldate[0] = '\0';
}

static void
imap_parser_line_start(struct imap_parser *p)
{
	imap_parser_line_clear(&p->line);
	p->tag_len = p->name_len = p->code_len = 0;
	p->uid_prefix = p->tag_only = false;
	p->arg1_state = A1_WAIT;
	p->fetch_state = FT_OFF;
	p->depth = 0;
}

/*
 * A client command line ended: enter the mode it asks for.  Returns an
 * error string when the line breaks the mode's rules.
 */
static const char *
imap_parser_client_line_end(struct imap_parser *p)
{
	struct imap_line *l = &p->line;
	bool done = p->tag_only && p->tag_len == 4 &&
	    to_upper((unsigned char)l->tag[0]) == 'D' &&
	    to_upper((unsigned char)l->tag[1]) == 'O' &&
	    to_upper((unsigned char)l->tag[2]) == 'N' &&
	    to_upper((unsigned char)l->tag[3]) == 'E';

	switch (p->mode) {
	case IMAP_MODE_AUTH:
		return NULL;
	case IMAP_MODE_IDLE:
		if (!done)
			return "IDLE: expected DONE";
		FALLTHROUGH;
	case IMAP_MODE_IDLE_WAIT:
		if (done) {
			/* The client may pipeline commands right after DONE;
			 * the tagged reply to IDLE is then just a reply. */
			l->kind = IMAP_LINE_DONE;
			l->tag[0] = '\0';
			imap_parser_set_mode(p, IMAP_MODE_COMMAND, NULL);
			return NULL;
		}
		break;
	default:
		break;
	}
	if (strcmp(l->name, "IDLE") == 0 ||
	    strcmp(l->name, "AUTHENTICATE") == 0) {
		if (l->tag_too_long)
			return "tag too long to follow its reply";
		imap_parser_set_mode(p, l->name[0] == 'I' ?
		    IMAP_MODE_IDLE_WAIT : IMAP_MODE_AUTH, l->tag);
	}
	return NULL;
}

static void
imap_parser_literal_end(struct imap_parser *p)
{
	imap_parser_set_state(p, ST_ARGS);
	if (p->arg1_state == A1_LITERAL)
		p->arg1_state = A1_DONE;
	if (p->fetch_state == FT_VALUE_LIT)
		p->fetch_state = FT_NAME_WAIT;
}

/* "{n}" CRLF complete.  Returns an error string or NULL. */
static const char *
imap_parser_literal_start(struct imap_parser *p)
{
	p->line.literals++;
	p->literal_left = p->literal_size;
	p->literal_section[0] = '\0';
	if (p->arg1_state == A1_LIT_MAYBE)
		p->arg1_state = A1_LITERAL;
	if (p->fetch_state == FT_VALUE_LIT_MAYBE)
		p->fetch_state = FT_VALUE_LIT;
	if (fetch_in_value(p))
		memcpy(p->literal_section, p->token, p->token_len + 1);
	imap_parser_set_state(p, ST_LIT_DATA);
	if (p->dir == IMAP_DIR_CLIENT && !p->literal_nonsync) {
		/* RFC 9051 7.5: the data waits for "+"; a tagged reply
		 * instead means the command was refused (STYLE 11). */
		if (p->line.tag_too_long)
			return "tag too long to follow its reply";
		imap_parser_set_mode(p, IMAP_MODE_LITERAL_WAIT, p->line.tag);
	} else if (p->literal_left == 0)
		imap_parser_literal_end(p);
	return NULL;
}

static void
imap_parser_literal_data(struct imap_parser *p, const unsigned char *d,
    size_t n)
{
	if (p->arg1_state == A1_LITERAL) {
		for (size_t i = 0; i < n && !p->line.arg1_truncated; i++)
			arg1_append(p, d[i]);
	}
	p->literal_left -= n;
	if (p->literal_left == 0)
		imap_parser_literal_end(p);
}

/* ---- the scanner ---- */

enum imap_parse_result
imap_parser_feed(struct imap_parser *p, const unsigned char *data,
    size_t len, size_t *consumed_r, const char **errstr_r)
{
	const unsigned char *pos = data, *end = data + len;
	struct imap_line *l = &p->line;
	bool client = p->dir == IMAP_DIR_CLIENT;
	const char *why;
	unsigned char c;

#define EOL(c) do { \
	if ((c) == '\n') \
		goto line_end; \
	if ((c) == '\r') { \
		imap_parser_set_state(p, ST_CR); \
		goto next; \
	} \
} while (0)
#define FAIL(msg) \
	return imap_parser_error(p, (msg), (size_t)(pos + 1 - data), \
	    consumed_r, errstr_r)

	*errstr_r = NULL;
	if (p->state == ST_BLIND) {
		*consumed_r = len;
		return IMAP_PARSE_BLIND;
	}
	for (; pos < end; pos++) {
		if (p->state == ST_LIT_DATA) {
			size_t n = (size_t)(end - pos);

			if (p->mode == IMAP_MODE_LITERAL_WAIT)
				FAIL("literal data sent before continuation");
			if (p->literal_left > 0) {
				if ((uint64_t)n > p->literal_left)
					n = (size_t)p->literal_left;
				imap_parser_literal_data(p, pos, n);
				pos += n - 1;	/* the loop adds the last 1 */
				continue;
			}
			/* an empty literal ends before this byte */
			imap_parser_literal_end(p);
		}
		if (++p->line_len > p->line_max)
			FAIL("line too long");
		c = *pos;
again:
		switch ((enum imap_state)p->state) {
		case ST_LINE_START:
			imap_parser_line_start(p);
			if (c == '\r' || c == '\n') {
				/* an empty line is reported only as an
				 * (empty) SASL response */
				if (client && p->mode == IMAP_MODE_AUTH)
					l->kind = IMAP_LINE_SASL;
				EOL(c);
			}
			if (client) {
				if (p->mode == IMAP_MODE_AUTH) {
					l->kind = IMAP_LINE_SASL;
					imap_parser_set_state(p, ST_TEXT);
					break;
				}
				l->kind = IMAP_LINE_COMMAND;
				imap_parser_set_state(p, ST_TAG);
				goto again;
			}
			if (c == '*') {
				l->kind = IMAP_LINE_UNTAGGED;
				imap_parser_set_state(p, ST_STAR);
			} else if (c == '+') {
				l->kind = IMAP_LINE_CONTINUATION;
				imap_parser_set_state(p, ST_TEXT);
			} else {
				l->kind = IMAP_LINE_TAGGED;
				imap_parser_set_state(p, ST_TAG);
				goto again;
			}
			break;
		case ST_TAG:
			if (is_tag_char(c)) {
				const unsigned char *q = pos + 1,
				    *stop = imap_run_stop(p, pos, end);
				size_t n;

				while (q < stop && is_tag_char(*q))
					q++;
				n = (size_t)(q - pos);
				if (n > IMAP_TAG_MAX - p->tag_len) {
					l->tag_too_long = true;
					p->tag_len = IMAP_TAG_MAX;
					l->tag[0] = '\0';
				} else {
					memcpy(l->tag + p->tag_len, pos, n);
					p->tag_len += (unsigned)n;
					l->tag[p->tag_len] = '\0';
				}
				p->line_len += n - 1;
				pos = q - 1;
				break;
			}
			if (c == ' ') {
				if (p->tag_len == 0)
					FAIL("missing tag");
				if (client && p->mode == IMAP_MODE_IDLE)
					FAIL("IDLE: expected DONE");
				imap_parser_set_state(p, ST_NAME);
				break;
			}
			if (c == '\r' || c == '\n') {
				/* "DONE", or a tag alone */
				p->tag_only = true;
				EOL(c);
			}
			FAIL("invalid character in tag");
		case ST_STAR:
			if (c == ' ') {
				imap_parser_set_state(p, ST_UNTAGGED);
				break;
			}
			EOL(c);
			FAIL("expected SP after *");
		case ST_UNTAGGED:
			if (c >= '0' && c <= '9') {
				l->has_number = true;
				imap_parser_set_state(p, ST_NUMBER);
			} else
				imap_parser_set_state(p, ST_NAME);
			goto again;
		case ST_NUMBER:
			if (c >= '0' && c <= '9') {
				uint32_t d = (uint32_t)(c - '0');

				if (l->number > (UINT32_MAX - d) / 10)
					FAIL("message number too large");
				l->number = l->number * 10 + d;
				break;
			}
			if (c == ' ') {
				imap_parser_set_state(p, ST_NAME);
				break;
			}
			EOL(c);
			FAIL("invalid character in message number");
		case ST_NAME:
			if (is_atom_char(c) || (!client && c == ']')) {
				const unsigned char *q = pos,
				    *stop = imap_run_stop(p, pos, end);

				/* pos is in the run; in server lines "]" counts
				 * as a keyword byte, as it always has here */
				do {
					if (p->name_len < IMAP_NAME_MAX)
						l->name[p->name_len++] =
						    (char)to_upper(*q);
					q++;
				} while (q < stop && (is_atom_char(*q) ||
				    (!client && *q == ']')));
				l->name[p->name_len] = '\0';
				p->line_len += (size_t)(q - pos) - 1;
				pos = q - 1;
				break;
			}
			if (client && c == ' ' && !p->uid_prefix &&
			    strcmp(l->name, "UID") == 0) {
				/* RFC 9051 6.4.9: "UID FETCH" is one
				 * command for the proxy's purposes. */
				p->uid_prefix = true;
				l->name[p->name_len++] = ' ';
				l->name[p->name_len] = '\0';
				break;
			}
			EOL(c);
			if (client && c != ' ')
				FAIL("invalid character in command name");
			if (!client && l->kind == IMAP_LINE_TAGGED)
				imap_parser_set_state(p, ST_RESP_START);
			else if (!client && is_status(l->name))
				imap_parser_set_state(p, ST_RESP_START);
			else {
				if (!client && l->has_number &&
				    strcmp(l->name, "FETCH") == 0)
					p->fetch_state = FT_OPEN;
				imap_parser_set_state(p, ST_ARGS);
			}
			if (c != ' ')
				goto again;
			break;
		case ST_RESP_START:
			/* RFC 9051 7.1: resp-text never holds a literal,
			 * so "{5}" at its end is text. */
			if (c == '[') {
				imap_parser_set_state(p, ST_CODE);
				break;
			}
			imap_parser_set_state(p, ST_TEXT);
			goto again;
		case ST_CODE:
			if (c != ' ' && c != ']' && !is_ctl(c)) {
				if (p->code_len < IMAP_NAME_MAX) {
					l->code[p->code_len++] =
					    (char)to_upper(c);
					l->code[p->code_len] = '\0';
				}
				break;
			}
			imap_parser_set_state(p, ST_TEXT);
			goto again;
		case ST_TEXT:
			EOL(c);
			{
				/* Nothing in text changes the state before
				 * the line ends (no literal, RFC 9051 7.1):
				 * skip to CR or LF in one scan, within the
				 * line limit the per-byte count enforces. */
				const unsigned char *q = pos + 1, *stop = end;

				if ((size_t)(end - q) > p->line_max -
				    p->line_len)
					stop = q + (p->line_max - p->line_len);
				q = imap_scan_eol(q, stop);
				p->line_len += (size_t)(q - (pos + 1));
				pos = q - 1;
			}
			break;
		case ST_ARGS:
			if (client)
				arg1_byte(p, c);
			else if (p->fetch_state != FT_OFF)
				fetch_byte(p, c);
			switch (c) {
			case '"':
				imap_parser_set_state(p, ST_QUOTED);
				break;
			case '(':
				if (++p->depth > IMAP_NEST_MAX)
					FAIL("parentheses nested too deep");
				break;
			case ')':
				if (p->depth > 0)
					p->depth--;
				break;
			case '{':
				p->literal_binary = false;
				p->literal_nonsync = false;
				p->literal_size = 0;
				p->lit_digits = 0;
				imap_parser_set_state(p, ST_LIT_SIZE);
				break;
			case '~':
				imap_parser_set_state(p, ST_TILDE);
				break;
			case '\r':
			case '\n':
				EOL(c);
				break;
			default:
				break;
			}
			break;
		case ST_QUOTED:
			if (c == '\r' || c == '\n')
				FAIL("line break inside quoted string");
			if (c == '\\') {
				imap_parser_set_state(p, ST_QUOTED_ESC);
				break;
			}
			if (c == '"')
				imap_parser_set_state(p, ST_ARGS);
			if (client)
				arg1_quoted(p, c, false, c == '"');
			else
				fetch_quoted(p, c, c == '"');
			break;
		case ST_QUOTED_ESC:
			if (c == '\r' || c == '\n')
				FAIL("line break inside quoted string");
			if (client)
				arg1_quoted(p, c, true, false);
			else
				fetch_quoted(p, c, false);
			imap_parser_set_state(p, ST_QUOTED);
			break;
		case ST_TILDE:
			if (c == '{') {
				p->literal_binary = true;
				p->literal_nonsync = false;
				p->literal_size = 0;
				p->lit_digits = 0;
				imap_parser_set_state(p, ST_LIT_SIZE);
				break;
			}
			imap_parser_set_state(p, ST_ARGS);
			goto again;
		case ST_LIT_SIZE:
			if (c >= '0' && c <= '9') {
				uint64_t d = (uint64_t)(c - '0');

				/* RFC 9051 4.3: number64; a bomb like
				 * {99999999999999999999} stops here. */
				if (p->literal_size >
				    (IMAP_LITERAL_MAX - d) / 10)
					FAIL("literal too large");
				p->literal_size = p->literal_size * 10 + d;
				p->lit_digits++;
				break;
			}
			if (p->lit_digits > 0 && (c == '+' || c == '-')) {
				/* RFC 7888: "{n+}" does not wait; "{n-}"
				 * is read as the synchronizing form. */
				p->literal_nonsync = c == '+';
				imap_parser_set_state(p, ST_LIT_PLUS);
				break;
			}
			if (p->lit_digits > 0 && c == '}') {
				imap_parser_set_state(p, ST_LIT_CLOSE);
				break;
			}
			/* "{" followed by something else: plain text */
			imap_parser_set_state(p, ST_ARGS);
			goto again;
		case ST_LIT_PLUS:
			if (c == '}') {
				imap_parser_set_state(p, ST_LIT_CLOSE);
				break;
			}
			imap_parser_set_state(p, ST_ARGS);
			goto again;
		case ST_LIT_CLOSE:
			if (c == '\r') {
				imap_parser_set_state(p, ST_LIT_CR);
				break;
			}
			if (c != '\n') {
				/* "{5}x": a literal only ends a line */
				imap_parser_set_state(p, ST_ARGS);
				goto again;
			}
			FALLTHROUGH;
		case ST_LIT_CR:
			if (c != '\n')
				FAIL("CR without LF after literal size");
			if ((why = imap_parser_literal_start(p)) != NULL)
				FAIL(why);
			*consumed_r = (size_t)(pos + 1 - data);
			return IMAP_PARSE_LITERAL;
		case ST_CR:
			if (c != '\n')
				FAIL("CR without LF");
			goto line_end;
		case ST_LIT_DATA:
		case ST_BLIND:
		case ST_COUNT:
			FAIL("internal parser state error");
		}
next:
		continue;
line_end:
		if (l->kind == IMAP_LINE_NONE) {
			imap_parser_line_reset(p);
			continue;
		}
		if (client && (why = imap_parser_client_line_end(p)) != NULL)
			FAIL(why);
		imap_parser_line_reset(p);
		*consumed_r = (size_t)(pos + 1 - data);
		return IMAP_PARSE_LINE;
	}
	*consumed_r = len;
	return IMAP_PARSE_AGAIN;
#undef FAIL
#undef EOL
}

bool
imap_parser_in_literal(const struct imap_parser *p)
{
	return p->state == ST_LIT_DATA && p->mode != IMAP_MODE_LITERAL_WAIT &&
	    p->literal_left > 0;
}

uint64_t
imap_parser_literal_left(const struct imap_parser *p)
{
	return p->state == ST_LIT_DATA ? p->literal_left : 0;
}

bool
imap_parser_literal_opaque(const struct imap_parser *p)
{
	return imap_parser_in_literal(p) && p->arg1_state != A1_LITERAL;
}

bool
imap_parser_skip_literal(struct imap_parser *p, uint64_t n)
{
	if (!imap_parser_literal_opaque(p) || n == 0 || n > p->literal_left)
		return false;
	p->literal_left -= n;
	if (p->literal_left == 0)
		imap_parser_literal_end(p);
	return true;
}

uint64_t
imap_parser_literal_size(const struct imap_parser *p)
{
	return p->literal_size;
}

bool
imap_parser_literal_nonsync(const struct imap_parser *p)
{
	return p->literal_nonsync;
}

bool
imap_parser_literal_binary(const struct imap_parser *p)
{
	return p->literal_binary;
}

const char *
imap_parser_literal_section(const struct imap_parser *p)
{
	return p->literal_section;
}

bool
imap_parser_blind(const struct imap_parser *p)
{
	return p->state == ST_BLIND;
}

enum imap_client_mode
imap_parser_mode(const struct imap_parser *p)
{
	return p->mode;
}

void
imap_parser_server_continuation(struct imap_parser *client)
{
	if (client->state == ST_BLIND)
		return;
	switch (client->mode) {
	case IMAP_MODE_LITERAL_WAIT:
		imap_parser_set_mode(client, IMAP_MODE_COMMAND, NULL);
		if (client->literal_left == 0)
			imap_parser_literal_end(client);
		break;
	case IMAP_MODE_IDLE_WAIT:
		imap_parser_set_mode(client, IMAP_MODE_IDLE, client->mode_tag);
		break;
	default:
		/* AUTH: a SASL challenge; COMMAND: nothing waits on it */
		break;
	}
}

void
imap_parser_server_tagged(struct imap_parser *client, const char *tag)
{
	if (client->state == ST_BLIND || client->mode == IMAP_MODE_COMMAND ||
	    tag == NULL || strcmp(tag, client->mode_tag) != 0)
		return;
	if (client->mode == IMAP_MODE_LITERAL_WAIT) {
		/* RFC 9051 7.5: the command was refused before its literal;
		 * the client's next byte starts a new command. */
		imap_parser_line_reset(client);
	}
	imap_parser_set_mode(client, IMAP_MODE_COMMAND, NULL);
}

const char *
imap_client_mode_name(enum imap_client_mode mode)
{
	if ((unsigned)mode >= sizeof(mode_names) / sizeof(mode_names[0]))
		return "?";
	return mode_names[mode];
}

const char *
imap_parser_state_name(const struct imap_parser *p)
{
	if (p->state < 0 || p->state >= ST_COUNT)
		return "?";
	return state_names[p->state];
}

/* ---- whole buffered commands (pre-auth) ---- */

struct args_ctx {
	const unsigned char *d;
	size_t len, i;
	char *scratch;
	size_t scratch_size, scratch_used;
	const char *err;
};

static bool
args_eol(const struct args_ctx *a)
{
	return a->i < a->len && (a->d[a->i] == '\r' || a->d[a->i] == '\n');
}

/* At "{" or "~{": parses "{n[+-]}" CRLF and skips the data. */
static bool
args_literal(struct args_ctx *a, struct imap_arg *arg)
{
	uint64_t size = 0;
	unsigned digits = 0;

	if (a->d[a->i] == '~')
		a->i++;
	if (a->i >= a->len || a->d[a->i] != '{') {
		a->err = "invalid literal";
		return false;
	}
	for (a->i++; a->i < a->len && a->d[a->i] >= '0' && a->d[a->i] <= '9';
	    a->i++, digits++) {
		uint64_t dg = (uint64_t)(a->d[a->i] - '0');

		if (size > (IMAP_LITERAL_MAX - dg) / 10) {
			a->err = "literal too large";
			return false;
		}
		size = size * 10 + dg;
	}
	if (a->i < a->len && (a->d[a->i] == '+' || a->d[a->i] == '-'))
		a->i++;
	if (digits == 0 || a->i >= a->len || a->d[a->i] != '}') {
		a->err = "invalid literal";
		return false;
	}
	a->i++;
	if (a->i < a->len && a->d[a->i] == '\r')
		a->i++;
	if (a->i >= a->len || a->d[a->i] != '\n') {
		a->err = "missing CRLF after literal size";
		return false;
	}
	a->i++;
	if (size > a->len - a->i) {
		a->err = "literal data incomplete";
		return false;
	}
	if (arg != NULL) {
		arg->ptr = (const char *)a->d + a->i;
		arg->len = (size_t)size;
		arg->type = IMAP_ARG_STRING;
	}
	a->i += (size_t)size;
	return true;
}

/* At '"': unescapes into scratch (or only skips, arg == NULL). */
static bool
args_quoted(struct args_ctx *a, struct imap_arg *arg)
{
	char *out = a->scratch + a->scratch_used;
	size_t n = 0;

	for (a->i++; a->i < a->len; a->i++) {
		unsigned char c = a->d[a->i];

		if (c == '\r' || c == '\n')
			break;
		if (c == '"') {
			a->i++;
			if (arg != NULL) {
				arg->ptr = out;
				arg->len = n;
				arg->type = IMAP_ARG_STRING;
				a->scratch_used += n;
			}
			return true;
		}
		if (c == '\\') {
			if (++a->i >= a->len || a->d[a->i] == '\r' ||
			    a->d[a->i] == '\n')
				break;
			c = a->d[a->i];
		}
		if (arg != NULL) {
			if (a->scratch_used + n >= a->scratch_size) {
				a->err = "scratch buffer too small";
				return false;
			}
			out[n] = (char)c;
		}
		n++;
	}
	a->err = "unterminated quoted string";
	return false;
}

static bool
args_list(struct args_ctx *a, struct imap_arg *arg)
{
	size_t start = a->i;
	unsigned depth = 0;

	while (a->i < a->len) {
		unsigned char c = a->d[a->i];

		if (c == '"') {
			if (!args_quoted(a, NULL))
				return false;
			continue;
		}
		if (c == '{' || c == '~') {
			if (!args_literal(a, NULL))
				return false;
			continue;
		}
		if (c == '\r' || c == '\n')
			break;
		a->i++;
		if (c == '(' && ++depth > IMAP_NEST_MAX) {
			a->err = "parentheses nested too deep";
			return false;
		}
		if (c == ')' && --depth == 0) {
			arg->ptr = (const char *)a->d + start;
			arg->len = a->i - start;
			arg->type = IMAP_ARG_LIST;
			return true;
		}
	}
	a->err = "unterminated list";
	return false;
}

static bool
args_atom(struct args_ctx *a, struct imap_arg *arg)
{
	size_t start = a->i;

	while (a->i < a->len &&
	    (is_atom_char(a->d[a->i]) || a->d[a->i] == ']' ||
	    a->d[a->i] == '%' || a->d[a->i] == '*' || a->d[a->i] >= 0x80))
		a->i++;
	if (a->i == start) {
		a->err = "invalid argument";
		return false;
	}
	arg->ptr = (const char *)a->d + start;
	arg->len = a->i - start;
	arg->type = arg->len == 3 && to_upper(a->d[start]) == 'N' &&
	    to_upper(a->d[start + 1]) == 'I' &&
	    to_upper(a->d[start + 2]) == 'L' ? IMAP_ARG_NIL : IMAP_ARG_ATOM;
	return true;
}

int
imap_parse_args(const char *data, size_t len, struct imap_arg *args,
    int max_args, char *scratch, size_t scratch_size, const char **errstr_r)
{
	struct args_ctx a = {
		.d = (const unsigned char *)data, .len = len,
		.scratch = scratch, .scratch_size = scratch_size,
	};
	size_t start;
	int n = 0;

	while (a.i < len && is_tag_char(a.d[a.i]))
		a.i++;
	if (a.i == 0 || a.i >= len || a.d[a.i] != ' ') {
		*errstr_r = "missing tag";
		return -1;
	}
	start = ++a.i;
	while (a.i < len && is_atom_char(a.d[a.i]))
		a.i++;
	if (a.i == start) {
		*errstr_r = "missing command name";
		return -1;
	}
	for (;;) {
		bool ok;

		if (a.i >= len) {
			*errstr_r = "missing CRLF";
			return -1;
		}
		if (a.d[a.i] == '\r')
			a.i++;
		if (a.i < len && a.d[a.i] == '\n') {
			a.i++;
			break;
		}
		if (a.i >= len || a.d[a.i] != ' ') {
			*errstr_r = a.d[a.i - 1] == '\r' ? "CR without LF" :
			    "expected SP between arguments";
			return -1;
		}
		a.i++;
		if (args_eol(&a))
			continue;	/* tolerated trailing SP */
		if (n >= max_args) {
			*errstr_r = "too many arguments";
			return -1;
		}
		switch (a.i < len ? a.d[a.i] : '\0') {
		case '"':
			ok = args_quoted(&a, &args[n]);
			break;
		case '{':
		case '~':
			ok = args_literal(&a, &args[n]);
			break;
		case '(':
			ok = args_list(&a, &args[n]);
			break;
		default:
			ok = args_atom(&a, &args[n]);
			break;
		}
		if (!ok) {
			*errstr_r = a.err;
			return -1;
		}
		n++;
	}
	if (a.i != len) {
		*errstr_r = "data after end of command";
		return -1;
	}
	return n;
}
