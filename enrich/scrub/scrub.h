/*
 * scrub.h - an email body into the sender's new words.
 *
 * Two steps.  scrub_html_to_text() renders HTML (parsed by libgumbo, a
 * real HTML5 parser) to plain text: script, style, head, hidden elements
 * and tracking pixels dropped; paragraphs, line breaks, list items and
 * links kept; <blockquote> rendered as "> " lines so quoted HTML looks
 * like quoted text.  scrub_text() then labels every line of a plain-text
 * body as new content, quoted (replies, forwards, '>' blocks), signature
 * or disclaimer, and assembles each category.
 *
 * The caller always keeps the original; this is an index into it, never a
 * replacement.  Over-stripping (losing the sender's words) is the failure
 * that matters, so every rule is conservative: a line is removed only when
 * a pattern says so, and a signature or disclaimer only at the end of the
 * sender's own text.  Languages: English, German, French, Spanish,
 * Italian, Dutch, Portuguese, Swedish (attribution lines, forward and
 * original-message separators, reply header blocks, sign-offs, mobile
 * signatures, disclaimer vocabulary).
 *
 * Input and output are UTF-8.  Libraries never log or exit; allocation
 * failure aborts (xmalloc).  No global state.
 */
#ifndef CRM_ENRICH_SCRUB_H
#define CRM_ENRICH_SCRUB_H

#include <stdbool.h>
#include <stddef.h>

struct scrub_limits {
	size_t max_html;	/* HTML input bytes; larger is cut */
	size_t max_text;	/* text output / input bytes; larger is cut */
	unsigned max_depth;	/* HTML element nesting rendered */
	size_t max_lines;	/* lines classified; past them only '>'
				 * lines and a quote running to the end
				 * are recognised, the rest is body */
};

/* 4 MiB, 4 MiB, 256, 20000. */
void scrub_limits_default(struct scrub_limits *l);

struct scrub_html_stats {
	unsigned trackers;	/* tracking images dropped */
	unsigned images;	/* other images (not rendered) */
	unsigned hidden;	/* hidden elements dropped */
	bool truncated;		/* input or output cut at a limit */
	/*
	 * First line of a reply / forward container marked in the markup
	 * itself, whatever the language: Outlook's divRplyFwdMsg and
	 * appendonsend, its border-top header block, Yahoo's yahoo_quoted.
	 * (size_t)-1 when there is none.  scrub_text_hint() takes it.
	 */
	size_t quote_line;
};

/*
 * Renders html[0..len) as UTF-8 plain text with LF line ends, at most one
 * empty line in a row, no trailing white space.  limits may be NULL.
 * Returns a new NUL-terminated string (caller frees) and its length in
 * *len_r; stats_r may be NULL.  Never fails: empty or unparsable input
 * gives "".
 */
char *scrub_html_to_text(const char *html, size_t len,
    const struct scrub_limits *limits, size_t *len_r,
    struct scrub_html_stats *stats_r);

enum scrub_kind {
	SCRUB_BODY,		/* the sender's new words */
	SCRUB_QUOTED,		/* replies, forwards, '>' quotes */
	SCRUB_SIGNATURE,	/* sign-off, signature block, "Sent from" */
	SCRUB_DISCLAIMER,	/* legal / confidentiality notices */
};

struct scrub_line {
	size_t off, len;	/* into the text given to scrub_text() */
	enum scrub_kind kind;
};

struct scrub_sig_fields {	/* each NULL when not found */
	char *name, *title, *company, *phone, *email;
};

struct scrub_result {
	char *body;		/* each: lines of that kind, joined by LF, */
	char *quoted;		/* leading and trailing empty lines */
	char *signature;	/* removed; "" when there are none */
	char *disclaimer;
	struct scrub_sig_fields sig;
	struct scrub_line *lines;	/* every line of the input */
	size_t n_lines;
};

/*
 * Classifies text[0..len) (UTF-8, LF or CRLF line ends) line by line into
 * *r (zeroed first).  limits may be NULL.  Never fails; free with
 * scrub_result_free().
 */
void scrub_text(const char *text, size_t len,
    const struct scrub_limits *limits, struct scrub_result *r);

/*
 * scrub_text() with a hint from the HTML renderer: lines from quote_line
 * to the end are quoted (with a rule line just above), before any text
 * rule runs.  quote_line (size_t)-1 is plain scrub_text().
 */
void scrub_text_hint(const char *text, size_t len,
    const struct scrub_limits *limits, size_t quote_line,
    struct scrub_result *r);

/*
 * The policy a daemon wants: the text/plain body when it has any
 * non-blank content, else the HTML rendered by scrub_html_to_text(),
 * classified with its quote hint.
 * *text_r receives the text that was classified (caller frees; the line
 * offsets of *r point into it).  Either input may be NULL.
 */
void scrub_message(const char *text, size_t text_len, const char *html,
    size_t html_len, const struct scrub_limits *limits, char **text_r,
    struct scrub_result *r);

/* Frees everything in *r and zeroes it.  Idempotent. */
void scrub_result_free(struct scrub_result *r);

const char *scrub_kind_name(enum scrub_kind k);

#endif
