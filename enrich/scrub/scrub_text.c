/*
 * scrub_text.c - which lines of a plain-text body are the sender's new
 * words, and which are quoted, signature or disclaimer.
 *
 * The order of the passes is the order of confidence:
 *
 *  1. '>' lines are quoted (RFC 3676 quoting, and blockquote as rendered
 *     by scrub_html.c).
 *  2. A reply or forward header that is not followed by '>' lines starts
 *     an unprefixed copy of the original (Outlook's header block, the
 *     "-----Original Message-----" and "Forwarded message" separators,
 *     Apple's "Begin forwarded message:", an attribution line followed by
 *     plain text): everything from there to the end is quoted.  An
 *     attribution line followed by '>' lines is quoted by itself, and
 *     text between '>' blocks stays new content (inline replies).
 *  3. At the end of the sender's own text only: disclaimer paragraphs
 *     (bottom up), then a signature - from a "-- " line, or from a
 *     sign-off ("Best regards,") followed by a few short lines, or a
 *     trailing name-and-contact paragraph.  Mobile "Sent from my ..."
 *     lines are signature wherever the sender's text has them.
 *
 * Every rule asks for a specific shape; anything unrecognised stays new
 * content.  Losing the sender's words is worse than leaving a signature
 * in, so the patterns are narrow and the signature rules give up when
 * what follows a sign-off does not look like a signature.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "enrich/mime/mime_int.h"
#include "enrich/scrub/scrub_int.h"
#include "lib/xmalloc.h"

const char *
scrub_kind_name(enum scrub_kind k)
{
	switch (k) {
	case SCRUB_BODY: return "body";
	case SCRUB_QUOTED: return "quoted";
	case SCRUB_SIGNATURE: return "signature";
	case SCRUB_DISCLAIMER: return "disclaimer";
	}
	return "?";
}

/* ---- small string helpers on normalised (lower-case) lines ---- */

static char *
normalise(const char *p, size_t n, unsigned *depth_r)
{
	size_t i = 0, e = n;
	unsigned d = 0;
	char *s;

	for (;;) {
		while (i < e && (p[i] == ' ' || p[i] == '\t'))
			i++;
		if (i < e && p[i] == '>') {
			d++;
			i++;
			continue;
		}
		break;
	}
	*depth_r = d;
	while (i < e && (p[i] == '*' || p[i] == ' ' || p[i] == '\t'))
		i++;
	while (e > i && (p[e - 1] == ' ' || p[e - 1] == '\t' ||
	    p[e - 1] == '\r'))
		e--;
	if (e - i > NORM_MAX)
		e = i + NORM_MAX;
	s = xstrndup(p + i, e - i);
	for (char *c = s; *c; c++) {
		*c = (char)tolower((unsigned char)*c);
		if (*c == '\t')
			*c = ' ';
	}
	/* "*From:*" in text made from bold HTML */
	for (char *c = s; *c; c++)
		if (*c == '*' && c > s && c[-1] == ':')
			*c = ' ';
	/* upper-case accented letters that lead labels (À, É, Ä, Å, Ö) */
	for (unsigned char *c = (unsigned char *)s; *c; c++)
		if (c[0] == 0xc3 && c[1] >= 0x80 && c[1] <= 0x9e &&
		    c[1] != 0x97)
			c[1] = (unsigned char)(c[1] + 0x20);
	return s;
}

/* ---- pass 2: reply and forward headers ---- */

static const char *const attrib_verbs[] = {
	" wrote", " writes", " schrieb", " a écrit", " escribió",
	" escribio", " ha scritto", " schreef", " escreveu", " skrev",
	" geschreven", " scrisse", NULL
};
static const char *const attrib_leads[] = {
	"on ", "am ", "le ", "el ", "il ", "op ", "em ", "den ", "på ",
	"quoting ", "zitat von ", "citando ", NULL
};

static bool
has_digit_or_at(const char *s)
{
	for (; *s; s++)
		if (isdigit((unsigned char)*s) || *s == '@')
			return true;
	return false;
}

/*
 * An attribution ("On <date>, <who> wrote:") starting at line i, possibly
 * wrapped over up to three lines of the same depth.  Returns the number of
 * lines it spans, or 0.
 */
static size_t
attribution(const struct ctx *c, size_t i)
{
	char buf[3 * NORM_MAX + 4];
	size_t k, bl = 0;

	buf[0] = '\0';
	/* a wrapped attribution starts like one: "On ...", or "Name <addr>" */
	bool can_wrap = lex_any_starts(c->L[i].norm, attrib_leads) ||
	    strchr(c->L[i].norm, '@') != NULL;
	for (k = 0; k < 3 && i + k < c->n; k++) {
		if (k > 0 && !can_wrap)
			break;
		const struct line *l = &c->L[i + k];

		if (l->blank || l->depth != c->L[i].depth)
			break;
		if (k > 0)
			buf[bl++] = ' ';
		size_t nl = strlen(l->norm);
		memcpy(buf + bl, l->norm, nl);
		bl += nl;
		buf[bl] = '\0';
		if (bl > 400)
			return 0;
		if (lex_ends(buf, ":") && lex_any_contains(buf, attrib_verbs) &&
		    (lex_any_starts(buf, attrib_leads) || has_digit_or_at(buf)))
			return k + 1;
		if (lex_ends(buf, ":") || lex_ends(buf, "."))
			return 0;
	}
	return 0;
}

static const char *const sep_words[] = {
	"original message", "forwarded message", "ursprüngliche nachricht",
	"weitergeleitete nachricht", "message d'origine", "message original",
	"message transféré", "mensaje original", "mensaje reenviado",
	"messaggio originale", "messaggio inoltrato", "oorspronkelijk bericht",
	"doorgestuurd bericht", "mensagem original", "mensagem encaminhada",
	"ursprungligt meddelande", "vidarebefordrat meddelande",
	"originalmeddelande", "original-nachricht", "forwarded", "original",
	NULL
};
static const char *const fwd_lines[] = {
	"begin forwarded message", "anfang der weitergeleiteten nachricht",
	"début du message réexpédié", "debut du message reexpedie",
	"inicio del mensaje reenviado", "comienzo del mensaje reenviado",
	"inizio messaggio inoltrato", "begin doorgestuurd bericht",
	"início da mensagem reencaminhada", "inicio da mensagem reencaminhada",
	"início da mensagem encaminhada", "vidarebefordrat brev",
	"vidarebefordrat mejl", "vidarebefordrat meddelande",
	"forwarded message:", NULL
};

static bool
is_rule(const char *s)
{
	size_t n = 0;

	for (; *s; s++, n++)
		if (!strchr("-_=~*", *s) && *s != ' ')
			return false;
	return n >= 3;
}

/* "-----Original Message-----", "---------- Forwarded message ---------" */
static bool
separator(const char *s)
{
	size_t n = strlen(s), a = strspn(s, "-_= "), b = 0;

	while (b < n && strchr("-_= ", s[n - 1 - b]))
		b++;
	if (a >= 2 && b >= 2 && a + b < n && n < 100) {
		char mid[100];

		snprintf(mid, sizeof(mid), "%.*s", (int)(n - a - b), s + a);
		return lex_any_contains(mid, sep_words);
	}
	return lex_any_starts(s, fwd_lines) && lex_ends(s, ":");
}

enum hdr { H_NONE, H_FROM, H_SENT, H_TO, H_SUBJECT, H_CC };

/* "From:", "Von:", "De :", ... a header label at the start of s. */
static enum hdr
header_label(const char *s)
{
	static const struct { const char *w; enum hdr h; } t[] = {
		{ "from", H_FROM }, { "von", H_FROM }, { "de", H_FROM },
		{ "da", H_FROM }, { "van", H_FROM }, { "från", H_FROM },
		{ "fra", H_FROM }, { "expéditeur", H_FROM },
		{ "sent", H_SENT }, { "date", H_SENT }, { "gesendet", H_SENT },
		{ "datum", H_SENT }, { "envoyé", H_SENT }, { "enviado", H_SENT },
		{ "fecha", H_SENT }, { "inviato", H_SENT }, { "data", H_SENT },
		{ "verzonden", H_SENT }, { "verstuurd", H_SENT },
		{ "skickat", H_SENT }, { "enviada", H_SENT }, { "sendt", H_SENT },
		{ "to", H_TO }, { "an", H_TO }, { "à", H_TO }, { "a", H_TO },
		{ "para", H_TO }, { "aan", H_TO }, { "till", H_TO },
		{ "til", H_TO }, { "destinataire", H_TO },
		{ "subject", H_SUBJECT }, { "betreff", H_SUBJECT },
		{ "objet", H_SUBJECT }, { "asunto", H_SUBJECT },
		{ "oggetto", H_SUBJECT }, { "onderwerp", H_SUBJECT },
		{ "assunto", H_SUBJECT }, { "ämne", H_SUBJECT },
		{ "emne", H_SUBJECT },
		{ "cc", H_CC }, { "kopie", H_CC }, { "copie à", H_CC },
		{ "kopia", H_CC },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t l = strlen(t[i].w);
		const char *p = s + l;

		if (strncmp(s, t[i].w, l) != 0)
			continue;
		while (*p == ' ' || *p == '*')
			p++;
		if (*p == ':')
			return t[i].h;
	}
	return H_NONE;
}

/* An Outlook-style header block at i: From-like, then within six lines
 * at least two more distinct labels.  Returns true if so. */
static bool
header_block(const struct ctx *c, size_t i)
{
	unsigned seen = 0, count = 0;

	if (header_label(c->L[i].norm) != H_FROM)
		return false;
	for (size_t k = i + 1, lines = 0; k < c->n && lines < 8; k++) {
		enum hdr h;

		if (c->L[k].blank)
			continue;
		lines++;
		h = header_label(c->L[k].norm);
		if (h == H_NONE || h == H_FROM)
			continue;
		if (!(seen & (1u << h))) {
			seen |= 1u << h;
			count++;
		}
	}
	/* every client's reply header names the subject; an itinerary
	 * ("From: London / To: Berlin / Date: ...") does not */
	return count >= 2 && (seen & (1u << H_SUBJECT));
}

static void
mark(struct ctx *c, size_t from, size_t to, enum scrub_kind k)
{
	for (size_t i = from; i < to && i < c->n; i++)
		c->L[i].kind = k;
}

static size_t
next_nonblank(const struct ctx *c, size_t i)
{
	while (i < c->n && c->L[i].blank)
		i++;
	return i;
}

static void
pass_quotes(struct ctx *c)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->L[i].depth > 0)
			c->L[i].kind = SCRUB_QUOTED;
	for (size_t i = 0; i < c->n; i++) {
		struct line *l = &c->L[i];
		size_t k, nx;

		if (l->blank || l->depth > 0 || l->kind == SCRUB_QUOTED)
			continue;
		if (separator(l->norm) || header_block(c, i)) {
			size_t from = i;

			/* Outlook's rule line above the header block */
			if (i > 0) {
				size_t p = i - 1;
				while (p > 0 && c->L[p].blank)
					p--;
				if (!c->L[p].blank && c->L[p].depth == 0 &&
				    is_rule(c->L[p].norm) &&
				    strcmp(c->L[p].norm, "--") != 0)
					from = p;
			}
			mark(c, from, c->n, SCRUB_QUOTED);
			c->cut = true;
			return;
		}
		if ((k = attribution(c, i)) > 0) {
			nx = next_nonblank(c, i + k);
			if (nx < c->n && c->L[nx].depth > 0) {
				mark(c, i, i + k, SCRUB_QUOTED);
				i += k - 1;
				continue;
			}
			/* an unprefixed original follows: only when the
			 * attribution looks like a client's (lead word) */
			if (lex_any_starts(l->norm, attrib_leads) ||
			    nx >= c->n) {
				mark(c, i, c->n, SCRUB_QUOTED);
				c->cut = true;
				return;
			}
		}
	}
}

/* Paragraph [a, b) (no blank lines) is a legal notice. */
static bool
is_disclaimer(const struct ctx *c, size_t a, size_t b)
{
	struct mbuf t;
	unsigned hits;
	size_t len;

	mbuf_init(&t, 8192);
	for (size_t i = a; i < b; i++) {
		mbuf_add(&t, c->L[i].norm, strlen(c->L[i].norm));
		mbuf_addc(&t, ' ');
	}
	for (size_t i = a; i < b; i++)
		if (lex_is_signoff(&c->L[i]))
			return mbuf_fini(&t), false;
	char *s = mbuf_finish(&t, &len);
	hits = lex_disclaimer_hits(s);
	free(s);
	return len >= 40 && (hits >= 2 || (hits == 1 && len >= 150));
}

static bool
has_contact(const struct line *l)
{
	size_t n;

	return lex_find_phone(l->norm, strlen(l->norm), &n) != NULL ||
	    strchr(l->norm, '@') || strstr(l->norm, "www.") ||
	    strstr(l->norm, "http") || strstr(l->norm, ".com");
}

/* The paragraph starting at a (to b) is "Name / title / contact". */
static bool
contact_block(const struct ctx *c, size_t a, size_t b)
{
	size_t lines = 0;
	bool contact = false;

	if (!lex_looks_like_name(c->L[a].p, c->L[a].n, 4))
		return false;
	for (size_t i = a; i < b; i++) {
		if (c->L[i].blank)
			continue;
		if (c->L[i].n > SIG_MAX_LEN || ++lines > 7)
			return false;
		if (i > a && has_contact(&c->L[i]))
			contact = true;
	}
	return contact;
}

static void
note_sig(struct ctx *c, size_t a, size_t b)
{
	if (c->sig_to == 0) {
		c->sig_from = a;
		c->sig_to = b;
	}
}

/* Disclaimers bottom-up in [a, b) (lines of one author segment);
 * returns the new end of the remaining text. */
static size_t
tail_disclaimers(struct ctx *c, size_t a, size_t b)
{
	size_t end = b;

	for (;;) {
		size_t e = end, s;

		while (e > a && c->L[e - 1].blank)
			e--;
		if (e == a)
			return e;
		s = e;
		while (s > a && !c->L[s - 1].blank)
			s--;
		if (!is_disclaimer(c, s, e))
			break;
		mark(c, s, e, SCRUB_DISCLAIMER);
		end = s;
		/* a decorative rule above it goes with it */
		size_t p = s;
		while (p > a && c->L[p - 1].blank)
			p--;
		if (p > a && is_rule(c->L[p - 1].norm) &&
		    strcmp(c->L[p - 1].norm, "--") != 0) {
			mark(c, p - 1, p, SCRUB_DISCLAIMER);
			end = p - 1;
		}
	}
	return end;
}

/*
 * The lowest sign-off in [a, end) with at most max_after short,
 * signature-like lines after it; returns its index or (size_t)-1.
 */
static size_t
find_signoff(const struct ctx *c, size_t a, size_t end, size_t max_after)
{
	size_t lines = 0;

	for (size_t i = end; i > a; i--) {
		const struct line *l = &c->L[i - 1];

		if (l->blank || l->kind != SCRUB_BODY)
			continue;
		if (lex_is_signoff(l))
			return i - 1;
		if (l->n > SIG_MAX_LEN || ++lines > max_after ||
		    lex_starts(l->norm, "p.s") || lex_starts(l->norm, "ps:") ||
		    lex_ends(l->norm, "?"))
			break;
	}
	return (size_t)-1;
}

static bool
is_ps(const char *s)
{
	return lex_starts(s, "p.s") || lex_starts(s, "ps:") ||
	    lex_starts(s, "ps ") || lex_starts(s, "pps");
}

/* One-word replies that are content, not a name signing off. */
static const char *const not_names[] = {
	"yes", "no", "sure", "done", "agreed", "approved", "perfect",
	"great", "ok", "okay", "noted", "confirmed", "ja", "nein", "klar",
	"super", "top", "genau", "prima", "oui", "non", "parfait",
	"d'accord", "sí", "si", "perfecto", "vale", "perfetto", "certo",
	"nee", "prima", "sim", "não", "nej", "perfekt", "absolut", NULL
};

/* "Jane", "- Lars", "/Lars", "Jane Doe": a bare name on its own line. */
static bool
bare_name(const struct line *l)
{
	const char *p = l->p;
	size_t n = l->n;

	while (n > 0 && (*p == ' ' || *p == '/' || *p == '-')) {
		p++;
		n--;
	}
	for (const char *const *w = not_names; *w; w++)
		if (strcmp(l->norm, *w) == 0)
			return false;
	for (size_t i = 0; i < n; i++)
		if (strchr(".,!?:;", p[i]))
			return false;
	return n <= 25 && lex_looks_like_name(p, n, 2);
}

/* Marks a signature from line s (inclusive) to end; the first signature
 * found is the one whose fields are extracted. */
static void
sig_block(struct ctx *c, size_t s, size_t end)
{
	mark(c, s, end, SCRUB_SIGNATURE);
	note_sig(c, s, end);
}

static void
segment_tail(struct ctx *c, size_t a, size_t b)
{
	size_t end, so, first = next_nonblank(c, a);

	/* "-- " (RFC 3676 4.3) to the end of the segment, and a sign-off
	 * just above it ("Thanks,\nJane\n-- \n...") */
	for (size_t i = a; i < b; i++) {
		if (c->L[i].depth == 0 && (c->L[i].n == 2 || c->L[i].n == 3) &&
		    strncmp(c->L[i].p, "--", 2) == 0 &&
		    (c->L[i].n == 2 || c->L[i].p[2] == ' ')) {
			end = tail_disclaimers(c, i + 1, b);
			if ((so = find_signoff(c, a, i, 3)) != (size_t)-1 &&
			    so > first)
				sig_block(c, so, i);
			mark(c, i, end, SCRUB_SIGNATURE);
			note_sig(c, i + 1, end);
			return;
		}
	}
	end = tail_disclaimers(c, a, b);
	for (;;) {
		while (end > a && (c->L[end - 1].blank ||
		    c->L[end - 1].kind == SCRUB_SIGNATURE))
			end--;	/* skip a mobile line already marked */
		/* a P.S. after the signature stays content */
		size_t ps = end;
		while (ps > a && !c->L[ps - 1].blank)
			ps--;
		if (ps < end && ps > first && is_ps(c->L[ps].norm)) {
			end = ps;
			continue;
		}
		break;
	}
	if ((so = find_signoff(c, a, end, SIG_MAX_LINES)) != (size_t)-1) {
		/* a message that is nothing but a sign-off keeps it */
		if (so > first)
			sig_block(c, so, end);
		return;
	}
	/* no sign-off: a trailing "Name / title / phone" paragraph, or a
	 * bare name under the text */
	size_t s = end;
	while (s > a && !c->L[s - 1].blank)
		s--;
	if (s > first && s < end && (contact_block(c, s, end) ||
	    (end - s == 1 && bare_name(&c->L[s]))))
		sig_block(c, s, end);
}

static void
pass_signatures(struct ctx *c)
{
	size_t first_q = c->n, seg_a, seg_b;

	for (size_t i = 0; i < c->n; i++)
		if (c->L[i].kind == SCRUB_BODY && !c->L[i].blank &&
		    lex_is_mobile(c->L[i].norm))
			c->L[i].kind = SCRUB_SIGNATURE;
	for (size_t i = 0; i < c->n; i++)
		if (c->L[i].kind == SCRUB_QUOTED) {
			first_q = i;
			break;
		}
	/* the sender's text before the first quote (top posting) */
	if (first_q > 0)
		segment_tail(c, 0, first_q);
	/* and the last segment after quotes (bottom / inline posting) */
	seg_b = c->n;
	while (seg_b > 0 && c->L[seg_b - 1].blank)
		seg_b--;
	seg_a = seg_b;
	while (seg_a > 0 && c->L[seg_a - 1].kind != SCRUB_QUOTED)
		seg_a--;
	if (seg_a > first_q && seg_a < seg_b)
		segment_tail(c, seg_a, seg_b);
}

/* ---- assembly ---- */

static char *
join(const struct ctx *c, enum scrub_kind k, size_t max)
{
	struct mbuf b;
	bool pending_blank = false;

	mbuf_init(&b, max);
	for (size_t i = 0; i < c->n; i++) {
		const struct line *l = &c->L[i];

		if (l->kind != k)
			continue;
		if (l->blank) {
			pending_blank = b.len > 0;
			continue;
		}
		if (b.len > 0)
			mbuf_add(&b, pending_blank ? "\n\n" : "\n",
			    pending_blank ? 2 : 1);
		pending_blank = false;
		mbuf_add(&b, l->p, l->n);
	}
	return mbuf_finish(&b, NULL);
}

/* The renderer's quote container: from there to the end. */
static void
apply_hint(struct ctx *c, size_t q)
{
	size_t from = q;

	if (q >= c->n)
		return;
	if (q > 0) {
		size_t p = q - 1;

		while (p > 0 && c->L[p].blank)
			p--;
		if (!c->L[p].blank && is_rule(c->L[p].norm) &&
		    strcmp(c->L[p].norm, "--") != 0)
			from = p;
	}
	mark(c, from, c->n, SCRUB_QUOTED);
	c->cut = true;
}

void
scrub_text(const char *text, size_t len, const struct scrub_limits *limits,
    struct scrub_result *r)
{
	scrub_text_hint(text, len, limits, (size_t)-1, r);
}

void
scrub_text_hint(const char *text, size_t len,
    const struct scrub_limits *limits, size_t quote_line,
    struct scrub_result *r)
{
	struct scrub_limits dl;
	struct ctx c;
	size_t cap = 0, i = 0;

	memset(r, 0, sizeof(*r));
	memset(&c, 0, sizeof(c));
	if (limits == NULL) {
		scrub_limits_default(&dl);
		limits = &dl;
	}
	if (text == NULL)
		len = 0;
	if (len > limits->max_text)
		len = limits->max_text;
	c.r = r;
	while (i < len) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t n = nl ? (size_t)(nl - (text + i)) : len - i;
		struct line *l;

		if (c.n == cap) {
			cap = cap ? cap * 2 : 64;
			c.L = xreallocarray(c.L, cap, sizeof(*c.L));
		}
		l = &c.L[c.n++];
		l->p = text + i;
		l->n = n > 0 && text[i + n - 1] == '\r' ? n - 1 : n;
		l->norm = normalise(l->p, l->n, &l->depth);
		l->blank = l->norm[0] == '\0' && l->depth == 0;
		if (l->norm[0] == '\0' && l->depth > 0)
			l->blank = false;
		l->kind = SCRUB_BODY;
		i += n + (nl != NULL);
	}
	/*
	 * Only the first max_lines lines are classified; past them, '>'
	 * lines are still quoted, and a quote that ran to the end keeps
	 * running: a long thread history must not turn into new content.
	 */
	size_t all = c.n;
	if (c.n > limits->max_lines)
		c.n = limits->max_lines;
	apply_hint(&c, quote_line);
	pass_quotes(&c);
	pass_signatures(&c);
	scrub_sig_fields(&c);
	for (size_t k = c.n; k < all; k++)
		if (c.cut || c.L[k].depth > 0)
			c.L[k].kind = SCRUB_QUOTED;
	c.n = all;
	/* blank lines between two lines of one kind take that kind */
	for (size_t k = 0; k < c.n; k++) {
		size_t e = k;

		if (!c.L[k].blank)
			continue;
		while (e < c.n && c.L[e].blank)
			e++;
		if (k > 0 && e < c.n && c.L[k - 1].kind == c.L[e].kind)
			mark(&c, k, e, c.L[e].kind);
		k = e;
	}
	r->body = join(&c, SCRUB_BODY, len);
	r->quoted = join(&c, SCRUB_QUOTED, len);
	r->signature = join(&c, SCRUB_SIGNATURE, len);
	r->disclaimer = join(&c, SCRUB_DISCLAIMER, len);
	r->n_lines = c.n;
	r->lines = xcalloc(c.n ? c.n : 1, sizeof(*r->lines));
	for (size_t k = 0; k < c.n; k++) {
		r->lines[k].off = (size_t)(c.L[k].p - text);
		r->lines[k].len = c.L[k].n;
		r->lines[k].kind = c.L[k].kind;
		free(c.L[k].norm);
	}
	free(c.L);
}

static bool
has_content(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isspace((unsigned char)s[i]))
			return true;
	return false;
}

void
scrub_message(const char *text, size_t text_len, const char *html,
    size_t html_len, const struct scrub_limits *limits, char **text_r,
    struct scrub_result *r)
{
	struct scrub_html_stats st;
	char *t;
	size_t n;

	st.quote_line = (size_t)-1;
	if (text != NULL && has_content(text, text_len)) {
		t = xstrndup(text, text_len);
		n = strlen(t);
	} else
		t = scrub_html_to_text(html, html ? html_len : 0, limits, &n,
		    &st);
	scrub_text_hint(t, n, limits, st.quote_line, r);
	*text_r = t;
}

void
scrub_result_free(struct scrub_result *r)
{
	free(r->body);
	free(r->quoted);
	free(r->signature);
	free(r->disclaimer);
	free(r->sig.name);
	free(r->sig.title);
	free(r->sig.company);
	free(r->sig.phone);
	free(r->sig.email);
	free(r->lines);
	memset(r, 0, sizeof(*r));
}
