/*
 * test_wordpiece.c - the BERT tokenizer on a tiny vocabulary: normalizer
 * (clean text, CJK, accents, case), pre-tokenizer, WordPiece, special
 * tokens in raw text, byte offsets, truncation, and both vocab formats.
 * The real vocabulary is checked against HF in tests/integration.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "enrich/embed/embed.h"

static const char vocab[] =
    "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n"
    "hello\nworld\nun\n##aff\n##able\ncafe\n,\n!\n.\n\xe6\x97\xa5\n"
    "\xe6\x9c\xac\nthe\n##s\na\nb\ni\n`\n;\n";

static struct embed_wordpiece *
tiny(void)
{
	const char *errstr = NULL;
	struct embed_wordpiece *wp = embed_wordpiece_new_vocab(vocab,
	    sizeof(vocab) - 1, NULL, &errstr);

	assert_non_null(wp);
	return wp;
}

/* Space-separated token texts of TEXT. */
static void
check(const struct embed_wordpiece *wp, const char *text, size_t len,
    const char *want)
{
	struct embed_token *t;
	const char *errstr;
	char got[512] = "";
	size_t n, used = 0;

	assert_int_equal(embed_wordpiece_tokenize(wp, text, len, 1000, &t,
	    &n, &errstr), 0);
	for (size_t i = 0; i < n; i++) {
		int k = snprintf(got + used, sizeof(got) - used, "%s%s",
		    i ? " " : "", embed_wordpiece_token(wp, t[i].id));

		assert_true(k > 0 && (size_t)k < sizeof(got) - used);
		used += (size_t)k;
	}
	free(t);
	if (strcmp(got, want) != 0)
		fail_msg("%.*s: got \"%s\", want \"%s\"", (int)len, text, got,
		    want);
}

static void
test_cases(void **state)
{
	static const struct {
		const char *in;
		size_t len;		/* 0: strlen */
		const char *want;
	} cases[] = {
		{ "Hello, World!", 0, "hello , world !" },
		{ "unaffable", 0, "un ##aff ##able" },
		{ "UnAffABLE the", 0, "un ##aff ##able the" },
		{ "Caf\xc3\xa9", 0, "cafe" },			/* precomposed */
		{ "CAFE\xcc\x81", 0, "cafe" },			/* combining */
		{ "\xe6\x97\xa5\xe6\x9c\xac", 0, "\xe6\x97\xa5 \xe6\x9c\xac" },
		{ "the\xe6\x97\xa5the", 0, "the \xe6\x97\xa5 the" },
		{ "hel\0lo", 6, "hello" },			/* NUL dropped */
		{ "hello\xe2\x80\x8bworld", 0, "[UNK]" },	/* ZWSP joins */
		{ "hello\xc2\xa0world", 0, "hello world" },	/* NBSP */
		{ "hello\xe3\x80\x80world", 0, "hello world" },
		{ "hello\twor\x01ld\r\n", 0, "hello world" },
		{ "hel\xfflo", 0, "hello" },			/* bad UTF-8 */
		{ "\xc4\xb0", 0, "i" },				/* I with dot */
		{ "x[SEP]hello[CLS]", 0, "[UNK] [SEP] hello [CLS]" },
		{ "[sep]", 0, "[UNK] [UNK] [UNK]" },		/* case matters */
		{ "[MASK][PAD]", 0, "[MASK] [PAD]" },
		{ "\xcd\xbe", 0, ";" },		/* Greek question mark -> ; */
		{ "\xe1\xbf\xaf", 0, "`" },	/* varia -> ` punctuation */
		{ "ab", 0, "[UNK]" },		/* no ##b: whole word unknown */
		{ "", 0, "" },
		{ " \t\n ", 0, "" },
		{ "a.b", 0, "a . b" },
		{ "\xf0\x9f\x98\x80 hello", 0, "[UNK] hello" },	/* emoji */
	};
	struct embed_wordpiece *wp = tiny();

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check(wp, cases[i].in, cases[i].len ? cases[i].len :
		    strlen(cases[i].in), cases[i].want);
	embed_wordpiece_free(&wp);
	assert_null(wp);
}

static void
test_long_word(void **state)
{
	struct embed_wordpiece_config cfg;
	struct embed_wordpiece *wp;
	const char *errstr;
	char word[102];

	(void)state;
	embed_wordpiece_config_default(&cfg);
	cfg.max_chars_per_word = 4;
	wp = embed_wordpiece_new_vocab(vocab, sizeof(vocab) - 1, &cfg,
	    &errstr);
	assert_non_null(wp);
	check(wp, "cafe hello", 10, "cafe [UNK]");
	embed_wordpiece_free(&wp);

	wp = tiny();
	memset(word, 'a', sizeof(word));
	check(wp, word, 100, "[UNK]");	/* 100 chars: tried, no match */
	check(wp, word, 101, "[UNK]");	/* 101: refused outright */
	embed_wordpiece_free(&wp);
}

static void
test_offsets(void **state)
{
	struct embed_wordpiece *wp = tiny();
	const char text[] = "  Caf\xc3\xa9, unaffable";
	struct embed_token *t;
	const char *errstr;
	size_t n;

	(void)state;
	assert_int_equal(embed_wordpiece_tokenize(wp, text, strlen(text),
	    100, &t, &n, &errstr), 0);
	assert_int_equal(n, 5);
	assert_int_equal(t[0].start, 2);	/* cafe */
	assert_int_equal(t[0].end, 7);
	assert_int_equal(t[1].start, 7);	/* , */
	assert_int_equal(t[1].end, 8);
	assert_int_equal(t[2].start, 9);	/* un */
	assert_int_equal(t[2].end, 11);
	assert_int_equal(t[4].start, 14);	/* ##able */
	assert_int_equal(t[4].end, 18);
	assert_true(embed_wordpiece_is_continuation(wp, t[3].id));
	assert_false(embed_wordpiece_is_continuation(wp, t[2].id));
	free(t);
	embed_wordpiece_free(&wp);
}

static void
test_encode_truncates(void **state)
{
	struct embed_wordpiece *wp = tiny();
	const char *errstr;
	int32_t ids[4];

	(void)state;
	assert_int_equal(embed_wordpiece_encode(wp, "hello world hello", 17,
	    ids, 4, &errstr), 4);
	assert_int_equal(ids[0], embed_wordpiece_cls(wp));
	assert_int_equal(ids[1], 5);
	assert_int_equal(ids[2], 6);
	assert_int_equal(ids[3], embed_wordpiece_sep(wp));
	assert_int_equal(embed_wordpiece_encode(wp, "", 0, ids, 4, &errstr),
	    2);
	assert_int_equal(embed_wordpiece_encode(wp, "x", 1, ids, 1, &errstr),
	    -1);
	embed_wordpiece_free(&wp);
}

static void
test_json(void **state)
{
	static const char ok[] =
	    "{\"added_tokens\":[{\"id\":2,\"content\":\"[CLS]\","
	    "\"normalized\":false},{\"id\":3,\"content\":\"[SEP]\"}],"
	    "\"normalizer\":{\"type\":\"BertNormalizer\",\"lowercase\":false,"
	    "\"strip_accents\":null},"
	    "\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"},"
	    "\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\","
	    "\"max_input_chars_per_word\":100,"
	    "\"vocab\":{\"[PAD]\":0,\"[UNK]\":1,\"[CLS]\":2,\"[SEP]\":3,"
	    "\"Hello\":4,\"hello\":5,\"##s\":6}}}";
	static const char *const bad[] = {
	    "[]",
	    "{\"model\":{\"type\":\"BPE\",\"vocab\":{}}}",
	    "{\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"},"
	    "\"normalizer\":{\"type\":\"NFC\"},\"model\":{\"type\":"
	    "\"WordPiece\",\"vocab\":{\"[UNK]\":0}}}",
	    "{\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"},"
	    "\"normalizer\":{\"type\":\"BertNormalizer\"},\"model\":{\"type\":"
	    "\"WordPiece\",\"vocab\":{\"[UNK]\":-1}}}",
	};
	struct embed_wordpiece *wp;
	const char *errstr = NULL;

	(void)state;
	wp = embed_wordpiece_new_json(ok, sizeof(ok) - 1, &errstr);
	assert_non_null(wp);
	check(wp, "Hello hellos", 12, "Hello hello ##s");	/* cased */
	embed_wordpiece_free(&wp);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errstr = NULL;
		assert_null(embed_wordpiece_new_json(bad[i], strlen(bad[i]),
		    &errstr));
		assert_non_null(errstr);
	}
}

static void
test_bad_vocab(void **state)
{
	const char *errstr = NULL;
	char big[EMBED_VOCAB_TOKEN_MAX + 32];

	(void)state;
	assert_null(embed_wordpiece_new_vocab("a\nb\n", 4, NULL, &errstr));
	assert_non_null(errstr);
	memset(big, 'x', sizeof(big));
	memcpy(big, "[UNK]\n", 6);
	assert_null(embed_wordpiece_new_vocab(big, sizeof(big), NULL,
	    &errstr));
	assert_null(embed_wordpiece_new_vocab("", 0, NULL, &errstr));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_long_word),
		cmocka_unit_test(test_offsets),
		cmocka_unit_test(test_encode_truncates),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_bad_vocab),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
