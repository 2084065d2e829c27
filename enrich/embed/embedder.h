/*
 * embedder.h - text in, unit vectors out: one interface, two backends.
 *
 *   EMBEDDER_LOCAL   the in-process encoder of embed.h (default; no network)
 *   EMBEDDER_REMOTE  an OpenAI-compatible endpoint: POST {"model", "input":
 *                    [texts]} to the configured URL (…/v1/embeddings) and
 *                    read back data[i].embedding.  libcurl + jansson.
 *
 * Both return L2-normalized float vectors of embedder_dim() floats, so the
 * vector store and the search code cannot tell them apart.
 *
 * The remote API key comes from a file or an environment variable, never
 * from the command line (argv is world-readable in /proc); it is sent only
 * in the Authorization header and never appears in an error string.
 *
 * Nothing here logs or exits.  Errors are written into a caller buffer of
 * EMBEDDER_ERR_MAX bytes.  One embedder per thread.
 */
#ifndef CRM_EMBEDDER_H
#define CRM_EMBEDDER_H

#include <stdbool.h>
#include <stddef.h>

#define EMBEDDER_ERR_MAX 256
/* Texts per remote request unless configured otherwise, and the cap. */
#define EMBEDDER_BATCH_DEFAULT 32
#define EMBEDDER_BATCH_MAX 2048
/* Longest API key accepted from a file or the environment. */
#define EMBEDDER_KEY_MAX 4096
/* Largest remote response buffered, whatever the batch. */
#define EMBEDDER_RESPONSE_MAX (256u * 1024 * 1024)
/* Largest dimension a remote model may declare. */
#define EMBEDDER_DIM_MAX 8192
/* Retries on transient failures (connect, timeout, 408/429/5xx). */
#define EMBEDDER_RETRIES_MAX 10

enum embedder_backend {
	EMBEDDER_LOCAL,
	EMBEDDER_REMOTE,
};

struct embedder_config {
	enum embedder_backend backend;

	/* Local: the model directory (NULL: $CRM_MODEL_DIR, else the cache). */
	const char *model_dir;
	size_t threads;		/* 0: online CPUs */

	/* Remote. */
	const char *url;	/* full endpoint: http://h:8080/v1/embeddings */
	const char *model;	/* sent as "model" */
	const char *api_key_file;	/* first line is the key */
	const char *api_key_env;	/* name of a variable holding it */
	size_t dim;		/* required; every vector is checked */
	size_t batch;		/* texts per request; 0: default */
	long connect_timeout_ms;	/* 0: 5000 */
	long timeout_ms;	/* whole request; 0: 60000 */
	unsigned retries;	/* after the first try; default 3 */
	long backoff_ms;	/* first retry delay, then doubled; 0: 200 */
};

struct embedder;

/* Defaults: local backend, 3 retries, zeros elsewhere. */
void embedder_config_init(struct embedder_config *cfg);

/*
 * Sets one "key = value" of an [embed] config section (backend, model_dir,
 * threads, url, model, api_key_file, api_key_env, dim, batch,
 * connect_timeout, timeout, retries, backoff).  Strings are copied into
 * storage that lives until embedder_config_fini().  Returns 0, or -1 with a
 * message (no file:line) in err.
 */
int embedder_config_set(struct embedder_config *cfg, const char *key,
    const char *value, char *err, size_t errlen);
/* Frees what embedder_config_set() copied. */
void embedder_config_fini(struct embedder_config *cfg);

/*
 * Opens the backend.  Local: loads the model.  Remote: validates the
 * config and reads the key (no request is made).  Returns 0 and *e_r, or
 * -1 with a message in err.
 */
int embedder_open(const struct embedder_config *cfg, struct embedder **e_r,
    char *err, size_t errlen);
void embedder_close(struct embedder **e);

size_t embedder_dim(const struct embedder *e);
enum embedder_backend embedder_backend(const struct embedder *e);
/*
 * The local model, for callers that chunk by tokens; NULL for remote.
 */
struct embed_model *embedder_local_model(struct embedder *e);

/*
 * Embeds N texts into OUT (N * dim floats, each row L2-normalized).
 * Remote: split into batches, each retried with exponential backoff on
 * transient errors.  On -1 OUT is undefined.
 */
int embedder_texts(struct embedder *e, const char *const *texts,
    const size_t *lens, size_t n, float *out, char *err, size_t errlen);

/*
 * Parses one /v1/embeddings response body (BUF, LEN, need not be
 * NUL-terminated) for a request of N texts: data must hold exactly N
 * objects, each with a distinct "index" in [0, N) (or, without index, in
 * order) and an "embedding" of exactly DIM finite numbers, written to
 * OUT[index * DIM].  Bounded: LEN <= EMBEDDER_RESPONSE_MAX, nesting as
 * jansson allows.  No library state; the fuzz target's entry point.
 */
int embedder_parse_response(const char *buf, size_t len, size_t n,
    size_t dim, float *out, char *err, size_t errlen);

/*
 * From an error body ({"error": {"message": ...}} or {"error": "..."}),
 * copies at most ERRLEN-1 printable bytes of the message into err.
 * Returns 0 if one was found.
 */
int embedder_parse_error(const char *buf, size_t len, char *err,
    size_t errlen);

#endif
