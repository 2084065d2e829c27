/*
 * wordpiece.c - the BERT tokenizer, matching HF `tokenizers` id for id.
 *
 * Pipeline, as tokenizer.json describes it for BERT models:
 *   1. added special tokens ([CLS], [SEP], ...) are cut out of the raw text
 *      first, leftmost-longest, case-sensitive (they are not normalized);
 *   2. BertNormalizer: clean_text drops NUL, U+FFFD and Cc/Cf/Co characters
 *      (not Cn: HF keeps unassigned code points) and maps White_Space to
 *      ' '; handle_chinese_chars isolates CJK ideographs (HF's ranges, which
 *      start the extension-E block at U+2B920, not U+2B820); strip_accents
 *      is NFD then dropping Mn; lowercase is applied after that, per char;
 *   3. BertPreTokenizer: split on White_Space, isolate each punctuation
 *      character (ASCII punctuation or Unicode P*);
 *   4. WordPiece: greedy longest match, "##" for word-internal pieces, a word
 *      longer than max_input_chars_per_word or with no match is one [UNK].
 * Every stage works on one source code point at a time, so a token keeps
 * the byte range of the input it came from and a truncated encode stops
 * early instead of tokenizing a whole message.
 *
 * Unicode data comes from libutf8proc; a character newer than its tables
 * is treated as unassigned (kept, not punctuation), which is also what HF
 * does with Cn, so the two disagree only on punctuation and marks added
 * in Unicode versions utf8proc does not know yet.
 */
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "enrich/embed/embed.h"
#include "enrich/embed/embed_int.h"
#include "lib/xmalloc.h"

/* Largest NFD expansion of one code point is 4; leave room. */
#define DECOMP_MAX 8

void
embed_wordpiece_config_default(struct embed_wordpiece_config *cfg)
{
	cfg->clean_text = true;
	cfg->handle_cjk = true;
	cfg->strip_accents = true;
	cfg->lowercase = true;
	cfg->max_chars_per_word = 100;
}

/* ---- Unicode classes ---------------------------------------------------- */

/* Rust's char::is_whitespace (the White_Space property), as HF uses it. */
static bool
is_ws(int32_t c)
{
	if (c < 0x80)
		return c == ' ' || (c >= '\t' && c <= '\r');
	return c == 0x85 || c == 0xa0 || c == 0x1680 ||
	    (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 ||
	    c == 0x202f || c == 0x205f || c == 0x3000;
}

static bool
is_control(int32_t c)
{
	if (c == '\t' || c == '\n' || c == '\r')
		return false;
	switch (utf8proc_category(c)) {
	case UTF8PROC_CATEGORY_CC:
	case UTF8PROC_CATEGORY_CF:
	case UTF8PROC_CATEGORY_CO:
	case UTF8PROC_CATEGORY_CS:
		return true;
	default:
		return false;
	}
}

static bool
is_punct(int32_t c)
{
	if (c < 0x80)
		return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) ||
		    (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
	switch (utf8proc_category(c)) {
	case UTF8PROC_CATEGORY_PC:
	case UTF8PROC_CATEGORY_PD:
	case UTF8PROC_CATEGORY_PS:
	case UTF8PROC_CATEGORY_PE:
	case UTF8PROC_CATEGORY_PI:
	case UTF8PROC_CATEGORY_PF:
	case UTF8PROC_CATEGORY_PO:
		return true;
	default:
		return false;
	}
}

static bool
is_cjk(int32_t c)
{
	return (c >= 0x4e00 && c <= 0x9fff) || (c >= 0x3400 && c <= 0x4dbf) ||
	    (c >= 0x20000 && c <= 0x2a6df) || (c >= 0x2a700 && c <= 0x2b73f) ||
	    (c >= 0x2b740 && c <= 0x2b81f) || (c >= 0x2b920 && c <= 0x2ceaf) ||
	    (c >= 0xf900 && c <= 0xfaff) || (c >= 0x2f800 && c <= 0x2fa1f);
}

/* ---- the per-call state -------------------------------------------------- */

struct wchar {
	int32_t cp;
	uint8_t ccc;
	uint32_t start, end;	/* source bytes */
};

struct tok_state {
	const struct embed_wordpiece *wp;
	/* Current word; only the first max_chars + 1 chars are kept. */
	struct wchar *w;
	size_t wn, wcap, wchars, barrier;
	uint32_t wstart, wend;
	/* Output. */
	struct embed_token *out;
	size_t n, cap, max;
	/* Scratch for piece lookup: prefix room + 4 bytes per char. */
	char *key;
	size_t *cb;		/* byte offset of each char in key */
};

static void
out_push(struct tok_state *s, int32_t id, uint32_t start, uint32_t end)
{
	if (s->n == s->cap) {
		s->cap = s->cap * 2 + 16;
		s->out = xreallocarray(s->out, s->cap, sizeof(*s->out));
	}
	s->out[s->n].id = id;
	s->out[s->n].start = start;
	s->out[s->n].end = end;
	s->n++;
}

static void
word_flush(struct tok_state *s)
{
	const struct embed_wordpiece *wp = s->wp;
	size_t plen = wp->prefix_len, nb = 0, first = s->n, st, e;
	char *wb = s->key + plen;

	if (s->wchars == 0)
		return;
	if (s->wchars > wp->cfg.max_chars_per_word)
		goto unk;
	for (size_t i = 0; i < s->wn; i++) {
		s->cb[i] = nb;
		nb += utf8proc_encode_char(s->w[i].cp, (uint8_t *)wb + nb);
	}
	s->cb[s->wn] = nb;
	for (st = 0; st < s->wn; st = e) {
		int32_t id = -1;

		for (e = s->wn; e > st; e--) {
			const char *k = wb + s->cb[st];
			size_t klen = s->cb[e] - s->cb[st];

			if (st > 0) {
				/*
				 * The bytes before cb[st] belong to pieces
				 * already emitted, so the prefix can be
				 * written over them in place.
				 */
				k -= plen;
				memcpy((char *)k, wp->prefix, plen);
				klen += plen;
			}
			if ((id = embed_wordpiece_lookup(wp, k, klen)) >= 0)
				break;
		}
		if (id < 0) {
			s->n = first;
			goto unk;
		}
		out_push(s, id, s->w[st].start, s->w[e - 1].end);
	}
	s->wn = s->wchars = s->barrier = 0;
	return;
unk:
	out_push(s, wp->unk, s->wstart, s->wend);
	s->wn = s->wchars = s->barrier = 0;
}

/*
 * Appends one normalized code point to the word.  Non-starters are put in
 * canonical order (the reordering step of NFD) but never moved across a
 * starter, including a starter that was dropped as an accent.
 */
static void
word_add(struct tok_state *s, int32_t cp, uint8_t ccc, uint32_t start,
    uint32_t end)
{
	size_t i;

	if (s->wchars == 0)
		s->wstart = start;
	s->wend = end;
	s->wchars++;
	if (s->wn == s->wcap)
		return;		/* too long: only its span still matters */
	i = s->wn++;
	if (ccc != 0) {
		for (; i > s->barrier && s->w[i - 1].ccc > ccc; i--)
			s->w[i] = s->w[i - 1];
	}
	s->w[i].cp = cp;
	s->w[i].ccc = ccc;
	s->w[i].start = start;
	s->w[i].end = end;
}

/* One normalized code point through the pre-tokenizer. */
static void
pretok(struct tok_state *s, int32_t cp, uint32_t start, uint32_t end)
{
	uint8_t ccc;

	if (is_ws(cp)) {
		word_flush(s);
	} else if (is_punct(cp)) {
		word_flush(s);
		word_add(s, cp, 0, start, end);
		word_flush(s);
	} else {
		ccc = (uint8_t)utf8proc_get_property(cp)->combining_class;
		word_add(s, cp, ccc, start, end);
	}
}

static int32_t
lower(int32_t cp)
{
	return utf8proc_tolower(cp);
}

/* One source code point through the normalizer. */
static void
normalize(struct tok_state *s, int32_t cp, uint32_t start, uint32_t end)
{
	const struct embed_wordpiece_config *cfg = &s->wp->cfg;
	int32_t d[DECOMP_MAX];
	utf8proc_ssize_t nd;
	int boundclass = 0;
	bool cjk;

	if (cfg->clean_text) {
		if (cp == 0 || cp == 0xfffd || is_control(cp))
			return;
		if (is_ws(cp))
			cp = ' ';
	}
	cjk = cfg->handle_cjk && is_cjk(cp);
	if (cjk)
		word_flush(s);
	if (cfg->strip_accents) {
		nd = utf8proc_decompose_char(cp, d, DECOMP_MAX,
		    UTF8PROC_DECOMPOSE, &boundclass);
		if (nd < 1 || nd > DECOMP_MAX) {
			d[0] = cp;
			nd = 1;
		}
		for (utf8proc_ssize_t i = 0; i < nd; i++) {
			if (utf8proc_category(d[i]) == UTF8PROC_CATEGORY_MN) {
				if (utf8proc_get_property(d[i])->
				    combining_class == 0)
					s->barrier = s->wn;
				continue;
			}
			pretok(s, cfg->lowercase ? lower(d[i]) : d[i], start,
			    end);
		}
	} else if (cfg->lowercase && cp == 0x130) {
		/* Full lowercase mapping, as Rust's to_lowercase(). */
		pretok(s, 'i', start, end);
		pretok(s, 0x307, start, end);
	} else {
		pretok(s, cfg->lowercase ? lower(cp) : cp, start, end);
	}
	if (cjk)
		word_flush(s);
}

/* Longest added token starting at P, or NULL. */
static const struct wp_added *
added_at(const struct embed_wordpiece *wp, const char *p, size_t left)
{
	const struct wp_added *best = NULL;

	for (size_t i = 0; i < wp->n_added; i++) {
		const struct wp_added *a = &wp->added[i];

		if (a->len <= left && (best == NULL || a->len > best->len) &&
		    memcmp(p, a->text, a->len) == 0)
			best = a;
	}
	return best;
}

int
embed_wordpiece_tokenize(const struct embed_wordpiece *wp, const char *text,
    size_t len, size_t max_tokens, struct embed_token **toks_r, size_t *n_r,
    const char **errstr_r)
{
	struct tok_state s;
	size_t i = 0;

	if (len > EMBED_TEXT_MAX) {
		*errstr_r = "wordpiece: text longer than EMBED_TEXT_MAX";
		return -1;
	}
	memset(&s, 0, sizeof(s));
	s.wp = wp;
	s.max = max_tokens;
	s.wcap = wp->cfg.max_chars_per_word + 1;
	s.w = xcalloc(s.wcap, sizeof(*s.w));
	s.cb = xcalloc(s.wcap + 1, sizeof(*s.cb));
	s.key = xmalloc(wp->prefix_len + 4 * s.wcap + 1);
	while (i < len && s.n < s.max) {
		const struct wp_added *a = NULL;
		utf8proc_int32_t cp;
		utf8proc_ssize_t k;

		if (wp->added_first[(unsigned char)text[i]])
			a = added_at(wp, text + i, len - i);
		if (a != NULL) {
			word_flush(&s);
			out_push(&s, a->id, (uint32_t)i,
			    (uint32_t)(i + a->len));
			i += a->len;
			continue;
		}
		k = utf8proc_iterate((const uint8_t *)text + i,
		    (utf8proc_ssize_t)(len - i), &cp);
		if (k < 1) {
			cp = 0xfffd;	/* invalid UTF-8: one byte, dropped */
			k = 1;
		}
		normalize(&s, cp, (uint32_t)i, (uint32_t)(i + (size_t)k));
		i += (size_t)k;
	}
	if (s.n < s.max)
		word_flush(&s);
	if (s.n > s.max)
		s.n = s.max;
	free(s.w);
	free(s.cb);
	free(s.key);
	*toks_r = s.out;
	*n_r = s.n;
	return 0;
}

int
embed_wordpiece_encode(const struct embed_wordpiece *wp, const char *text,
    size_t len, int32_t *ids, size_t max_len, const char **errstr_r)
{
	struct embed_token *t;
	size_t n;

	if (max_len < 2) {
		*errstr_r = "wordpiece: max_len below 2";
		return -1;
	}
	if (embed_wordpiece_tokenize(wp, text, len, max_len - 2, &t, &n,
	    errstr_r) != 0)
		return -1;
	ids[0] = wp->cls;
	for (size_t i = 0; i < n; i++)
		ids[i + 1] = t[i].id;
	ids[n + 1] = wp->sep;
	free(t);
	return (int)(n + 2);
}
