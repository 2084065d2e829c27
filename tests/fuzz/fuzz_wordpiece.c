/*
 * fuzz_wordpiece.c - the tokenizer on arbitrary bytes.  The first byte picks
 * the target: odd means the rest is a tokenizer.json image to load; even
 * means the rest is text for a fixed small vocabulary, tokenized with and
 * without truncation.  Token offsets must stay inside the text, in order.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "enrich/embed/embed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char vocab[] =
    "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\n##s\na\n##b\nab\ncafe\n"
    ",\n.\n\xe6\x97\xa5\ni\n##i\n";

static void
check(const struct embed_wordpiece *wp, const char *text, size_t len,
    size_t max)
{
	struct embed_token *t;
	const char *errstr;
	size_t n;

	if (embed_wordpiece_tokenize(wp, text, len, max, &t, &n, &errstr) != 0)
		abort();
	if (n > max)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (t[i].start > t[i].end || t[i].end > len ||
		    (i > 0 && t[i].start < t[i - 1].start) || t[i].id < 0 ||
		    (size_t)t[i].id >= embed_wordpiece_vocab_size(wp))
			abort();
	}
	free(t);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct embed_wordpiece *wp;
	const char *errstr, *text = (const char *)data + 1;
	int32_t ids[8];

	if (size == 0)
		return 0;
	if (data[0] & 1) {
		struct embed_wordpiece *j = embed_wordpiece_new_json(text,
		    size - 1, &errstr);

		if (j != NULL) {
			check(j, "The cafe, ab.", 13, 100);
			embed_wordpiece_free(&j);
		}
		return 0;
	}
	if (wp == NULL && (wp = embed_wordpiece_new_vocab(vocab,
	    sizeof(vocab) - 1, NULL, &errstr)) == NULL)
		abort();
	check(wp, text, size - 1, SIZE_MAX);
	check(wp, text, size - 1, 3);
	if (embed_wordpiece_encode(wp, text, size - 1, ids, 8, &errstr) < 2)
		abort();
	return 0;
}
