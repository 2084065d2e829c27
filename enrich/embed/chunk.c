/*
 * chunk.c - overlapping token windows over one message's clean text.
 *
 * A message longer than the model's window is embedded as several chunks;
 * the overlap keeps a sentence that straddles a boundary whole in at least
 * one of them.  Boundaries avoid cutting a word between its WordPiece
 * pieces when a word start is near, so a chunk's byte range never begins or
 * ends inside a word the tokenizer kept together.
 */
#include <stdlib.h>

#include "enrich/embed/embed.h"
#include "lib/xmalloc.h"

static bool
cont_at(const struct embed_wordpiece *wp, const struct embed_token *toks,
    size_t i)
{
	return wp != NULL && embed_wordpiece_is_continuation(wp, toks[i].id);
}

/* Moves I back to its word's first piece if that is at most SLACK away. */
static size_t
word_start(const struct embed_wordpiece *wp, const struct embed_token *toks,
    size_t i, size_t floor, size_t slack)
{
	size_t j = i;

	while (j > floor && i - j < slack && cont_at(wp, toks, j))
		j--;
	return cont_at(wp, toks, j) ? i : j;
}

int
embed_chunk_split(const struct embed_token *toks, size_t n, size_t window,
    size_t overlap, const struct embed_wordpiece *wp,
    struct embed_chunk **chunks_r, size_t *n_r, const char **errstr_r)
{
	struct embed_chunk *c = NULL;
	size_t nc = 0, cap = 0, start = 0, step, slack;

	if (window == 0 || overlap >= window) {
		*errstr_r = "chunk: need 0 <= overlap < window";
		return -1;
	}
	step = window - overlap;
	slack = step / 4;
	while (start < n) {
		size_t end = n, next;

		if (n - start > window)
			end = word_start(wp, toks, start + window, start + 1,
			    slack);
		if (nc == cap) {
			cap = cap * 2 + 4;
			c = xreallocarray(c, cap, sizeof(*c));
		}
		c[nc].tok_start = start;
		c[nc].n_tok = end - start;
		c[nc].byte_start = toks[start].start;
		c[nc].byte_end = toks[end - 1].end;
		nc++;
		if (end == n)
			break;
		next = word_start(wp, toks, end - overlap, start + 1, slack);
		start = next > start ? next : start + 1;
	}
	*chunks_r = c;
	*n_r = nc;
	return 0;
}

size_t
embed_chunk_ids(const struct embed_wordpiece *wp,
    const struct embed_token *toks, const struct embed_chunk *chunk,
    int32_t *ids)
{
	ids[0] = embed_wordpiece_cls(wp);
	for (size_t i = 0; i < chunk->n_tok; i++)
		ids[i + 1] = toks[chunk->tok_start + i].id;
	ids[chunk->n_tok + 1] = embed_wordpiece_sep(wp);
	return chunk->n_tok + 2;
}
