/*
 * embed.h - local sentence embeddings: a BERT-family encoder run from C.
 *
 * Four layers, each usable alone:
 *   safetensors  mmap a weights file, validate its JSON header, find tensors
 *   wordpiece    the model's tokenizer (BERT normalizer, pre-tokenizer,
 *                WordPiece), byte-for-byte the ids HF `tokenizers` produces
 *   model        config-driven encoder forward pass on BLAS, pooling, L2
 *   chunk        overlapping token windows over long message text
 *
 * Nothing here logs or exits (STYLE 17).  Failing calls return -1 (or NULL)
 * and set *errstr_r to a static string.  Objects are not internally locked:
 * use one model per thread, or serialize calls.  A loaded model never reads
 * the network; weights come from enrich/embed/fetch-model.sh.
 */
#ifndef CRM_EMBED_H
#define CRM_EMBED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Hard limits on untrusted sizes (STYLE 5). */
#define EMBED_TEXT_MAX		(16u * 1024 * 1024) /* bytes per text */
#define EMBED_ST_HEADER_MAX	(16u * 1024 * 1024) /* safetensors JSON */
#define EMBED_ST_TENSORS_MAX	4096
#define EMBED_ST_NDIM_MAX	8
#define EMBED_VOCAB_MAX		(1u << 20)	/* tokens */
#define EMBED_VOCAB_TOKEN_MAX	256		/* bytes per token */
#define EMBED_THREADS_MAX	64
#define EMBED_CONFIG_MAX	(64u * 1024 * 1024) /* json config/tokenizer */

/* ---- safetensors ------------------------------------------------------ */

enum embed_dtype {
	EMBED_DTYPE_F32,
	EMBED_DTYPE_F16,
	EMBED_DTYPE_BF16,
	EMBED_DTYPE_I64,
	EMBED_DTYPE_OTHER,	/* listed and bounds-checked, never converted */
};

struct embed_tensor {
	const char *name;
	enum embed_dtype dtype;
	size_t ndim;
	uint64_t shape[EMBED_ST_NDIM_MAX];
	uint64_t nelem;
	/* Points into the mapping; 8-byte aligned at best, never assume more. */
	const void *data;
	size_t nbytes;
};

struct embed_safetensors;

/*
 * Maps PATH read-only and validates the header: size within
 * EMBED_ST_HEADER_MAX, every tensor's dtype, shape and [begin, end) consistent
 * with each other and inside the file.  Returns 0 and *st_r, or -1.
 */
int embed_safetensors_open(const char *path, struct embed_safetensors **st_r,
    const char **errstr_r);
/*
 * Same validation over a file image already in memory.  BUF is not copied
 * and must outlive *st_r.  (The fuzz target's entry point.)
 */
int embed_safetensors_parse(const void *buf, size_t len,
    struct embed_safetensors **st_r, const char **errstr_r);
/* Unmaps (if mapped) and frees; sets *st to NULL.  NULL is fine. */
void embed_safetensors_free(struct embed_safetensors **st);
size_t embed_safetensors_count(const struct embed_safetensors *st);
/* The I-th tensor (I < count), in header order, or NULL. */
const struct embed_tensor *
embed_safetensors_at(const struct embed_safetensors *st, size_t i);
/* Tensor by exact name, or NULL.  Valid until embed_safetensors_free(). */
const struct embed_tensor *
embed_safetensors_find(const struct embed_safetensors *st, const char *name);

/* ---- wordpiece --------------------------------------------------------- */

struct embed_wordpiece_config {
	bool clean_text;	/* drop NUL/U+FFFD/Cc/Cf/Co, map spaces */
	bool handle_cjk;	/* isolate CJK ideographs */
	bool strip_accents;	/* NFD, then drop Mn */
	bool lowercase;
	size_t max_chars_per_word; /* longer words become [UNK] */
};

/* One token with the byte range of the input it came from. */
struct embed_token {
	int32_t id;
	uint32_t start, end;
};

struct embed_wordpiece;

/* BERT uncased defaults: everything on, 100 chars per word. */
void embed_wordpiece_config_default(struct embed_wordpiece_config *cfg);
/*
 * Builds a tokenizer from a vocab.txt image (token per line, line number =
 * id).  [CLS] [SEP] [UNK] [PAD] [MASK] are required except [MASK]/[PAD]; they
 * are matched in raw input as HF does for added special tokens.
 */
struct embed_wordpiece *
embed_wordpiece_new_vocab(const char *buf, size_t len,
    const struct embed_wordpiece_config *cfg, const char **errstr_r);
/*
 * Builds a tokenizer from a tokenizer.json image (BertNormalizer +
 * BertPreTokenizer + WordPiece; anything else is refused).
 */
struct embed_wordpiece *
embed_wordpiece_new_json(const char *buf, size_t len, const char **errstr_r);
/*
 * Loads DIR/tokenizer.json, or else DIR/vocab.txt with the normalizer flags
 * of DIR/tokenizer_config.json.
 */
struct embed_wordpiece *
embed_wordpiece_load(const char *dir, const char **errstr_r);
void embed_wordpiece_free(struct embed_wordpiece **wp);

size_t embed_wordpiece_vocab_size(const struct embed_wordpiece *wp);
int32_t embed_wordpiece_cls(const struct embed_wordpiece *wp);
int32_t embed_wordpiece_sep(const struct embed_wordpiece *wp);
/*
 * Token text for ID, NUL-terminated in a per-thread buffer valid until the
 * next call in the same thread; NULL if ID is out of range.
 */
const char *embed_wordpiece_token(const struct embed_wordpiece *wp,
    int32_t id);
/* Id of exact token text, or -1. */
int32_t embed_wordpiece_lookup(const struct embed_wordpiece *wp,
    const char *tok, size_t len);
/* True when ID continues the previous token's word ("##..."). */
bool embed_wordpiece_is_continuation(const struct embed_wordpiece *wp,
    int32_t id);

/*
 * Tokenizes TEXT (LEN <= EMBED_TEXT_MAX; invalid UTF-8 bytes count as
 * U+FFFD, which the normalizer drops) without [CLS]/[SEP], stopping after
 * MAX_TOKENS tokens.  *toks_r is malloc'd (free it); *n_r its length.
 */
int embed_wordpiece_tokenize(const struct embed_wordpiece *wp,
    const char *text, size_t len, size_t max_tokens,
    struct embed_token **toks_r, size_t *n_r, const char **errstr_r);
/*
 * The model input for one text: [CLS] first MAX_LEN-2 tokens [SEP] into
 * IDS (room for MAX_LEN >= 2 ids).  Returns the count, or -1.
 */
int embed_wordpiece_encode(const struct embed_wordpiece *wp, const char *text,
    size_t len, int32_t *ids, size_t max_len, const char **errstr_r);

/* ---- model ------------------------------------------------------------- */

enum embed_pooling {
	EMBED_POOLING_MEAN,
	EMBED_POOLING_CLS,
};

struct embed_model_info {
	size_t hidden, layers, heads, intermediate, vocab, max_positions;
	size_t max_tokens;	/* per text, [CLS]/[SEP] included */
	enum embed_pooling pooling;
	bool normalize;
	float layer_norm_eps;
};

struct embed_model;

/*
 * Loads a sentence-transformers directory: config.json (sizes),
 * model.safetensors (weights, mmap'd), the tokenizer (see
 * embed_wordpiece_load), 1_Pooling/config.json (mean or CLS pooling),
 * modules.json (Normalize), sentence_bert_config.json (max_seq_length).
 */
struct embed_model *embed_model_load(const char *dir, const char **errstr_r);
/*
 * Threads a forward call may use (1 after load, at most EMBED_THREADS_MAX).
 * Each takes a share of the batch's sequences.  Loading a model sets
 * OpenBLAS to one thread for the whole process: BLAS runs inside these
 * threads instead, which on few cores is faster than splitting each sgemm.
 */
int embed_model_set_threads(struct embed_model *m, size_t threads,
    const char **errstr_r);
void embed_model_free(struct embed_model **m);
const struct embed_model_info *embed_model_info(const struct embed_model *m);
const struct embed_wordpiece *embed_model_tokenizer(
    const struct embed_model *m);

/*
 * Runs N token sequences (each [CLS] ... [SEP], 1 <= LENS[i] <= max_tokens,
 * ids < vocab) through the encoder as one batch and writes N pooled vectors
 * of info->hidden floats to OUT.  Sequences are packed back to back, so a
 * batch costs the sum of its lengths, not N times the longest.
 */
int embed_model_forward(struct embed_model *m, const int32_t *const *ids,
    const size_t *lens, size_t n, float *out, const char **errstr_r);
/* Tokenizes and embeds N texts (truncated to max_tokens). */
int embed_model_texts(struct embed_model *m, const char *const *texts,
    const size_t *lens, size_t n, float *out, const char **errstr_r);
/* Floating-point operations of a forward pass over these lengths. */
double embed_model_flops(const struct embed_model *m, const size_t *lens,
    size_t n);

/* ---- chunk ------------------------------------------------------------- */

/* A window of tokens [tok_start, tok_start + n_tok) and its source bytes. */
struct embed_chunk {
	size_t tok_start, n_tok;
	uint32_t byte_start, byte_end;
};

/*
 * Splits N tokens (from embed_wordpiece_tokenize) into windows of at most
 * WINDOW tokens, each starting OVERLAP tokens before the previous one ended
 * (OVERLAP < WINDOW).  A boundary that would split a word moves back to the
 * word's first piece when that costs under a quarter of the step.  No text
 * gives no chunk; every token lies in at least one chunk.  CONT, if not
 * NULL, says which ids are continuations.  *chunks_r is malloc'd.
 */
int embed_chunk_split(const struct embed_token *toks, size_t n,
    size_t window, size_t overlap, const struct embed_wordpiece *cont,
    struct embed_chunk **chunks_r, size_t *n_r, const char **errstr_r);
/*
 * Model input for one chunk: [CLS] tokens [SEP] into IDS (room for
 * chunk->n_tok + 2).  Returns the count.
 */
size_t embed_chunk_ids(const struct embed_wordpiece *wp,
    const struct embed_token *toks, const struct embed_chunk *chunk,
    int32_t *ids);

#endif
