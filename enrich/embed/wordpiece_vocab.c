/*
 * wordpiece_vocab.c - building a tokenizer from vocab.txt or tokenizer.json,
 * and the token lookup the WordPiece loop runs thousands of times per
 * message: one open-addressing table of ids keyed by token bytes.
 *
 * Both files are untrusted: their size is capped before reading, token
 * length by EMBED_VOCAB_TOKEN_MAX, ids by EMBED_VOCAB_MAX, and features of
 * tokenizer.json this code does not implement are refused rather than
 * silently tokenized differently.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "enrich/embed/embed.h"
#include "enrich/embed/embed_int.h"
#include "lib/xmalloc.h"

int
embed_file_read(const char *path, size_t max, char **buf_r, size_t *len_r)
{
	struct stat sb;
	char *buf;
	size_t got = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
	    (uint64_t)sb.st_size > max) {
		close(fd);
		return -1;
	}
	buf = xmalloc((size_t)sb.st_size + 1);
	while (got < (size_t)sb.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)sb.st_size - got);

		if (r <= 0) {
			free(buf);
			close(fd);
			return -1;
		}
		got += (size_t)r;
	}
	close(fd);
	buf[got] = '\0';
	*buf_r = buf;
	*len_r = got;
	return 0;
}

int
embed_file_read_in(const char *dir, const char *name, size_t max,
    char **buf_r, size_t *len_r)
{
	char *path = xasprintf("%s/%s", dir, name);
	int rc = embed_file_read(path, max, buf_r, len_r);

	free(path);
	return rc;
}

static uint64_t
hash(const char *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;	/* FNV-1a */

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)p[i]) * 0x100000001b3ull;
	return h;
}

int32_t
embed_wordpiece_lookup(const struct embed_wordpiece *wp, const char *tok,
    size_t len)
{
	size_t i = (size_t)hash(tok, len) & wp->mask;

	for (;; i = (i + 1) & wp->mask) {
		int32_t id = wp->slots[i];

		if (id < 0)
			return -1;
		if (wp->len[id] == len &&
		    memcmp(wp->arena + wp->off[id], tok, len) == 0)
			return id;
	}
}

void
embed_wordpiece_free(struct embed_wordpiece **wpp)
{
	struct embed_wordpiece *wp = *wpp;

	if (wp == NULL)
		return;
	for (size_t i = 0; i < wp->n_added; i++)
		free(wp->added[i].text);
	free(wp->arena);
	free(wp->off);
	free(wp->len);
	free(wp->slots);
	x_free(wpp);
}

/* Token texts go into one arena; ids are dense in [0, n). */
struct builder {
	struct embed_wordpiece *wp;
	size_t used, cap;
};

static void
builder_init(struct builder *b, size_t n)
{
	b->wp = xcalloc(1, sizeof(*b->wp));
	b->wp->n = n;
	b->wp->off = xcalloc(n, sizeof(*b->wp->off));
	b->wp->len = xcalloc(n, sizeof(*b->wp->len));
	b->used = 0;
	b->cap = 4096;
	b->wp->arena = xmalloc(b->cap);
	memcpy(b->wp->prefix, "##", 2);
	b->wp->prefix_len = 2;
	embed_wordpiece_config_default(&b->wp->cfg);
}

static int
builder_set(struct builder *b, size_t id, const char *tok, size_t len,
    const char **errstr_r)
{
	if (id >= b->wp->n || len > EMBED_VOCAB_TOKEN_MAX) {
		*errstr_r = "wordpiece: token id or length out of range";
		return -1;
	}
	while (b->cap - b->used < len) {
		b->cap *= 2;
		b->wp->arena = xreallocarray(b->wp->arena, b->cap, 1);
	}
	memcpy(b->wp->arena + b->used, tok, len);
	b->wp->off[id] = (uint32_t)b->used;
	b->wp->len[id] = (uint16_t)len;
	b->used += len;
	return 0;
}

static int
builder_add_special(struct builder *b, const char *text, size_t len,
    int32_t id, const char **errstr_r)
{
	struct embed_wordpiece *wp = b->wp;

	if (wp->n_added == WP_ADDED_MAX || len == 0 ||
	    len > EMBED_VOCAB_TOKEN_MAX || id < 0 || (size_t)id >= wp->n) {
		*errstr_r = "wordpiece: bad or too many added tokens";
		return -1;
	}
	wp->added[wp->n_added].text = xstrndup(text, len);
	wp->added[wp->n_added].len = len;
	wp->added[wp->n_added].id = id;
	wp->n_added++;
	wp->added_first[(unsigned char)text[0]] = true;
	return 0;
}

/* Hash table; on duplicate text the later id wins, as in HF's loader. */
static struct embed_wordpiece *
builder_finish(struct builder *b, const char *unk, const char **errstr_r)
{
	struct embed_wordpiece *wp = b->wp;
	size_t size = 16;

	while (size < wp->n * 2)
		size *= 2;
	wp->mask = size - 1;
	wp->slots = xreallocarray(NULL, size, sizeof(*wp->slots));
	memset(wp->slots, 0xff, size * sizeof(*wp->slots));
	for (size_t id = 0; id < wp->n; id++) {
		const char *t = wp->arena + wp->off[id];
		size_t i;

		if (wp->len[id] == 0)
			continue;
		i = (size_t)hash(t, wp->len[id]) & wp->mask;
		for (;; i = (i + 1) & wp->mask) {
			int32_t o = wp->slots[i];

			if (o < 0 || (wp->len[o] == wp->len[id] &&
			    memcmp(wp->arena + wp->off[o], t,
			    wp->len[id]) == 0)) {
				wp->slots[i] = (int32_t)id;
				break;
			}
		}
	}
	wp->unk = embed_wordpiece_lookup(wp, unk, strlen(unk));
	wp->cls = embed_wordpiece_lookup(wp, "[CLS]", 5);
	wp->sep = embed_wordpiece_lookup(wp, "[SEP]", 5);
	if (wp->unk < 0 || wp->cls < 0 || wp->sep < 0) {
		embed_wordpiece_free(&b->wp);
		*errstr_r = "wordpiece: vocabulary lacks [UNK], [CLS] or [SEP]";
		return NULL;
	}
	return wp;
}

struct embed_wordpiece *
embed_wordpiece_new_vocab(const char *buf, size_t len,
    const struct embed_wordpiece_config *cfg, const char **errstr_r)
{
	static const char *const specials[] = {
		"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
	};
	struct builder b;
	size_t lines = 0, id = 0;
	const char *p = buf, *end = buf + len;

	if (len > EMBED_CONFIG_MAX) {
		*errstr_r = "wordpiece: vocab file too large";
		return NULL;
	}
	for (size_t i = 0; i < len; i++)
		lines += buf[i] == '\n';
	if (len > 0 && buf[len - 1] != '\n')
		lines++;
	if (lines == 0 || lines > EMBED_VOCAB_MAX) {
		*errstr_r = "wordpiece: vocab empty or too large";
		return NULL;
	}
	builder_init(&b, lines);
	if (cfg != NULL)
		b.wp->cfg = *cfg;
	for (; p < end; id++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl != NULL ? nl : end;
		const char *t = e;

		/* HF trims trailing whitespace (and a CR) from each line. */
		while (t > p && (t[-1] == ' ' || t[-1] == '\t' ||
		    t[-1] == '\r'))
			t--;
		if (builder_set(&b, id, p, (size_t)(t - p), errstr_r) != 0) {
			embed_wordpiece_free(&b.wp);
			return NULL;
		}
		p = nl != NULL ? nl + 1 : end;
	}
	if (builder_finish(&b, "[UNK]", errstr_r) == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(specials) / sizeof(specials[0]); i++) {
		int32_t sid = embed_wordpiece_lookup(b.wp, specials[i],
		    strlen(specials[i]));

		if (sid >= 0 && builder_add_special(&b, specials[i],
		    strlen(specials[i]), sid, errstr_r) != 0) {
			embed_wordpiece_free(&b.wp);
			return NULL;
		}
	}
	return b.wp;
}

static bool
json_flag(const json_t *o, const char *key, bool dflt)
{
	const json_t *v = json_object_get(o, key);

	return json_is_boolean(v) ? json_is_true(v) : dflt;
}

static int
parse_normalizer(const json_t *n, struct embed_wordpiece_config *cfg,
    const char **errstr_r)
{
	const json_t *sa;

	if (!json_is_object(n) || !json_is_string(json_object_get(n, "type")) ||
	    strcmp(json_string_value(json_object_get(n, "type")),
	    "BertNormalizer") != 0) {
		*errstr_r = "wordpiece: normalizer is not BertNormalizer";
		return -1;
	}
	cfg->clean_text = json_flag(n, "clean_text", true);
	cfg->handle_cjk = json_flag(n, "handle_chinese_chars", true);
	cfg->lowercase = json_flag(n, "lowercase", true);
	sa = json_object_get(n, "strip_accents");
	/* null means "follow lowercase", as in the original BERT. */
	cfg->strip_accents = json_is_boolean(sa) ? json_is_true(sa) :
	    cfg->lowercase;
	return 0;
}

static int
parse_added(struct builder *b, const json_t *arr, const char **errstr_r)
{
	const json_t *a;
	size_t i;

	if (arr == NULL)
		return 0;
	if (!json_is_array(arr)) {
		*errstr_r = "wordpiece: added_tokens is not an array";
		return -1;
	}
	json_array_foreach(arr, i, a) {
		const json_t *c = json_object_get(a, "content");
		const json_t *id = json_object_get(a, "id");

		if (!json_is_string(c) || !json_is_integer(id)) {
			*errstr_r = "wordpiece: added token needs content, id";
			return -1;
		}
		if (json_flag(a, "normalized", false) ||
		    json_flag(a, "lstrip", false) ||
		    json_flag(a, "rstrip", false) ||
		    json_flag(a, "single_word", false)) {
			*errstr_r = "wordpiece: unsupported added-token options";
			return -1;
		}
		if (json_integer_value(id) < 0 ||
		    json_integer_value(id) >= (json_int_t)b->wp->n ||
		    builder_add_special(b, json_string_value(c),
		    json_string_length(c), (int32_t)json_integer_value(id),
		    errstr_r) != 0) {
			*errstr_r = "wordpiece: bad added token";
			return -1;
		}
	}
	return 0;
}

static struct embed_wordpiece *
from_json(const json_t *root, const char **errstr_r)
{
	const json_t *model, *vocab, *v, *pre, *prefix, *unk, *maxc;
	struct embed_wordpiece_config cfg;
	struct builder b;
	const char *key;
	size_t n = 0;

	model = json_object_get(root, "model");
	vocab = json_object_get(model, "vocab");
	pre = json_object_get(root, "pre_tokenizer");
	if (!json_is_object(model) || !json_is_string(json_object_get(model,
	    "type")) || strcmp(json_string_value(json_object_get(model,
	    "type")), "WordPiece") != 0 || !json_is_object(vocab)) {
		*errstr_r = "wordpiece: model is not WordPiece with a vocab";
		return NULL;
	}
	if (!json_is_object(pre) || !json_is_string(json_object_get(pre,
	    "type")) || strcmp(json_string_value(json_object_get(pre, "type")),
	    "BertPreTokenizer") != 0) {
		*errstr_r = "wordpiece: pre_tokenizer is not BertPreTokenizer";
		return NULL;
	}
	embed_wordpiece_config_default(&cfg);
	if (parse_normalizer(json_object_get(root, "normalizer"), &cfg,
	    errstr_r) != 0)
		return NULL;
	maxc = json_object_get(model, "max_input_chars_per_word");
	if (json_is_integer(maxc)) {
		if (json_integer_value(maxc) < 1 ||
		    json_integer_value(maxc) > 1000) {
			*errstr_r = "wordpiece: max_input_chars_per_word "
			    "out of range";
			return NULL;
		}
		cfg.max_chars_per_word = (size_t)json_integer_value(maxc);
	}
	json_object_foreach((json_t *)vocab, key, v) {
		json_int_t id = json_integer_value(v);

		if (!json_is_integer(v) || id < 0 || id >= EMBED_VOCAB_MAX) {
			*errstr_r = "wordpiece: vocab id out of range";
			return NULL;
		}
		if ((size_t)id >= n)
			n = (size_t)id + 1;
	}
	if (n == 0) {
		*errstr_r = "wordpiece: empty vocab";
		return NULL;
	}
	builder_init(&b, n);
	b.wp->cfg = cfg;
	prefix = json_object_get(model, "continuing_subword_prefix");
	if (json_is_string(prefix)) {
		if (json_string_length(prefix) > WP_PREFIX_MAX) {
			embed_wordpiece_free(&b.wp);
			*errstr_r = "wordpiece: subword prefix too long";
			return NULL;
		}
		b.wp->prefix_len = json_string_length(prefix);
		memcpy(b.wp->prefix, json_string_value(prefix),
		    b.wp->prefix_len);
	}
	json_object_foreach((json_t *)vocab, key, v) {
		if (builder_set(&b, (size_t)json_integer_value(v), key,
		    strlen(key), errstr_r) != 0) {
			embed_wordpiece_free(&b.wp);
			return NULL;
		}
	}
	unk = json_object_get(model, "unk_token");
	if (builder_finish(&b, json_is_string(unk) ? json_string_value(unk) :
	    "[UNK]", errstr_r) == NULL)
		return NULL;
	if (parse_added(&b, json_object_get(root, "added_tokens"),
	    errstr_r) != 0) {
		embed_wordpiece_free(&b.wp);
		return NULL;
	}
	return b.wp;
}

struct embed_wordpiece *
embed_wordpiece_new_json(const char *buf, size_t len, const char **errstr_r)
{
	struct embed_wordpiece *wp;
	json_error_t jerr;
	json_t *root;

	if (len > EMBED_CONFIG_MAX) {
		*errstr_r = "wordpiece: tokenizer.json too large";
		return NULL;
	}
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(root)) {
		json_decref(root);
		*errstr_r = "wordpiece: tokenizer.json is not a JSON object";
		return NULL;
	}
	wp = from_json(root, errstr_r);
	json_decref(root);
	return wp;
}

struct embed_wordpiece *
embed_wordpiece_load(const char *dir, const char **errstr_r)
{
	struct embed_wordpiece_config cfg;
	struct embed_wordpiece *wp;
	json_t *tc = NULL;
	char *buf;
	size_t len;

	if (embed_file_read_in(dir, "tokenizer.json", EMBED_CONFIG_MAX, &buf,
	    &len) == 0) {
		wp = embed_wordpiece_new_json(buf, len, errstr_r);
		free(buf);
		return wp;
	}
	embed_wordpiece_config_default(&cfg);
	if (embed_file_read_in(dir, "tokenizer_config.json", 1 << 20, &buf,
	    &len) == 0) {
		json_error_t jerr;
		const json_t *sa;

		tc = json_loadb(buf, len, 0, &jerr);
		free(buf);
		cfg.lowercase = json_flag(tc, "do_lower_case", true);
		cfg.handle_cjk = json_flag(tc, "tokenize_chinese_chars", true);
		sa = json_object_get(tc, "strip_accents");
		cfg.strip_accents = json_is_boolean(sa) ? json_is_true(sa) :
		    cfg.lowercase;
		json_decref(tc);
	}
	if (embed_file_read_in(dir, "vocab.txt", EMBED_CONFIG_MAX, &buf,
	    &len) != 0) {
		*errstr_r = "wordpiece: no readable tokenizer.json or vocab.txt";
		return NULL;
	}
	wp = embed_wordpiece_new_vocab(buf, len, &cfg, errstr_r);
	free(buf);
	return wp;
}

size_t
embed_wordpiece_vocab_size(const struct embed_wordpiece *wp)
{
	return wp->n;
}

int32_t
embed_wordpiece_cls(const struct embed_wordpiece *wp)
{
	return wp->cls;
}

int32_t
embed_wordpiece_sep(const struct embed_wordpiece *wp)
{
	return wp->sep;
}

const char *
embed_wordpiece_token(const struct embed_wordpiece *wp, int32_t id)
{
	static _Thread_local char buf[EMBED_VOCAB_TOKEN_MAX + 1];

	if (id < 0 || (size_t)id >= wp->n)
		return NULL;
	memcpy(buf, wp->arena + wp->off[id], wp->len[id]);
	buf[wp->len[id]] = '\0';
	return buf;
}

bool
embed_wordpiece_is_continuation(const struct embed_wordpiece *wp,
    int32_t id)
{
	return id >= 0 && (size_t)id < wp->n && wp->prefix_len > 0 &&
	    wp->len[id] > wp->prefix_len &&
	    memcmp(wp->arena + wp->off[id], wp->prefix, wp->prefix_len) == 0;
}
