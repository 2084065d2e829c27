/*
 * test_embed_chunk.c - overlapping token windows: edge cases, word-boundary
 * snapping, and invariants over many random token streams (every token
 * covered, windows bounded, overlap kept, starts increasing).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "enrich/embed/embed.h"

/* id 5 is a word start, id 6 ("##x") a continuation. */
static const char vocab[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nx\n##x\n";

static struct embed_wordpiece *
tiny(void)
{
	const char *errstr;
	struct embed_wordpiece *wp = embed_wordpiece_new_vocab(vocab,
	    sizeof(vocab) - 1, NULL, &errstr);

	assert_non_null(wp);
	return wp;
}

/* Token I covers bytes [2I, 2I + 1); CONT marks continuation pieces. */
static struct embed_token *
stream(size_t n, const char *cont)
{
	struct embed_token *t = calloc(n ? n : 1, sizeof(*t));

	for (size_t i = 0; i < n; i++) {
		t[i].id = cont != NULL && cont[i] == '#' ? 6 : 5;
		t[i].start = (uint32_t)(2 * i);
		t[i].end = (uint32_t)(2 * i + 1);
	}
	return t;
}

static void
test_edges(void **state)
{
	struct embed_token *t = stream(10, NULL);
	struct embed_chunk *c;
	const char *errstr;
	size_t n;

	(void)state;
	assert_int_equal(embed_chunk_split(t, 0, 4, 1, NULL, &c, &n, &errstr),
	    0);
	assert_int_equal(n, 0);
	free(c);
	assert_int_equal(embed_chunk_split(t, 3, 4, 1, NULL, &c, &n, &errstr),
	    0);
	assert_int_equal(n, 1);
	assert_int_equal(c[0].n_tok, 3);
	assert_int_equal(c[0].byte_start, 0);
	assert_int_equal(c[0].byte_end, 5);
	free(c);
	/* 10 tokens, window 4, overlap 1: [0,4) [3,7) [6,10). */
	assert_int_equal(embed_chunk_split(t, 10, 4, 1, NULL, &c, &n,
	    &errstr), 0);
	assert_int_equal(n, 3);
	assert_int_equal(c[1].tok_start, 3);
	assert_int_equal(c[2].tok_start, 6);
	assert_int_equal(c[2].n_tok, 4);
	assert_int_equal(c[2].byte_end, 19);
	free(c);
	assert_int_equal(embed_chunk_split(t, 10, 4, 4, NULL, &c, &n,
	    &errstr), -1);
	assert_int_equal(embed_chunk_split(t, 10, 0, 0, NULL, &c, &n,
	    &errstr), -1);
	free(t);
}

static void
test_word_boundary(void **state)
{
	/* Window 16 would cut "x##x##x" at 15..17; the cut moves to 15. */
	const char *cont = "...............##.....................";
	struct embed_wordpiece *wp = tiny();
	size_t len = strlen(cont), n;
	struct embed_token *t = stream(len, cont);
	struct embed_chunk *c;
	const char *errstr;

	(void)state;
	assert_int_equal(embed_chunk_split(t, len, 16, 4, wp, &c, &n,
	    &errstr), 0);
	assert_int_equal(c[0].n_tok, 14);
	assert_int_equal(c[1].tok_start, 10);
	free(c);
	/* Without a tokenizer the window is cut exactly. */
	assert_int_equal(embed_chunk_split(t, len, 16, 4, NULL, &c, &n,
	    &errstr), 0);
	assert_int_equal(c[0].n_tok, 16);
	free(c);
	free(t);
	embed_wordpiece_free(&wp);
}

static void
test_ids(void **state)
{
	struct embed_wordpiece *wp = tiny();
	struct embed_token *t = stream(6, "..#...");
	struct embed_chunk ch = { .tok_start = 1, .n_tok = 3 };
	int32_t ids[5];

	(void)state;
	assert_int_equal(embed_chunk_ids(wp, t, &ch, ids), 5);
	assert_int_equal(ids[0], embed_wordpiece_cls(wp));
	assert_int_equal(ids[2], 6);
	assert_int_equal(ids[4], embed_wordpiece_sep(wp));
	free(t);
	embed_wordpiece_free(&wp);
}

static void
test_invariants(void **state)
{
	struct embed_wordpiece *wp = tiny();

	(void)state;
	srandom(1125);
	for (int iter = 0; iter < 3000; iter++) {
		size_t len = (size_t)(random() % 700), window, overlap, nc;
		char *cont = malloc(len + 1);
		struct embed_token *t;
		struct embed_chunk *c;
		const char *errstr;
		size_t covered = 0;

		window = 1 + (size_t)(random() % 300);
		overlap = (size_t)random() % window;
		for (size_t i = 0; i < len; i++)
			cont[i] = i > 0 && random() % 3 == 0 ? '#' : '.';
		cont[len] = '\0';
		t = stream(len, cont);
		assert_int_equal(embed_chunk_split(t, len, window, overlap,
		    iter % 2 ? wp : NULL, &c, &nc, &errstr), 0);
		assert_true(len == 0 ? nc == 0 : nc >= 1);
		for (size_t k = 0; k < nc; k++) {
			size_t end = c[k].tok_start + c[k].n_tok;

			assert_true(c[k].n_tok >= 1 && c[k].n_tok <= window);
			assert_true(c[k].tok_start <= covered);
			if (k > 0) {
				size_t pend = c[k - 1].tok_start +
				    c[k - 1].n_tok;

				assert_true(c[k].tok_start >
				    c[k - 1].tok_start);
				assert_true(pend - c[k].tok_start >= overlap);
			}
			assert_int_equal(c[k].byte_start,
			    t[c[k].tok_start].start);
			assert_int_equal(c[k].byte_end, t[end - 1].end);
			covered = end > covered ? end : covered;
		}
		assert_int_equal(covered, len);
		free(c);
		free(t);
		free(cont);
	}
	embed_wordpiece_free(&wp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_edges),
		cmocka_unit_test(test_word_boundary),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_invariants),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
