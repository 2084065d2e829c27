/*
 * crm-embed.c - command-line front end of the embedding engine.
 *
 *   crm-embed [--model DIR | --config FILE] [--tokens|--chunks] [-0] [TEXT...]
 *
 * Texts come from the arguments or, without any, from stdin one per line
 * (-0: NUL-separated, so texts may hold newlines).  Output is JSON Lines,
 * one line per text: an array of token ids with --tokens (what the model
 * sees, [CLS] and [SEP] included), else the embedding vector.  --chunks
 * prints the chunk plan of each text instead.  --config FILE reads an
 * [embed] section (embedder.h), which may name a remote endpoint.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "enrich/embed/embed.h"
#include "enrich/embed/embedder.h"
#include "lib/conf.h"
#include "lib/log.h"
#include "lib/xmalloc.h"

#define BATCH_TEXTS 64

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: crm-embed [--model DIR] [--tokens | --chunks] [-0] "
	    "[TEXT...]\n"
	    "  --config FILE embed with the [embed] section of FILE (local or\n"
	    "                remote endpoint; see docs/embedding.md)\n"
	    "  --model DIR   model directory (default $CRM_MODEL_DIR, else\n"
	    "                $XDG_CACHE_HOME/crm/models/all-minilm-l6-v2;\n"
	    "                fill it with enrich/embed/fetch-model.sh)\n"
	    "  --tokens      print token ids instead of embeddings\n"
	    "  --chunks      print the chunk windows of each text\n"
	    "  --window N    chunk window in tokens (default max - 2)\n"
	    "  --overlap N   chunk overlap in tokens (default 32)\n"
	    "  --threads N   threads per batch (default: online CPUs)\n"
	    "  -0            stdin texts are NUL-separated, not lines\n"
	    "Without TEXT arguments, texts are read from stdin.\n"
	    "Output: one JSON array per text (JSON Lines).\n");
}

static char *
default_model_dir(void)
{
	const char *e = getenv("CRM_MODEL_DIR");

	if (e != NULL && *e != '\0')
		return xstrdup(e);
	if ((e = getenv("XDG_CACHE_HOME")) != NULL && *e != '\0')
		return xasprintf("%s/crm/models/all-minilm-l6-v2", e);
	if ((e = getenv("HOME")) == NULL)
		fatalx("no --model, $CRM_MODEL_DIR or $HOME");
	return xasprintf("%s/.cache/crm/models/all-minilm-l6-v2", e);
}

struct texts {
	char **s;
	size_t *len;
	size_t n, cap;
};

static void
texts_add(struct texts *t, char *s, size_t len)
{
	if (len > EMBED_TEXT_MAX)
		fatalx("text %zu longer than %u bytes", t->n + 1,
		    EMBED_TEXT_MAX);
	if (t->n == t->cap) {
		t->cap = t->cap * 2 + 16;
		t->s = xreallocarray(t->s, t->cap, sizeof(*t->s));
		t->len = xreallocarray(t->len, t->cap, sizeof(*t->len));
	}
	t->s[t->n] = s;
	t->len[t->n++] = len;
}

static void
texts_free(struct texts *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->s[i]);
	free(t->s);
	free(t->len);
	memset(t, 0, sizeof(*t));
}

static void
read_stdin(struct texts *t, int delim)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t r;

	while ((r = getdelim(&line, &cap, delim, stdin)) >= 0) {
		size_t len = (size_t)r;

		if (len > 0 && line[len - 1] == (char)delim)
			len--;
		texts_add(t, xstrndup(line, len), len);
	}
	if (ferror(stdin))
		fatal("reading stdin");
	free(line);
}

static int
conf_cb(void *ctx, const char *section, const char *name, const char *key,
    const char *value, int line, char *err)
{
	(void)name;
	(void)line;
	if (strcmp(section, "embed") != 0 || *key == '\0')
		return 0;
	return embedder_config_set(ctx, key, value, err, CONF_ERR_MAX);
}

static void
print_vectors(const float *out, size_t n, size_t dim)
{
	for (size_t k = 0; k < n; k++) {
		putchar('[');
		for (size_t d = 0; d < dim; d++)
			printf("%s%.8g", d ? "," : "",
			    (double)out[k * dim + d]);
		puts("]");
	}
}

/* Embeds through embedder.h, the path the daemons take. */
static int
embed_with_config(const char *path, const struct texts *t)
{
	struct embedder_config cfg;
	struct embedder *e;
	char err[CONF_ERR_MAX];
	float *out;
	size_t dim;

	embedder_config_init(&cfg);
	if (conf_parse_file(path, conf_cb, &cfg, err) != 0)
		fatalx("%s", err);
	if (embedder_open(&cfg, &e, err, sizeof(err)) != 0)
		fatalx("%s: %s", path, err);
	embedder_config_fini(&cfg);
	dim = embedder_dim(e);
	out = xreallocarray(NULL, BATCH_TEXTS * dim, sizeof(*out));
	for (size_t i = 0; i < t->n; i += BATCH_TEXTS) {
		size_t n = t->n - i < BATCH_TEXTS ? t->n - i : BATCH_TEXTS;

		if (embedder_texts(e, (const char *const *)t->s + i,
		    t->len + i, n, out, err, sizeof(err)) != 0)
			fatalx("texts %zu..%zu: %s", i + 1, i + n, err);
		print_vectors(out, n, dim);
	}
	free(out);
	embedder_close(&e);
	if (fflush(stdout) != 0)
		fatal("writing stdout");
	return 0;
}

static void
print_tokens(const struct embed_model *m, const struct texts *t)
{
	const struct embed_wordpiece *wp = embed_model_tokenizer(m);
	size_t max = embed_model_info(m)->max_tokens;
	int32_t *ids = xreallocarray(NULL, max, sizeof(*ids));
	const char *errstr;

	for (size_t i = 0; i < t->n; i++) {
		int n = embed_wordpiece_encode(wp, t->s[i], t->len[i], ids,
		    max, &errstr);

		if (n < 0)
			fatalx("text %zu: %s", i + 1, errstr);
		putchar('[');
		for (int k = 0; k < n; k++)
			printf("%s%d", k ? "," : "", ids[k]);
		puts("]");
	}
	free(ids);
}

static void
print_chunks(const struct embed_model *m, const struct texts *t,
    size_t window, size_t overlap)
{
	const struct embed_wordpiece *wp = embed_model_tokenizer(m);
	const char *errstr;

	for (size_t i = 0; i < t->n; i++) {
		struct embed_token *toks;
		struct embed_chunk *c;
		size_t n, nc;

		if (embed_wordpiece_tokenize(wp, t->s[i], t->len[i],
		    EMBED_TEXT_MAX, &toks, &n, &errstr) != 0 ||
		    embed_chunk_split(toks, n, window, overlap, wp, &c, &nc,
		    &errstr) != 0)
			fatalx("text %zu: %s", i + 1, errstr);
		putchar('[');
		for (size_t k = 0; k < nc; k++)
			printf("%s{\"tok_start\":%zu,\"n_tok\":%zu,"
			    "\"byte_start\":%u,\"byte_end\":%u}", k ? "," : "",
			    c[k].tok_start, c[k].n_tok, c[k].byte_start,
			    c[k].byte_end);
		puts("]");
		free(toks);
		free(c);
	}
}

static void
print_embeddings(struct embed_model *m, const struct texts *t)
{
	size_t dim = embed_model_info(m)->hidden;
	float *out = xreallocarray(NULL, BATCH_TEXTS * dim, sizeof(*out));
	const char *errstr;

	for (size_t i = 0; i < t->n; i += BATCH_TEXTS) {
		size_t n = t->n - i < BATCH_TEXTS ? t->n - i : BATCH_TEXTS;

		if (embed_model_texts(m, (const char *const *)t->s + i,
		    t->len + i, n, out, &errstr) != 0)
			fatalx("texts %zu..%zu: %s", i + 1, i + n, errstr);
		for (size_t k = 0; k < n; k++) {
			putchar('[');
			for (size_t d = 0; d < dim; d++)
				printf("%s%.8g", d ? "," : "",
				    (double)out[k * dim + d]);
			puts("]");
		}
	}
	free(out);
}

int
main(int argc, char **argv)
{
	enum { OPT_WINDOW = 256, OPT_OVERLAP, OPT_THREADS };
	static const struct option longopts[] = {
		{ "model", required_argument, NULL, 'm' },
		{ "config", required_argument, NULL, 'C' },
		{ "tokens", no_argument, NULL, 't' },
		{ "chunks", no_argument, NULL, 'c' },
		{ "window", required_argument, NULL, OPT_WINDOW },
		{ "overlap", required_argument, NULL, OPT_OVERLAP },
		{ "threads", required_argument, NULL, OPT_THREADS },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct texts t = { 0 };
	struct embed_model *m;
	const char *errstr;
	char *dir = NULL, *config = NULL, *end;
	int ch, mode = 'e', delim = '\n';
	unsigned long window = 0, overlap = 32, threads = 0;

	log_init("crm-embed", false);
	while ((ch = getopt_long(argc, argv, "0m:tch", longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case '0':
			delim = '\0';
			break;
		case 'm':
			free(dir);
			dir = xstrdup(optarg);
			break;
		case 'C':
			free(config);
			config = xstrdup(optarg);
			break;
		case 't':
		case 'c':
			mode = ch;
			break;
		case OPT_WINDOW:
		case OPT_OVERLAP:
		case OPT_THREADS:
			errno = 0;
			*(ch == OPT_WINDOW ? &window : ch == OPT_OVERLAP ?
			    &overlap : &threads) = strtoul(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || end == optarg)
				fatalx("bad number: %s", optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	for (int i = optind; i < argc; i++)
		texts_add(&t, xstrdup(argv[i]), strlen(argv[i]));
	if (optind == argc)
		read_stdin(&t, delim);
	if (config != NULL) {
		int rc;

		if (mode != 'e')
			fatalx("--config embeds only; --tokens and "
			    "--chunks need --model");
		rc = embed_with_config(config, &t);
		texts_free(&t);
		free(config);
		free(dir);
		return rc;
	}
	if (dir == NULL)
		dir = default_model_dir();
	if ((m = embed_model_load(dir, &errstr)) == NULL)
		fatalx("%s: %s", dir, errstr);
	if (threads == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		threads = n < 1 ? 1 : n > EMBED_THREADS_MAX ?
		    EMBED_THREADS_MAX : (unsigned long)n;
	}
	if (embed_model_set_threads(m, threads, &errstr) != 0)
		fatalx("--threads: %s", errstr);
	if (window == 0)
		window = embed_model_info(m)->max_tokens - 2;
	if (mode == 't')
		print_tokens(m, &t);
	else if (mode == 'c')
		print_chunks(m, &t, window, overlap);
	else
		print_embeddings(m, &t);
	if (fflush(stdout) != 0)
		fatal("writing stdout");
	embed_model_free(&m);
	texts_free(&t);
	free(dir);
	free(config);
	return 0;
}
