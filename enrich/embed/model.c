/*
 * model.c - a BERT encoder forward pass on BLAS, with sentence-transformers
 * pooling.
 *
 * Sizes come from config.json, so any BERT-shaped checkpoint runs
 * (all-MiniLM-L6-v2: 6 layers x 384; bge-small-en-v1.5: 12 x 384 with CLS
 * pooling).  Weights stay in the mmap'd safetensors file, except the Q, K
 * and V projections, which are copied once into one [3H, H] matrix so each
 * layer starts with a single large sgemm instead of three.
 *
 * Batching packs sequences back to back instead of padding them to the
 * longest: every linear layer runs once over all T tokens of the batch
 * (M = T in the sgemm), and attention runs per sequence and head over
 * exactly that sequence's rows.  That is the padded-and-masked computation
 * with the masked work left out, so results match single-text runs and a
 * batch of one long and many short texts costs no more than its tokens.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <jansson.h>

#include "enrich/embed/embed.h"
#include "enrich/embed/embed_int.h"
#include "lib/xmalloc.h"

/* Tokens per internal forward call: bounds the workspace (~40 MB at 384). */
#define BATCH_TOKENS 4096

struct layer {
	float *wqkv, *bqkv;		/* owned, [3H, H] and [3H] */
	const float *wo, *bo, *ln1_g, *ln1_b;
	const float *w1, *b1, *w2, *b2, *ln2_g, *ln2_b;
};

/* A thread's activations, grown on demand up to BATCH_TOKENS. */
struct ws {
	float *x, *qkv, *ctx, *h, *scores;
	size_t tokens, len;
};

struct embed_model {
	struct embed_model_info info;
	struct embed_safetensors *st;
	struct embed_wordpiece *wp;
	const char *prefix;		/* "" or "bert." */
	const float *word, *pos, *type, *emb_ln_g, *emb_ln_b;
	struct layer *layers;
	float **owned;			/* converted half-precision tensors */
	size_t n_owned;
	size_t threads;
	struct ws *ws;			/* one per thread */
};

/* ---- loading ------------------------------------------------------------- */

static float
half_to_float(uint16_t h)
{
	uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f;
	uint32_t mant = h & 0x3ff, bits;
	float f;

	if (exp == 0) {			/* zero or subnormal */
		f = ldexpf((float)mant, -24);
		return sign ? -f : f;
	}
	if (exp == 31)
		bits = sign | 0x7f800000u | (mant << 13);
	else
		bits = sign | ((exp + 112) << 23) | (mant << 13);
	memcpy(&f, &bits, sizeof(f));
	return f;
}

static float
bf16_to_float(uint16_t h)
{
	uint32_t bits = (uint32_t)h << 16;
	float f;

	memcpy(&f, &bits, sizeof(f));
	return f;
}

/*
 * The tensor NAME (under the checkpoint's prefix) as floats, checked to
 * have exactly shape [D0] or [D0, D1] (D1 == 0 for a vector).
 */
static const float *
tensor(struct embed_model *m, const char *name, size_t d0, size_t d1,
    const char **errstr_r)
{
	const struct embed_tensor *t;
	char *full = xasprintf("%s%s", m->prefix, name);
	float *f;

	t = embed_safetensors_find(m->st, full);
	free(full);
	if (t == NULL) {
		*errstr_r = "model: a weight tensor is missing";
		return NULL;
	}
	if (t->ndim != (d1 ? 2u : 1u) || t->shape[0] != d0 ||
	    (d1 && t->shape[1] != d1)) {
		*errstr_r = "model: a weight tensor has the wrong shape";
		return NULL;
	}
	if (t->dtype == EMBED_DTYPE_F32 && (uintptr_t)t->data % 4 == 0)
		return t->data;
	if (t->dtype == EMBED_DTYPE_F32) {
		/* A crafted file may misalign a tensor: copy, never cast. */
		f = xreallocarray(NULL, t->nelem, sizeof(*f));
		memcpy(f, t->data, t->nbytes);
		m->owned = xreallocarray(m->owned, m->n_owned + 1,
		    sizeof(*m->owned));
		m->owned[m->n_owned++] = f;
		return f;
	}
	if (t->dtype != EMBED_DTYPE_F16 && t->dtype != EMBED_DTYPE_BF16) {
		*errstr_r = "model: weights must be F32, F16 or BF16";
		return NULL;
	}
	f = xreallocarray(NULL, t->nelem, sizeof(*f));
	for (size_t i = 0; i < t->nelem; i++) {
		uint16_t h;

		memcpy(&h, (const char *)t->data + 2 * i, 2);
		f[i] = t->dtype == EMBED_DTYPE_F16 ? half_to_float(h) :
		    bf16_to_float(h);
	}
	m->owned = xreallocarray(m->owned, m->n_owned + 1, sizeof(*m->owned));
	m->owned[m->n_owned++] = f;
	return f;
}

static int
load_layer(struct embed_model *m, size_t li, const char **errstr_r)
{
	size_t H = m->info.hidden, F = m->info.intermediate;
	struct layer *l = &m->layers[li];
	static const char *const qkv[3] = { "query", "key", "value" };
	char name[128];

#define T(field, suffix, d0, d1) do { \
	snprintf(name, sizeof(name), "encoder.layer.%zu.%s", li, suffix); \
	if ((l->field = tensor(m, name, d0, d1, errstr_r)) == NULL) \
		return -1; \
} while (0)
	T(wo, "attention.output.dense.weight", H, H);
	T(bo, "attention.output.dense.bias", H, 0);
	T(ln1_g, "attention.output.LayerNorm.weight", H, 0);
	T(ln1_b, "attention.output.LayerNorm.bias", H, 0);
	T(w1, "intermediate.dense.weight", F, H);
	T(b1, "intermediate.dense.bias", F, 0);
	T(w2, "output.dense.weight", H, F);
	T(b2, "output.dense.bias", H, 0);
	T(ln2_g, "output.LayerNorm.weight", H, 0);
	T(ln2_b, "output.LayerNorm.bias", H, 0);
#undef T
	l->wqkv = xreallocarray(NULL, 3 * H * H, sizeof(float));
	l->bqkv = xreallocarray(NULL, 3 * H, sizeof(float));
	for (size_t k = 0; k < 3; k++) {
		const float *w, *b;

		snprintf(name, sizeof(name),
		    "encoder.layer.%zu.attention.self.%s.weight", li, qkv[k]);
		if ((w = tensor(m, name, H, H, errstr_r)) == NULL)
			return -1;
		snprintf(name, sizeof(name),
		    "encoder.layer.%zu.attention.self.%s.bias", li, qkv[k]);
		if ((b = tensor(m, name, H, 0, errstr_r)) == NULL)
			return -1;
		memcpy(l->wqkv + k * H * H, w, H * H * sizeof(float));
		memcpy(l->bqkv + k * H, b, H * sizeof(float));
	}
	return 0;
}

static json_t *
load_json(const char *dir, const char *name)
{
	json_error_t jerr;
	json_t *j;
	char *buf;
	size_t len;

	if (embed_file_read_in(dir, name, 1 << 20, &buf, &len) != 0)
		return NULL;
	j = json_loadb(buf, len, 0, &jerr);
	free(buf);
	return j;
}

/* A positive integer config value within [1, max], or -1. */
static int
cfg_size(const json_t *cfg, const char *key, size_t max, size_t *v_r)
{
	const json_t *v = json_object_get(cfg, key);

	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    (uint64_t)json_integer_value(v) > max)
		return -1;
	*v_r = (size_t)json_integer_value(v);
	return 0;
}

static int
load_config(struct embed_model *m, const char *dir, const char **errstr_r)
{
	struct embed_model_info *in = &m->info;
	const json_t *act, *eps;
	json_t *cfg, *j;
	size_t types;

	if ((cfg = load_json(dir, "config.json")) == NULL) {
		*errstr_r = "model: config.json missing or not JSON";
		return -1;
	}
	act = json_object_get(cfg, "hidden_act");
	eps = json_object_get(cfg, "layer_norm_eps");
	if (cfg_size(cfg, "hidden_size", 8192, &in->hidden) != 0 ||
	    cfg_size(cfg, "num_hidden_layers", 256, &in->layers) != 0 ||
	    cfg_size(cfg, "num_attention_heads", 256, &in->heads) != 0 ||
	    cfg_size(cfg, "intermediate_size", 65536, &in->intermediate) ||
	    cfg_size(cfg, "vocab_size", EMBED_VOCAB_MAX, &in->vocab) != 0 ||
	    cfg_size(cfg, "max_position_embeddings", 8192,
	    &in->max_positions) != 0 ||
	    cfg_size(cfg, "type_vocab_size", 16, &types) != 0 ||
	    in->hidden % in->heads != 0) {
		json_decref(cfg);
		*errstr_r = "model: config.json sizes missing or out of range";
		return -1;
	}
	/* BERT's "gelu" is the exact erf form. */
	if (act != NULL && (!json_is_string(act) ||
	    strcmp(json_string_value(act), "gelu") != 0)) {
		json_decref(cfg);
		*errstr_r = "model: only hidden_act \"gelu\" is supported";
		return -1;
	}
	in->layer_norm_eps = json_is_number(eps) ?
	    (float)json_number_value(eps) : 1e-12f;
	json_decref(cfg);

	in->pooling = EMBED_POOLING_MEAN;
	if ((j = load_json(dir, "1_Pooling/config.json")) != NULL) {
		bool cls = json_is_true(json_object_get(j,
		    "pooling_mode_cls_token"));
		bool mean = json_is_true(json_object_get(j,
		    "pooling_mode_mean_tokens"));
		bool other = json_is_true(json_object_get(j,
		    "pooling_mode_max_tokens")) || json_is_true(
		    json_object_get(j, "pooling_mode_mean_sqrt_len_tokens"));

		json_decref(j);
		if (cls + mean != 1 || other) {
			*errstr_r = "model: pooling must be exactly mean or CLS";
			return -1;
		}
		in->pooling = cls ? EMBED_POOLING_CLS : EMBED_POOLING_MEAN;
	}
	/* Without modules.json, normalize: the store compares by cosine. */
	in->normalize = true;
	if ((j = load_json(dir, "modules.json")) != NULL) {
		const json_t *mod;
		size_t i;

		in->normalize = false;
		json_array_foreach(j, i, mod) {
			const json_t *t = json_object_get(mod, "type");

			if (json_is_string(t) && strstr(json_string_value(t),
			    "Normalize") != NULL)
				in->normalize = true;
		}
		json_decref(j);
	}
	in->max_tokens = in->max_positions;
	if ((j = load_json(dir, "sentence_bert_config.json")) != NULL) {
		size_t msl;

		if (cfg_size(j, "max_seq_length", in->max_positions,
		    &msl) == 0)
			in->max_tokens = msl;
		json_decref(j);
	}
	if (in->max_tokens < 2) {
		*errstr_r = "model: max_seq_length below 2";
		return -1;
	}
	return 0;
}

struct embed_model *
embed_model_load(const char *dir, const char **errstr_r)
{
	struct embed_model *m = xcalloc(1, sizeof(*m));
	size_t H;
	char *path;
	int rc;

	if (load_config(m, dir, errstr_r) != 0)
		goto fail;
	H = m->info.hidden;
	if ((m->wp = embed_wordpiece_load(dir, errstr_r)) == NULL)
		goto fail;
	if (embed_wordpiece_vocab_size(m->wp) > m->info.vocab) {
		*errstr_r = "model: tokenizer has more ids than vocab_size";
		goto fail;
	}
	path = xasprintf("%s/model.safetensors", dir);
	rc = embed_safetensors_open(path, &m->st, errstr_r);
	free(path);
	if (rc != 0)
		goto fail;
	m->prefix = embed_safetensors_find(m->st,
	    "bert.embeddings.word_embeddings.weight") != NULL ? "bert." : "";
	if ((m->word = tensor(m, "embeddings.word_embeddings.weight",
	    m->info.vocab, H, errstr_r)) == NULL ||
	    (m->pos = tensor(m, "embeddings.position_embeddings.weight",
	    m->info.max_positions, H, errstr_r)) == NULL ||
	    (m->emb_ln_g = tensor(m, "embeddings.LayerNorm.weight", H, 0,
	    errstr_r)) == NULL ||
	    (m->emb_ln_b = tensor(m, "embeddings.LayerNorm.bias", H, 0,
	    errstr_r)) == NULL)
		goto fail;
	{
		const struct embed_tensor *t;
		char *name = xasprintf("%sembeddings.token_type_embeddings."
		    "weight", m->prefix);

		t = embed_safetensors_find(m->st, name);
		free(name);
		if (t == NULL || t->ndim != 2 || t->shape[1] != H) {
			*errstr_r = "model: token_type_embeddings missing";
			goto fail;
		}
		if ((m->type = tensor(m, "embeddings.token_type_embeddings."
		    "weight", (size_t)t->shape[0], H, errstr_r)) == NULL)
			goto fail;
	}
	/* BLAS runs single-threaded inside our own threads (see forward). */
	openblas_set_num_threads(1);
	embed_model_set_threads(m, 1, errstr_r);
	m->layers = xcalloc(m->info.layers, sizeof(*m->layers));
	for (size_t i = 0; i < m->info.layers; i++) {
		if (load_layer(m, i, errstr_r) != 0)
			goto fail;
	}
	return m;
fail:
	embed_model_free(&m);
	return NULL;
}

void
embed_model_free(struct embed_model **mp)
{
	struct embed_model *m = *mp;

	if (m == NULL)
		return;
	if (m->layers != NULL) {
		for (size_t i = 0; i < m->info.layers; i++) {
			free(m->layers[i].wqkv);
			free(m->layers[i].bqkv);
		}
	}
	free(m->layers);
	for (size_t i = 0; i < m->n_owned; i++)
		free(m->owned[i]);
	free(m->owned);
	for (size_t i = 0; m->ws != NULL && i < m->threads; i++) {
		free(m->ws[i].x);
		free(m->ws[i].qkv);
		free(m->ws[i].ctx);
		free(m->ws[i].h);
		free(m->ws[i].scores);
	}
	free(m->ws);
	embed_safetensors_free(&m->st);
	embed_wordpiece_free(&m->wp);
	x_free(mp);
}

const struct embed_model_info *
embed_model_info(const struct embed_model *m)
{
	return &m->info;
}

const struct embed_wordpiece *
embed_model_tokenizer(const struct embed_model *m)
{
	return m->wp;
}

/* ---- forward pass ---------------------------------------------------------- */

static void
workspace(const struct embed_model *m, struct ws *w, size_t tokens,
    size_t maxlen)
{
	size_t H = m->info.hidden, F = m->info.intermediate;

	if (tokens > w->tokens) {
		free(w->x);
		free(w->qkv);
		free(w->ctx);
		free(w->h);
		w->x = xreallocarray(NULL, tokens * H, sizeof(float));
		w->qkv = xreallocarray(NULL, tokens * 3 * H, sizeof(float));
		w->ctx = xreallocarray(NULL, tokens * H, sizeof(float));
		w->h = xreallocarray(NULL, tokens * F, sizeof(float));
		w->tokens = tokens;
	}
	if (maxlen > w->len) {
		free(w->scores);
		w->scores = xreallocarray(NULL, maxlen * maxlen,
		    sizeof(float));
		w->len = maxlen;
	}
}

/*
 * The elementwise passes below are about a third of a forward pass once
 * the matrix products are in BLAS.  They are written as plain loops with
 * no libm calls, so the compiler vectorizes them, and cloned per ISA so an
 * AVX2 or AVX-512 machine runs wide code from the same portable binary.
 */
/* Not under a sanitizer: the clones' resolver runs before its runtime
 * is up. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define EMBED_CLONES __attribute__((target_clones("avx512f", "avx2", \
    "default")))
#else
#define EMBED_CLONES
#endif

/*
 * Float reductions are not vectorized unless the compiler may reassociate
 * (-ffast-math, which we avoid); sixteen explicit lanes give it the same
 * freedom for these loops only, in a fixed and reproducible order.
 */
#define LANES 16

static inline float
sum_lanes(const float *x, size_t n)
{
	float acc[LANES] = { 0 }, sum = 0;
	size_t j = 0;

	for (; j + LANES <= n; j += LANES) {
		for (size_t k = 0; k < LANES; k++)
			acc[k] += x[j + k];
	}
	for (; j < n; j++)
		acc[0] += x[j];
	for (size_t k = 0; k < LANES; k++)
		sum += acc[k];
	return sum;
}

static inline float
sqdev_lanes(const float *x, size_t n, float mean)
{
	float acc[LANES] = { 0 }, sum = 0;
	size_t j = 0;

	for (; j + LANES <= n; j += LANES) {
		for (size_t k = 0; k < LANES; k++)
			acc[k] += (x[j + k] - mean) * (x[j + k] - mean);
	}
	for (; j < n; j++)
		acc[0] += (x[j] - mean) * (x[j] - mean);
	for (size_t k = 0; k < LANES; k++)
		sum += acc[k];
	return sum;
}

static inline float
max_lanes(const float *x, size_t n)
{
	float acc[LANES], max;
	size_t j = 0;

	for (size_t k = 0; k < LANES; k++)
		acc[k] = x[0];
	for (; j + LANES <= n; j += LANES) {
		for (size_t k = 0; k < LANES; k++)
			acc[k] = x[j + k] > acc[k] ? x[j + k] : acc[k];
	}
	for (; j < n; j++)
		acc[0] = x[j] > acc[0] ? x[j] : acc[0];
	max = acc[0];
	for (size_t k = 1; k < LANES; k++)
		max = acc[k] > max ? acc[k] : max;
	return max;
}

/* Row-wise x = LayerNorm(x + bias) over T rows of H. */
EMBED_CLONES static void
add_layer_norm(float *x, size_t T, size_t H, const float *bias,
    const float *g, const float *b, float eps)
{
	for (size_t t = 0; t < T; t++) {
		float *r = x + t * H;
		float mean, var, inv;

		if (bias != NULL) {
			for (size_t i = 0; i < H; i++)
				r[i] += bias[i];
		}
		mean = sum_lanes(r, H) / (float)H;
		var = sqdev_lanes(r, H, mean) / (float)H;
		inv = 1.0f / sqrtf(var + eps);
		for (size_t i = 0; i < H; i++)
			r[i] = (r[i] - mean) * inv * g[i] + b[i];
	}
}

EMBED_CLONES static void
add_bias(float *y, size_t T, size_t N, const float *bias)
{
	for (size_t t = 0; t < T; t++) {
		float *r = y + t * N;

		for (size_t i = 0; i < N; i++)
			r[i] += bias[i];
	}
}

/*
 * erf(x) by Abramowitz & Stegun 7.1.28: 1 - (1 + a1 x + ... + a6 x^6)^-16
 * for x >= 0, odd symmetry; absolute error below 3e-7, polynomial only.
 * (BERT's "gelu" is the erf form; the tanh form would differ by 1e-3.)
 */
static inline float
erf_as(float x)
{
	float a = fabsf(x), p, p2, p4, p8;

	p = 1.0f + a * (0.0705230784f + a * (0.0422820123f + a *
	    (0.0092705272f + a * (0.0001520143f + a * (0.0002765672f +
	    a * 0.0000430638f)))));
	p2 = p * p;
	p4 = p2 * p2;
	p8 = p4 * p4;
	return copysignf(1.0f - 1.0f / (p8 * p8), x);
}

EMBED_CLONES static void
add_bias_gelu(float *y, size_t T, size_t N, const float *bias)
{
	const float rsqrt2 = 0.70710678118654752f;

	for (size_t t = 0; t < T; t++) {
		float *r = y + t * N;

		for (size_t i = 0; i < N; i++) {
			float v = r[i] + bias[i];

			r[i] = 0.5f * v * (1.0f + erf_as(v * rsqrt2));
		}
	}
}

/*
 * e^x for x <= 0 (softmax after subtracting the row maximum): 2^n * e^f
 * with n = round(x / ln 2), f reduced in two steps (Cody-Waite), e^f by a
 * degree-6 Taylor polynomial on |f| <= ln2/2; relative error 2.2e-7.
 * x is clamped at -87 (e^-87 ~ 1e-38, nothing next to a row's 1.0) by
 * comparing bit patterns: negative floats order like their unsigned bits,
 * and an integer select vectorizes where a float compare would not.
 */
static inline float
exp_neg(float x)
{
	union {
		float f;
		uint32_t u;
	} in = { .f = x };
	union {
		int32_t i;
		float f;
	} scale;
	float y, n, f, p;
	int32_t ni;

	in.u = in.u < 0xc2ae0000u ? in.u : 0xc2ae0000u;	/* -87.0f */
	x = in.f;
	y = x * 1.44269504f;
	ni = (int32_t)(y - 0.5f);	/* y <= 0: truncation rounds up */
	n = (float)ni;
	f = x - n * 0.693145752f;
	f = f - n * 1.42860677e-6f;
	p = 1.0f + f * (1.0f + f * (0.5f + f * (1.0f / 6 + f * (1.0f / 24 +
	    f * (1.0f / 120 + f * (1.0f / 720))))));
	scale.i = (ni + 127) << 23;
	return p * scale.f;
}

EMBED_CLONES static void
exp_row(float *r, size_t L, float max)
{
	for (size_t j = 0; j < L; j++)
		r[j] = exp_neg(r[j] - max);
}

EMBED_CLONES static void
softmax_rows(float *s, size_t L)
{
	for (size_t i = 0; i < L; i++) {
		float *r = s + i * L, max = max_lanes(r, L), inv;

		exp_row(r, L, max);
		inv = 1.0f / sum_lanes(r, L);
		for (size_t j = 0; j < L; j++)
			r[j] *= inv;
	}
}

/* Self-attention of one sequence of L rows starting at row O. */
static void
attention(const struct embed_model *m, struct ws *w, size_t o, size_t L)
{
	size_t H = m->info.hidden, nh = m->info.heads, hd = H / nh;
	const float *q = w->qkv + o * 3 * H;
	float scale = 1.0f / sqrtf((float)hd);

	for (size_t h = 0; h < nh; h++) {
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans,
		    (int)L, (int)L, (int)hd, scale, q + h * hd, (int)(3 * H),
		    q + H + h * hd, (int)(3 * H), 0.0f, w->scores, (int)L);
		softmax_rows(w->scores, L);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
		    (int)L, (int)hd, (int)L, 1.0f, w->scores, (int)L,
		    q + 2 * H + h * hd, (int)(3 * H), 0.0f,
		    w->ctx + o * H + h * hd, (int)H);
	}
}

/* One packed batch: N sequences, T tokens, longest MAXLEN. */
static void
forward_batch(const struct embed_model *m, struct ws *w,
    const int32_t *const *ids,
    const size_t *lens, size_t n, size_t T, size_t maxlen, float *out)
{
	const struct embed_model_info *in = &m->info;
	size_t H = in->hidden, F = in->intermediate, t = 0;
	float eps = in->layer_norm_eps;

	workspace(m, w, T, maxlen);
	for (size_t s = 0; s < n; s++) {
		for (size_t p = 0; p < lens[s]; p++, t++) {
			const float *we = m->word + (size_t)ids[s][p] * H;
			const float *ps = m->pos + p * H;
			float *x = w->x + t * H;

			for (size_t i = 0; i < H; i++)
				x[i] = we[i] + ps[i] + m->type[i];
		}
	}
	add_layer_norm(w->x, T, H, NULL, m->emb_ln_g, m->emb_ln_b, eps);

	for (size_t li = 0; li < in->layers; li++) {
		const struct layer *l = &m->layers[li];
		size_t o = 0;

		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T,
		    (int)(3 * H), (int)H, 1.0f, w->x, (int)H, l->wqkv, (int)H,
		    0.0f, w->qkv, (int)(3 * H));
		add_bias(w->qkv, T, 3 * H, l->bqkv);
		for (size_t s = 0; s < n; o += lens[s], s++)
			attention(m, w, o, lens[s]);
		/* x += ctx . Wo^T, then LayerNorm(x + bo): residual in C. */
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T,
		    (int)H, (int)H, 1.0f, w->ctx, (int)H, l->wo, (int)H, 1.0f,
		    w->x, (int)H);
		add_layer_norm(w->x, T, H, l->bo, l->ln1_g, l->ln1_b, eps);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T,
		    (int)F, (int)H, 1.0f, w->x, (int)H, l->w1, (int)H, 0.0f,
		    w->h, (int)F);
		add_bias_gelu(w->h, T, F, l->b1);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T,
		    (int)H, (int)F, 1.0f, w->h, (int)F, l->w2, (int)F, 1.0f,
		    w->x, (int)H);
		add_layer_norm(w->x, T, H, l->b2, l->ln2_g, l->ln2_b, eps);
	}

	t = 0;
	for (size_t s = 0; s < n; t += lens[s], s++) {
		float *v = out + s * H, norm = 0;

		if (in->pooling == EMBED_POOLING_CLS) {
			memcpy(v, w->x + t * H, H * sizeof(float));
		} else {
			memset(v, 0, H * sizeof(float));
			for (size_t p = 0; p < lens[s]; p++) {
				const float *x = w->x + (t + p) * H;

				for (size_t i = 0; i < H; i++)
					v[i] += x[i];
			}
			for (size_t i = 0; i < H; i++)
				v[i] /= (float)lens[s];
		}
		if (!in->normalize)
			continue;
		for (size_t i = 0; i < H; i++)
			norm += v[i] * v[i];
		norm = fmaxf(sqrtf(norm), 1e-12f);
		for (size_t i = 0; i < H; i++)
			v[i] /= norm;
	}
}

/* A thread's share of a forward call: consecutive sequences. */
struct job {
	const struct embed_model *m;
	struct ws *w;
	const int32_t *const *ids;
	const size_t *lens;
	size_t n;
	float *out;
};

static void *
job_run(void *arg)
{
	const struct job *j = arg;
	size_t first = 0, H = j->m->info.hidden;

	/* Consecutive sequences up to BATCH_TOKENS (at least one each). */
	while (first < j->n) {
		size_t last = first, T = 0, maxlen = 0;

		while (last < j->n &&
		    (T == 0 || T + j->lens[last] <= BATCH_TOKENS)) {
			T += j->lens[last];
			if (j->lens[last] > maxlen)
				maxlen = j->lens[last];
			last++;
		}
		forward_batch(j->m, j->w, j->ids + first, j->lens + first,
		    last - first, T, maxlen, j->out + first * H);
		first = last;
	}
	return NULL;
}

int
embed_model_forward(struct embed_model *m, const int32_t *const *ids,
    const size_t *lens, size_t n, float *out, const char **errstr_r)
{
	const struct embed_model_info *in = &m->info;
	struct job jobs[EMBED_THREADS_MAX];
	pthread_t tid[EMBED_THREADS_MAX];
	size_t total = 0, k = 0, s = 0, done = 0, started = 0;

	for (size_t i = 0; i < n; i++) {
		if (lens[i] < 1 || lens[i] > in->max_tokens) {
			*errstr_r = "model: sequence length out of range";
			return -1;
		}
		for (size_t p = 0; p < lens[i]; p++) {
			if (ids[i][p] < 0 || (size_t)ids[i][p] >= in->vocab) {
				*errstr_r = "model: token id out of range";
				return -1;
			}
		}
		total += lens[i];
	}
	/*
	 * Each thread takes a run of whole sequences holding about an equal
	 * share of the tokens and runs it with single-threaded BLAS: on two
	 * cores that beats splitting every sgemm (most are small, and BLAS's
	 * threads synchronize per call), and the softmax, GELU and
	 * LayerNorm passes run in parallel too.
	 */
	for (; k < m->threads && s < n; k++) {
		size_t first = s, want = (total - done) / (m->threads - k);

		for (size_t got = 0; s < n && (got == 0 || got + lens[s] / 2 <
		    want); s++)
			got += lens[s], done += lens[s];
		jobs[k] = (struct job){ m, &m->ws[k], ids + first,
		    lens + first, s - first, out + first * in->hidden };
	}
	if (s < n) {		/* rounding left some: the last job takes them */
		jobs[k - 1].n += n - s;
	}
	for (size_t i = 1; i < k; i++) {
		if (pthread_create(&tid[i], NULL, job_run, &jobs[i]) != 0)
			break;
		started = i;
	}
	if (k > 0)
		job_run(&jobs[0]);
	for (size_t i = 1; i < k; i++) {
		if (i <= started)
			pthread_join(tid[i], NULL);
		else
			job_run(&jobs[i]);	/* no thread: run it here */
	}
	return 0;
}

int
embed_model_set_threads(struct embed_model *m, size_t threads,
    const char **errstr_r)
{
	if (threads < 1 || threads > EMBED_THREADS_MAX) {
		*errstr_r = "model: threads out of range";
		return -1;
	}
	for (size_t i = threads; i < m->threads; i++) {
		free(m->ws[i].x);
		free(m->ws[i].qkv);
		free(m->ws[i].ctx);
		free(m->ws[i].h);
		free(m->ws[i].scores);
	}
	m->ws = xreallocarray(m->ws, threads, sizeof(*m->ws));
	for (size_t i = m->threads; i < threads; i++)
		memset(&m->ws[i], 0, sizeof(m->ws[i]));
	m->threads = threads;
	return 0;
}

int
embed_model_texts(struct embed_model *m, const char *const *texts,
    const size_t *lens, size_t n, float *out, const char **errstr_r)
{
	size_t max = m->info.max_tokens;
	int32_t **ids = xcalloc(n ? n : 1, sizeof(*ids));
	size_t *nids = xcalloc(n ? n : 1, sizeof(*nids));
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++) {
		int k;

		ids[i] = xreallocarray(NULL, max, sizeof(**ids));
		k = embed_wordpiece_encode(m->wp, texts[i], lens[i], ids[i],
		    max, errstr_r);
		if (k < 0)
			rc = -1;
		else
			nids[i] = (size_t)k;
	}
	if (rc == 0)
		rc = embed_model_forward(m, (const int32_t *const *)ids, nids,
		    n, out, errstr_r);
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	free(nids);
	return rc;
}

double
embed_model_flops(const struct embed_model *m, const size_t *lens, size_t n)
{
	const struct embed_model_info *in = &m->info;
	double H = (double)in->hidden, F = (double)in->intermediate;
	double per_tok = 2 * H * 3 * H + 2 * H * H + 4 * H * F, f = 0;

	for (size_t s = 0; s < n; s++) {
		double L = (double)lens[s];

		f += L * per_tok + 4 * L * L * H;
	}
	return f * (double)in->layers;
}
