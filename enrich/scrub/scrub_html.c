/*
 * scrub_html.c - HTML to the text a reader sees, through libgumbo.
 *
 * What is dropped: elements that are never shown (head, script, style,
 * template, ...), elements hidden by attribute or inline CSS (the
 * "preheader" text of newsletters, tracking containers), and images - a
 * tracking pixel is counted apart from a real image, but neither is text.
 * What is kept: text, with HTML's white-space collapsing; block elements
 * as line breaks; <p> as paragraphs (Outlook's MsoNormal paragraphs as
 * lines: its stylesheet sets their margins to zero); list items with "- "
 * or "N. "; links as "text <url>" when the URL says more than the text;
 * <blockquote> as "> " prefixed lines.
 *
 * Gumbo builds the whole tree, and deeply nested input would make deep
 * trees; the input is cut before the element that would open nesting past
 * PRESCAN_DEPTH (a cheap tag count, see prescan_cut), and rendering stops
 * descending at limits->max_depth, so neither gumbo nor this file
 * recurses without bound.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gumbo.h>

#include "enrich/mime/mime_int.h"
#include "enrich/scrub/scrub.h"
#include "lib/xmalloc.h"

#define PRESCAN_DEPTH 1000

void
scrub_limits_default(struct scrub_limits *l)
{
	l->max_html = 4u << 20;
	l->max_text = 4u << 20;
	l->max_depth = 256;
	l->max_lines = 20000;
}

struct render {
	struct mbuf out;
	const struct scrub_limits *l;
	struct scrub_html_stats *st;
	unsigned quote;		/* blockquote depth */
	bool pre;		/* inside <pre> */
	bool space;		/* a collapsed space is pending */
	size_t line_start;	/* offset of the current line in out */
	unsigned ol_n[32];	/* counters of open <ol>, innermost last */
	int ol_top;
};

static bool
at_line_start(const struct render *r)
{
	return r->out.len == r->line_start;
}

static void
add(struct render *r, const char *s, size_t n)
{
	if (at_line_start(r))
		for (unsigned i = 0; i < r->quote && i < 32; i++)
			mbuf_add(&r->out, "> ", 2);
	mbuf_add(&r->out, s, n);
}

/* Ends the current line if it has text; with blank, leaves one empty
 * line after it (at most one in a row). */
static void
newline(struct render *r, bool blank)
{
	if (!at_line_start(r)) {
		while (r->out.len > r->line_start &&
		    r->out.p[r->out.len - 1] == ' ')
			r->out.len--;
		mbuf_addc(&r->out, '\n');
		r->line_start = r->out.len;
	}
	r->space = false;
	if (blank && r->out.len > 0 &&
	    !(r->out.len >= 2 && r->out.p[r->out.len - 2] == '\n')) {
		if (r->quote > 0) {
			add(r, "", 0);
			while (r->out.len > r->line_start &&
			    r->out.p[r->out.len - 1] == ' ')
				r->out.len--;
		}
		mbuf_addc(&r->out, '\n');
		r->line_start = r->out.len;
	}
}

/* A <br>: ends the line even when it is empty. */
static void
hard_break(struct render *r)
{
	if (at_line_start(r) && r->quote > 0)
		add(r, "", 0);
	while (r->out.len > r->line_start && r->out.p[r->out.len - 1] == ' ')
		r->out.len--;
	mbuf_addc(&r->out, '\n');
	r->line_start = r->out.len;
	r->space = false;
}

/* No-break spaces (U+00A0, U+2007, U+202F) are spaces in plain text. */
static size_t
nbsp(const unsigned char *p)
{
	if (p[0] == 0xc2 && p[1] == 0xa0)
		return 2;
	if (p[0] == 0xe2 && p[1] == 0x80 && p[2] == 0xaf)
		return 3;
	if (p[0] == 0xe2 && p[1] == 0x80 && p[2] == 0x87)
		return 3;
	return 0;
}

static void
text(struct render *r, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	if (r->pre) {
		/* whole runs between line ends, so a limit never splits a
		 * UTF-8 sequence */
		while (*p) {
			size_t n = strcspn((const char *)p, "\r\n");

			if (n > 0)
				add(r, (const char *)p, n);
			p += n;
			if (*p == '\n')
				hard_break(r);
			if (*p)
				p++;
		}
		return;
	}
	while (*p) {
		size_t n = 0;

		/* ASCII white space and U+00A0 collapse to one space */
		if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' ||
		    *p == '\f') {
			r->space = true;
			p++;
			continue;
		}
		if ((n = nbsp(p)) > 0) {
			r->space = true;
			p += n;
			continue;
		}
		while (p[n] && p[n] != ' ' && p[n] != '\t' && p[n] != '\n' &&
		    p[n] != '\r' && p[n] != '\f' && nbsp(p + n) == 0)
			n++;
		if (r->space && !at_line_start(r))
			add(r, " ", 1);
		r->space = false;
		add(r, (const char *)p, n);
		p += n;
	}
}

static const char *
attr(const GumboElement *e, const char *name)
{
	const GumboAttribute *a = gumbo_get_attribute(&e->attributes, name);

	return a ? a->value : NULL;
}

/* Case-insensitive search for needle with CSS white space removed from
 * the haystack ("display : none" = "display:none"). */
static bool
css_has(const char *style, const char *needle)
{
	char buf[1024];
	size_t n = 0;

	for (; *style && n + 1 < sizeof(buf); style++)
		if (!isspace((unsigned char)*style))
			buf[n++] = (char)tolower((unsigned char)*style);
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

/* Reply / forward containers clients mark in their HTML. */
static bool
quote_container(const GumboElement *e)
{
	const char *id = attr(e, "id"), *cls = attr(e, "class");
	const char *st = attr(e, "style");

	if (id != NULL && (strcmp(id, "divRplyFwdMsg") == 0 ||
	    strcmp(id, "appendonsend") == 0 ||
	    strncmp(id, "yahoo_quoted", 12) == 0))
		return true;
	/*
	 * Not Gmail's gmail_quote or Thunderbird's moz-cite-prefix: their
	 * containers also hold the answers of an inline reply, and the
	 * blockquotes inside already render as '>' lines.
	 */
	if (cls != NULL && strstr(cls, "yahoo_quoted") != NULL)
		return true;
	/* Outlook desktop: the header block's top border */
	return st != NULL && (css_has(st, "border-top:solid#e1e1e1") ||
	    css_has(st, "border-top:solid#b5c4df"));
}

static void
note_quote(struct render *r)
{
	size_t lines = 0;

	if (r->st->quote_line != (size_t)-1)
		return;
	for (size_t i = 0; i < r->line_start; i++)
		lines += r->out.p[i] == '\n';
	r->st->quote_line = lines;
}

static bool
css_zero(const char *style, const char *prop)
{
	char key[64];

	snprintf(key, sizeof(key), "%s:0;", prop);
	if (css_has(style, key))
		return true;
	snprintf(key, sizeof(key), "%s:0px", prop);
	if (css_has(style, key))
		return true;
	/* "prop:0" as the last declaration */
	char buf[1024];
	size_t n = 0;
	for (const char *s = style; *s && n + 1 < sizeof(buf); s++)
		if (!isspace((unsigned char)*s))
			buf[n++] = (char)tolower((unsigned char)*s);
	buf[n] = '\0';
	snprintf(key, sizeof(key), "%s:0", prop);
	size_t kl = strlen(key);
	return n >= kl && strcmp(buf + n - kl, key) == 0;
}

static bool
hidden(const GumboElement *e)
{
	const char *s = attr(e, "style");

	if (attr(e, "hidden") != NULL)
		return true;
	if (s == NULL)
		return false;
	return css_has(s, "display:none") ||
	    css_has(s, "visibility:hidden") || css_has(s, "mso-hide:all") ||
	    css_zero(s, "font-size") || css_zero(s, "opacity") ||
	    (css_zero(s, "max-height") && css_has(s, "overflow:hidden"));
}

/* "1", "0", "1px": a dimension of at most one pixel. */
static bool
tiny(const char *v)
{
	if (v == NULL)
		return false;
	while (*v == ' ')
		v++;
	return (v[0] == '0' || v[0] == '1') && !isdigit((unsigned char)v[1]) &&
	    v[1] != '.';
}

static bool
tracker(const GumboElement *e)
{
	static const char *const pat[] = {
		"/track/open", "/open.php", "/open?", "/o.gif", "/wf/open",
		"pixel.gif", "/pixel", "beacon", "/trk/", "/t.gif",
		"spacer.gif", "/e/o/", "mailtrack", "list-manage.com/track",
		"sendgrid.net/wf/", "/mo/", "hubspot", "/tracking/",
		"mandrillapp.com/track", "/email/open", "emltrk",
		"googleusercontent.com/meips",
	};
	const char *src = attr(e, "src"), *st = attr(e, "style");

	if ((tiny(attr(e, "width")) && tiny(attr(e, "height"))) ||
	    (st != NULL && (css_has(st, "width:1px") ||
	    css_has(st, "height:1px") || css_has(st, "width:0") ||
	    css_has(st, "height:0"))))
		return true;
	if (src == NULL)
		return false;
	char lower[512];
	size_t n;
	for (n = 0; src[n] && n + 1 < sizeof(lower); n++)
		lower[n] = (char)tolower((unsigned char)src[n]);
	lower[n] = '\0';
	for (size_t i = 0; i < sizeof(pat) / sizeof(pat[0]); i++)
		if (strstr(lower, pat[i]) != NULL)
			return true;
	return false;
}

static bool
never_shown(GumboTag t)
{
	switch (t) {
	case GUMBO_TAG_HEAD: case GUMBO_TAG_SCRIPT: case GUMBO_TAG_STYLE:
	case GUMBO_TAG_TEMPLATE: case GUMBO_TAG_TITLE: case GUMBO_TAG_META:
	case GUMBO_TAG_LINK: case GUMBO_TAG_NOSCRIPT: case GUMBO_TAG_IFRAME:
	case GUMBO_TAG_OBJECT: case GUMBO_TAG_EMBED: case GUMBO_TAG_SVG:
	case GUMBO_TAG_MATH: case GUMBO_TAG_CANVAS: case GUMBO_TAG_AUDIO:
	case GUMBO_TAG_VIDEO: case GUMBO_TAG_SELECT: case GUMBO_TAG_BUTTON:
	case GUMBO_TAG_INPUT: case GUMBO_TAG_TEXTAREA: case GUMBO_TAG_BASE:
		return true;
	default:
		return false;
	}
}

static bool
is_block(GumboTag t)
{
	switch (t) {
	case GUMBO_TAG_DIV: case GUMBO_TAG_TR: case GUMBO_TAG_TABLE:
	case GUMBO_TAG_UL: case GUMBO_TAG_OL: case GUMBO_TAG_DL:
	case GUMBO_TAG_DT: case GUMBO_TAG_DD: case GUMBO_TAG_ADDRESS:
	case GUMBO_TAG_SECTION: case GUMBO_TAG_ARTICLE: case GUMBO_TAG_HEADER:
	case GUMBO_TAG_FOOTER: case GUMBO_TAG_NAV: case GUMBO_TAG_ASIDE:
	case GUMBO_TAG_CENTER: case GUMBO_TAG_FORM: case GUMBO_TAG_FIELDSET:
	case GUMBO_TAG_FIGURE: case GUMBO_TAG_FIGCAPTION: case GUMBO_TAG_MAIN:
	case GUMBO_TAG_CAPTION: case GUMBO_TAG_TBODY: case GUMBO_TAG_THEAD:
	case GUMBO_TAG_TFOOT: case GUMBO_TAG_BODY: case GUMBO_TAG_HTML:
		return true;
	default:
		return false;
	}
}

static bool
is_para(GumboTag t)
{
	switch (t) {
	case GUMBO_TAG_P: case GUMBO_TAG_H1: case GUMBO_TAG_H2:
	case GUMBO_TAG_H3: case GUMBO_TAG_H4: case GUMBO_TAG_H5:
	case GUMBO_TAG_H6: case GUMBO_TAG_PRE:
		return true;
	default:
		return false;
	}
}

/* Plain text of a subtree, for comparing a link's text with its URL. */
static void
plain(const GumboNode *n, struct mbuf *b, unsigned depth)
{
	if (depth > 32 || b->trunc)
		return;
	if (n->type == GUMBO_NODE_TEXT || n->type == GUMBO_NODE_WHITESPACE)
		mbuf_add(b, n->v.text.text, strlen(n->v.text.text));
	else if (n->type == GUMBO_NODE_ELEMENT)
		for (unsigned i = 0; i < n->v.element.children.length; i++)
			plain(n->v.element.children.data[i], b, depth + 1);
}

static bool
link_says_more(const GumboNode *n, const char *href)
{
	struct mbuf b;
	const char *h = href, *t;
	char *base;
	bool more;

	if (strncasecmp(href, "http://", 7) != 0 &&
	    strncasecmp(href, "https://", 8) != 0)
		return false;	/* mailto:, tel:, anchors: the text says it */
	mbuf_init(&b, 2048);
	plain(n, &b, 0);
	t = base = mbuf_finish(&b, NULL);
	while (isspace((unsigned char)*t))
		t++;
	/* "www.x.com" for "https://www.x.com/" says the same */
	h += strncasecmp(h, "https://", 8) == 0 ? 8 : 7;
	const char *tt = t;
	if (strncasecmp(tt, "https://", 8) == 0)
		tt += 8;
	else if (strncasecmp(tt, "http://", 7) == 0)
		tt += 7;
	size_t tl = strlen(tt), hl = strlen(h);
	while (tl > 0 && (isspace((unsigned char)tt[tl - 1]) ||
	    tt[tl - 1] == '/'))
		tl--;
	while (hl > 0 && h[hl - 1] == '/')
		hl--;
	more = *t != '\0' && !(tl == hl && strncasecmp(tt, h, hl) == 0);
	free(base);
	return more;
}

static void render(struct render *r, const GumboNode *n, unsigned depth);

static void
children(struct render *r, const GumboElement *e, unsigned depth)
{
	for (unsigned i = 0; i < e->children.length; i++)
		render(r, e->children.data[i], depth + 1);
}

static void
element(struct render *r, const GumboNode *n, unsigned depth)
{
	const GumboElement *e = &n->v.element;
	GumboTag t = e->tag;

	if (never_shown(t))
		return;
	if (hidden(e)) {
		r->st->hidden++;
		return;
	}
	if (r->quote == 0 && quote_container(e)) {
		newline(r, false);
		note_quote(r);
	}
	switch (t) {
	case GUMBO_TAG_BR:
		hard_break(r);
		return;
	case GUMBO_TAG_IMG:
		if (tracker(e))
			r->st->trackers++;
		else
			r->st->images++;
		return;
	case GUMBO_TAG_HR:
		newline(r, false);
		add(r, "---", 3);
		newline(r, false);
		return;
	case GUMBO_TAG_BLOCKQUOTE:
		newline(r, false);
		r->quote++;
		children(r, e, depth);
		newline(r, false);
		r->quote--;
		return;
	case GUMBO_TAG_LI: {
		char num[16];

		newline(r, false);
		if (r->ol_top > 0 && r->ol_top <= 32 &&
		    n->parent != NULL &&
		    n->parent->type == GUMBO_NODE_ELEMENT &&
		    n->parent->v.element.tag == GUMBO_TAG_OL) {
			snprintf(num, sizeof(num), "%u. ",
			    ++r->ol_n[r->ol_top - 1]);
			add(r, num, strlen(num));
		} else
			add(r, "- ", 2);
		children(r, e, depth);
		newline(r, false);
		return;
	}
	case GUMBO_TAG_OL:
		newline(r, false);
		if (r->ol_top < 32)
			r->ol_n[r->ol_top] = 0;
		r->ol_top++;
		children(r, e, depth);
		r->ol_top--;
		newline(r, false);
		return;
	case GUMBO_TAG_TD: case GUMBO_TAG_TH:
		if (!at_line_start(r))
			r->space = true;
		children(r, e, depth);
		r->space = true;
		return;
	case GUMBO_TAG_A: {
		const char *href = attr(e, "href");

		children(r, e, depth);
		if (href != NULL && link_says_more(n, href)) {
			add(r, " <", 2);
			text(r, href);
			add(r, ">", 1);
		}
		return;
	}
	default:
		break;
	}
	if (is_para(t)) {
		const char *cls = attr(e, "class");
		bool tight = cls != NULL &&
		    strcasestr(cls, "msonormal") != NULL;

		newline(r, !tight);
		size_t before = r->out.len;
		if (t == GUMBO_TAG_PRE)
			r->pre = true;
		children(r, e, depth);
		r->pre = false;
		/* Outlook's <p class=MsoNormal>&nbsp;</p> is its empty line */
		if (tight && r->out.len == before)
			hard_break(r);
		newline(r, !tight);
		return;
	}
	if (is_block(t)) {
		newline(r, false);
		children(r, e, depth);
		newline(r, false);
		return;
	}
	children(r, e, depth);	/* inline: span, b, font, ... */
}

static void
render(struct render *r, const GumboNode *n, unsigned depth)
{
	if (depth > r->l->max_depth || r->out.trunc)
		return;
	switch (n->type) {
	case GUMBO_NODE_DOCUMENT:
		for (unsigned i = 0; i < n->v.document.children.length; i++)
			render(r, n->v.document.children.data[i], depth + 1);
		break;
	case GUMBO_NODE_ELEMENT:
	case GUMBO_NODE_TEMPLATE:
		element(r, n, depth);
		break;
	case GUMBO_NODE_TEXT:
	case GUMBO_NODE_CDATA:
	case GUMBO_NODE_WHITESPACE:
		text(r, n->v.text.text);
		break;
	default:
		break;
	}
}

static bool
void_tag(const char *p, size_t n)
{
	static const char *const v[] = {
		"br", "img", "hr", "meta", "link", "input", "wbr", "col",
		"area", "base", "param", "source", "track", "embed",
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		if (n == strlen(v[i]) && strncasecmp(p, v[i], n) == 0)
			return true;
	return false;
}

/*
 * An upper bound on the nesting the parser could build: start tags of
 * non-void elements minus end tags.  Returns how much of the input to
 * give the parser, cutting before the tag that would pass the bound.
 */
static size_t
prescan_cut(const char *p, size_t len)
{
	long depth = 0;

	for (size_t i = 0; i + 1 < len; i++) {
		size_t j;

		if (p[i] != '<')
			continue;
		if (p[i + 1] == '/') {
			if (depth > 0)
				depth--;
			continue;
		}
		if (!isalpha((unsigned char)p[i + 1]))
			continue;
		for (j = i + 1; j < len && isalnum((unsigned char)p[j]); j++)
			;
		if (void_tag(p + i + 1, j - i - 1))
			continue;
		if (++depth > PRESCAN_DEPTH)
			return i;
	}
	return len;
}

char *
scrub_html_to_text(const char *html, size_t len,
    const struct scrub_limits *limits, size_t *len_r,
    struct scrub_html_stats *stats_r)
{
	struct scrub_limits dl;
	struct scrub_html_stats st;
	struct render r;
	GumboOptions opt = kGumboDefaultOptions;
	GumboOutput *out;
	size_t n, cut;

	memset(&st, 0, sizeof(st));
	st.quote_line = (size_t)-1;
	if (limits == NULL) {
		scrub_limits_default(&dl);
		limits = &dl;
	}
	memset(&r, 0, sizeof(r));
	r.l = limits;
	r.st = &st;
	mbuf_init(&r.out, limits->max_text);
	if (html == NULL)
		len = 0;
	if (len > limits->max_html) {
		len = limits->max_html;
		st.truncated = true;
	}
	cut = prescan_cut(html ? html : "", len);
	if (cut < len) {
		len = cut;
		st.truncated = true;
	}
	opt.max_errors = 100;	/* the error list is not used; bound it */
	if (len > 0 && (out = gumbo_parse_with_options(&opt, html, len)) !=
	    NULL) {
		render(&r, out->document, 0);
		gumbo_destroy_output(&opt, out);
	}
	newline(&r, false);
	if (r.out.trunc)
		st.truncated = true;
	/* drop leading and trailing empty lines */
	char *s = mbuf_finish(&r.out, &n);
	size_t lead = 0;
	while (lead < n && s[lead] == '\n')
		lead++;
	memmove(s, s + lead, n - lead + 1);
	n -= lead;
	if (st.quote_line != (size_t)-1)
		st.quote_line = st.quote_line > lead ? st.quote_line - lead : 0;
	while (n > 0 && s[n - 1] == '\n')
		s[--n] = '\0';
	if (len_r != NULL)
		*len_r = n;
	if (stats_r != NULL)
		*stats_r = st;
	return s;
}
