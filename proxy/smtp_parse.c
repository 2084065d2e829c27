/* smtp_parse.c - see smtp_parse.h. */
#include "proxy/smtp_parse.h"

#include <string.h>
#include <strings.h>

/* gcc reads comments for -Wimplicit-fallthrough, clang only this */
#define FALLTHROUGH __attribute__((fallthrough))

enum client_state {
	C_LINE,			/* inside a command or SASL line */
	C_LINE_CR,		/* CR seen, LF must follow */
	D_BOL,			/* DATA: at the beginning of a line */
	D_TEXT,			/* DATA: inside a line */
	D_CR,			/* DATA: CR seen */
	D_DOT,			/* DATA: a line began with '.' */
	D_DOT_CR,		/* DATA: ".\r" at the beginning of a line */
	B_CHUNK,		/* BDAT octets */
};

enum server_state {
	S_LINE,
	S_LINE_CR,
};

static const struct {
	const char *name;
	enum smtp_cmd cmd;
} smtp_cmds[] = {
	{ "EHLO", SMTP_CMD_EHLO },
	{ "HELO", SMTP_CMD_HELO },
	{ "MAIL", SMTP_CMD_MAIL },
	{ "RCPT", SMTP_CMD_RCPT },
	{ "DATA", SMTP_CMD_DATA },
	{ "BDAT", SMTP_CMD_BDAT },
	{ "AUTH", SMTP_CMD_AUTH },
	{ "STARTTLS", SMTP_CMD_STARTTLS },
	{ "RSET", SMTP_CMD_RSET },
	{ "NOOP", SMTP_CMD_NOOP },
	{ "QUIT", SMTP_CMD_QUIT },
};

enum smtp_cmd
smtp_cmd_parse(const char *verb, size_t len)
{
	for (size_t i = 0; i < sizeof(smtp_cmds) / sizeof(smtp_cmds[0]); i++)
		if (strlen(smtp_cmds[i].name) == len &&
		    strncasecmp(smtp_cmds[i].name, verb, len) == 0)
			return smtp_cmds[i].cmd;
	return len == 0 ? SMTP_CMD_NONE : SMTP_CMD_UNKNOWN;
}

const char *
smtp_cmd_name(enum smtp_cmd cmd)
{
	for (size_t i = 0; i < sizeof(smtp_cmds) / sizeof(smtp_cmds[0]); i++)
		if (smtp_cmds[i].cmd == cmd)
			return smtp_cmds[i].name;
	return cmd == SMTP_CMD_NONE ? "(empty)" : "(unknown)";
}

void
smtp_client_init(struct smtp_client_parser *p, size_t line_max)
{
	memset(p, 0, sizeof(*p));
	p->line_max = line_max == 0 || line_max > SMTP_LINE_MAX ?
	    SMTP_LINE_MAX : line_max;
	p->state = C_LINE;
	p->mode = SMTP_MODE_COMMAND;
}

void
smtp_client_reset(struct smtp_client_parser *p)
{
	smtp_client_init(p, p->line_max);
}

void
smtp_client_set_mode(struct smtp_client_parser *p, enum smtp_client_mode mode)
{
	if (p->error)
		return;
	p->mode = mode;
	p->data_total = 0;
	p->state = mode == SMTP_MODE_DATA ? D_BOL :
	    mode == SMTP_MODE_CHUNK ? B_CHUNK : C_LINE;
}

/* BDAT chunk-size [SP "LAST"] (RFC 3030 section 2). */
static void
smtp_client_bdat(struct smtp_client_parser *p)
{
	const char *a = p->arg, *end = p->arg + p->arg_len;
	uint64_t n = 0;

	p->bdat_ok = false;
	p->bdat_last = false;
	p->bdat_size = 0;
	if (a == end || *a < '0' || *a > '9')
		return;
	for (; a < end && *a >= '0' && *a <= '9'; a++) {
		n = n * 10 + (uint64_t)(*a - '0');
		if (n > SMTP_CHUNK_MAX)
			return;
	}
	if (a < end) {
		if (end - a != 5 || strncasecmp(a, " LAST", 5) != 0)
			return;
		p->bdat_last = true;
	}
	p->bdat_ok = true;
	p->bdat_size = n;
}

static void
smtp_client_line_done(struct smtp_client_parser *p)
{
	const char *sp;
	size_t vlen;

	p->line[p->line_len] = '\0';
	p->cmd = SMTP_CMD_NONE;
	p->arg = p->line + p->line_len;
	p->arg_len = 0;
	p->bdat_ok = p->bdat_last = false;
	p->sasl_line = p->mode == SMTP_MODE_SASL;
	if (p->sasl_line)
		return;
	sp = memchr(p->line, ' ', p->line_len);
	vlen = sp != NULL ? (size_t)(sp - p->line) : p->line_len;
	p->cmd = smtp_cmd_parse(p->line, vlen);
	if (sp != NULL) {
		p->arg = sp + 1;
		p->arg_len = p->line_len - vlen - 1;
	}
	if (p->cmd == SMTP_CMD_BDAT) {
		smtp_client_bdat(p);
		if (p->bdat_ok) {
			p->chunk_left = p->bdat_size;
			smtp_client_set_mode(p, SMTP_MODE_CHUNK);
		}
	}
}

static enum smtp_parse_result
smtp_client_fail(struct smtp_client_parser *p, const char *why,
    const char **errstr_r)
{
	p->error = true;
	p->errstr = why;
	*errstr_r = why;
	return SMTP_PARSE_ERROR;
}

enum smtp_parse_result
smtp_client_feed(struct smtp_client_parser *p, const unsigned char *in,
    size_t len, size_t *consumed_r, const char **errstr_r)
{
	const unsigned char *c = in, *end = in + len, *run = NULL;

	*consumed_r = 0;
	p->data = NULL;
	p->data_len = 0;
	if (p->error) {
		*errstr_r = p->errstr;
		return SMTP_PARSE_ERROR;
	}
	if (p->line_ready) {
		p->line_ready = false;
		p->line_len = 0;
	}
	if (p->state == B_CHUNK) {
		size_t n = len;

		if ((uint64_t)n > p->chunk_left)
			n = (size_t)p->chunk_left;
		p->data = in;
		p->data_len = n;
		p->chunk_left -= n;
		p->data_total += n;
		*consumed_r = n;
		if (p->chunk_left == 0) {
			/* "BDAT 0 LAST" ends here too, at once. */
			smtp_client_set_mode(p, SMTP_MODE_COMMAND);
			return SMTP_PARSE_CHUNK_END;
		}
		return n > 0 ? SMTP_PARSE_DATA : SMTP_PARSE_AGAIN;
	}

	for (; c < end; c++) {
		unsigned char b = *c;

		switch ((enum client_state)p->state) {
		case C_LINE:
			if (b == '\r') {
				p->state = C_LINE_CR;
				break;
			}
			if (b == '\n')
				goto fail;
			if (p->line_len >= p->line_max) {
				*consumed_r = (size_t)(c - in);
				return smtp_client_fail(p, "line too long",
				    errstr_r);
			}
			p->line[p->line_len++] = (char)b;
			break;
		case C_LINE_CR:
			if (b != '\n')
				goto fail_cr;
			p->state = C_LINE;
			smtp_client_line_done(p);
			p->line_ready = true;
			*consumed_r = (size_t)(c + 1 - in);
			return SMTP_PARSE_LINE;
		case D_BOL:
			if (b == '.') {
				/* RFC 5321 4.5.2: a leading period is
				 * removed; the bytes before it go first. */
				if (run != NULL)
					goto data_out;
				p->state = D_DOT;
				break;
			}
			FALLTHROUGH;
		case D_TEXT:
			if (b == '\n')
				goto fail;
			if (run == NULL)
				run = c;
			p->state = b == '\r' ? D_CR : D_TEXT;
			break;
		case D_CR:
			if (b != '\n')
				goto fail_cr;
			p->state = D_BOL;
			break;
		case D_DOT:
			if (b == '\r') {
				p->state = D_DOT_CR;
				break;
			}
			if (b == '\n')
				goto fail;
			run = c;
			p->state = D_TEXT;
			break;
		case D_DOT_CR:
			if (b != '\n')
				goto fail_cr;
			/* Nothing is emitted after a leading '.', so the
			 * run is empty here: the message ended with the
			 * slice returned before. */
			smtp_client_set_mode(p, SMTP_MODE_COMMAND);
			*consumed_r = (size_t)(c + 1 - in);
			return SMTP_PARSE_DATA_END;
		case B_CHUNK:
			break;
		}
	}
	/* A trailing CR waits for its partner (see the header). */
	if (p->state == C_LINE_CR) {
		p->state = C_LINE;
		c--;
	} else if (p->state == D_CR) {
		p->state = D_TEXT;
		c--;
	} else if (p->state == D_DOT_CR) {
		p->state = D_DOT;
		c--;
	}
	if (run != NULL && c > run)
		goto data_out;
	*consumed_r = (size_t)(c - in);
	return SMTP_PARSE_AGAIN;

data_out:
	p->data = run;
	p->data_len = (size_t)(c - run);
	p->data_total += p->data_len;
	*consumed_r = (size_t)(c - in);
	return SMTP_PARSE_DATA;

fail_cr:
	/* The CR before b was taken with b; give it back, so nothing a
	 * CR-splitting server could read as a line end was consumed. */
	c--;
	p->error = true;
	p->errstr = p->mode == SMTP_MODE_DATA ? "bare CR in message data" :
	    "bare CR in a command line";
	goto fail_out;
fail:
	p->error = true;
	p->errstr = p->mode == SMTP_MODE_DATA ? "bare LF in message data" :
	    "bare LF in a command line";
fail_out:
	if (run != NULL && c > run) {
		p->data = run;
		p->data_len = (size_t)(c - run);
		p->data_total += p->data_len;
	}
	*consumed_r = (size_t)(c - in);
	*errstr_r = p->errstr;
	return SMTP_PARSE_ERROR;
}

void
smtp_server_init(struct smtp_server_parser *p)
{
	memset(p, 0, sizeof(*p));
	p->state = S_LINE;
}

static enum smtp_parse_result
smtp_server_line(struct smtp_server_parser *p, const char **errstr_r)
{
	const char *l = p->line;

	p->line[p->line_len] = '\0';
	if (p->line_len < 3 || l[0] < '2' || l[0] > '5' || l[1] < '0' ||
	    l[1] > '9' || l[2] < '0' || l[2] > '9' ||
	    (p->line_len > 3 && l[3] != ' ' && l[3] != '-')) {
		p->error = true;
		p->errstr = "reply line without a code";
		*errstr_r = p->errstr;
		return SMTP_PARSE_ERROR;
	}
	p->code = (unsigned)((l[0] - '0') * 100 + (l[1] - '0') * 10 +
	    (l[2] - '0'));
	p->last = p->line_len == 3 || l[3] == ' ';
	p->text = p->line_len > 3 ? l + 4 : l + 3;
	p->text_len = p->line_len > 3 ? p->line_len - 4 : 0;
	return SMTP_PARSE_LINE;
}

enum smtp_parse_result
smtp_server_feed(struct smtp_server_parser *p, const unsigned char *in,
    size_t len, size_t *consumed_r, const char **errstr_r)
{
	*consumed_r = 0;
	if (p->error) {
		*errstr_r = p->errstr;
		return SMTP_PARSE_ERROR;
	}
	if (p->line_ready) {
		p->line_ready = false;
		p->line_len = 0;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char b = in[i];
		const char *why = NULL;

		if (p->state == S_LINE_CR) {
			p->state = S_LINE;
			if (b == '\n') {
				*consumed_r = i + 1;
				p->line_ready = true;
				return smtp_server_line(p, errstr_r);
			}
			why = "bare CR in a reply";
		} else if (b == '\r') {
			p->state = S_LINE_CR;
		} else if (b == '\n') {
			why = "bare LF in a reply";
		} else if (p->line_len >= SMTP_REPLY_LINE_MAX) {
			why = "reply line too long";
		} else {
			p->line[p->line_len++] = (char)b;
		}
		if (why != NULL) {
			*consumed_r = i;
			p->error = true;
			p->errstr = why;
			*errstr_r = why;
			return SMTP_PARSE_ERROR;
		}
	}
	*consumed_r = len;
	return SMTP_PARSE_AGAIN;
}

bool
smtp_path(const char *arg, size_t len, const char *prefix,
    const char **path_r, size_t *len_r)
{
	size_t plen = strlen(prefix), i, start;
	bool quoted = false;

	if (len < plen || strncasecmp(arg, prefix, plen) != 0)
		return false;
	i = plen;
	while (i < len && arg[i] == ' ')
		i++;
	if (i == len || arg[i] != '<')
		return false;
	start = ++i;
	for (; i < len; i++) {
		if (quoted && arg[i] == '\\' && i + 1 < len) {
			i++;
			continue;
		}
		if (arg[i] == '"')
			quoted = !quoted;
		else if (arg[i] == '>' && !quoted)
			break;
	}
	if (i == len)
		return false;
	*path_r = arg + start;
	*len_r = i - start;
	return true;
}

size_t
smtp_ehlo_keyword(const char *text, size_t len)
{
	size_t i = 0;

	while (i < len && text[i] != ' ' && text[i] != '=')
		i++;
	return i;
}
