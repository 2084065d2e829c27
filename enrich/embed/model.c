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

struct embed_model {
	struct embed_model_info info;
	struct embed_safetensors *st;
	struct embed_wordpiece *wp;
	const char *prefix;		/* "" or "bert." */
	const float *word, *pos, *type, *emb_ln_g, *emb_ln_b;
	struct layer *layers;
	float **owned;			/* converted half-precision tensors */
	size_t n_owned;
	/* Workspace, grown on demand up to BATCH_TOKENS (or one text). */
	float *x, *qkv, *ctx, *h, *scores;
	size_t ws_tokens, ws_len;
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
	if (t->dtype == EMBED_DTYPE_F32)
		return t->data;
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
	free(m->x);
	free(m->qkv);
	free(m->ctx);
	free(m->h);
	free(m->scores);
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
workspace(struct embed_model *m, size_t tokens, size_t maxlen)
{
	size_t H = m->info.hidden, F = m->info.intermediate;

	if (tokens > m->ws_tokens) {
		free(m->x);
		free(m->qkv);
		free(m->ctx);
		free(m->h);
		m->x = xreallocarray(NULL, tokens * H, sizeof(float));
		m->qkv = xreallocarray(NULL, tokens * 3 * H, sizeof(float));
		m->ctx = xreallocarray(NULL, tokens * H, sizeof(float));
		m->h = xreallocarray(NULL, tokens * F, sizeof(float));
		m->ws_tokens = tokens;
	}
	if (maxlen > m->ws_len) {
		free(m->scores);
		m->scores = xreallocarray(NULL, maxlen * maxlen,
		    sizeof(float));
		m->ws_len = maxlen;
	}
}

/* Row-wise x = LayerNorm(x + bias) over T rows of H. */
static void
add_layer_norm(float *x, size_t T, size_t H, const float *bias,
    const float *g, const float *b, float eps)
{
	for (size_t t = 0; t < T; t++) {
		float *r = x + t * H;
		float mean = 0, var = 0, inv;

		for (size_t i = 0; i < H; i++) {
			if (bias != NULL)
				r[i] += bias[i];
			mean += r[i];
		}
		mean /= (float)H;
		for (size_t i = 0; i < H; i++)
			var += (r[i] - mean) * (r[i] - mean);
		inv = 1.0f / sqrtf(var / (float)H + eps);
		for (size_t i = 0; i < H; i++)
			r[i] = (r[i] - mean) * inv * g[i] + b[i];
	}
}

static void
add_bias(float *y, size_t T, size_t N, const float *bias)
{
	for (size_t t = 0; t < T; t++) {
		float *r = y + t * N;

		for (size_t i = 0; i < N; i++)
			r[i] += bias[i];
	}
}

static void
add_bias_gelu(float *y, size_t T, size_t N, const float *bias)
{
	const float rsqrt2 = 0.70710678118654752f;

	for (size_t t = 0; t < T; t++) {
		float *r = y + t * N;

		for (size_t i = 0; i < N; i++) {
			float v = r[i] + bias[i];

			r[i] = 0.5f * v * (1.0f + erff(v * rsqrt2));
		}
	}
}

static void
softmax_rows(float *s, size_t L)
{
	for (size_t i = 0; i < L; i++) {
		float *r = s + i * L, max = r[0], sum = 0;

		for (size_t j = 1; j < L; j++)
			max = r[j] > max ? r[j] : max;
		for (size_t j = 0; j < L; j++) {
			r[j] = expf(r[j] - max);
			sum += r[j];
		}
		for (size_t j = 0; j < L; j++)
			r[j] /= sum;
	}
}

/* Self-attention of one sequence of L rows starting at row O. */
static void
attention(struct embed_model *m, size_t o, size_t L)
{
	size_t H = m->info.hidden, nh = m->info.heads, hd = H / nh;
	const float *q = m->qkv + o * 3 * H;
	float scale = 1.0f / sqrtf((float)hd);

	for (size_t h = 0; h < nh; h++) {
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans,
		    (int)L, (int)L, (int)hd, scale, q + h * hd, (int)(3 * H),
		    q + H + h * hd, (int)(3 * H), 0.0f, m->scores, (int)L);
		softmax_rows(m->scores, L);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
		    (int)L, (int)hd, (int)L, 1.0f, m->scores, (int)L,
		    q + 2 * H + h * hd, (int)(3 * H), 0.0f,
		    m->ctx + o * H + h * hd, (int)H);
	}
}

/* One packed batch: N sequences, T tokens, longest MAXLEN. */
static void
forward_batch(struct embed_model *m, const int32_t *const *ids,
    const size_t *lens, size_t n, size_t T, size_t maxlen, float *out)
{
	const struct embed_model_info *in = &m->info;
	size_t H = in->hidden, F = in->intermediate, t = 0;
	float eps = in->layer_norm_eps;

	workspace(m, T, maxlen);
	for (size_t s = 0; s < n; s++) {
		for (size_t p = 0; p < lens[s]; p++, t++) {
			const float *w = m->word + (size_t)ids[s][p] * H;
			const float *ps = m->pos + p * H;
			float *x = m->x + t * H;

			for (size_t i = 0; i < H; i++)
				x[i] = w[i] + ps[i] + m->type[i];
		}
	}
	add_layer_norm(m->x, T, H, NULL, m->emb_ln_g, m->emb_ln_b, eps);

	for (size_t li = 0; li < in->layers; li++) {
		const struct layer *l = &m->layers[li];
		size_t o = 0;

		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T,
		    (int)(3 * H), (int)H, 1.0f, m->x, (int)H, l->wqkv, (int)H,
		    0.0f, m->qkv, (int)(3 * H));
		add_bias(m->qkv, T, 3 * H, l->bqkv);
		for (size_t s = 0; s < n; o += lens[s], s++)
			attention(m, o, lens[s]);
		/* x += ctx . Wo^T, then LayerNorm(x + bo): residual in C. */
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T,
		    (int)H, (int)H, 1.0f, m->ctx, (int)H, l->wo, (int)H, 1.0f,
		    m->x, (int)H);
		add_layer_norm(m->x, T, H, l->bo, l->ln1_g, l->ln1_b, eps);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T,
		    (int)F, (int)H, 1.0f, m->x, (int)H, l->w1, (int)H, 0.0f,
		    m->h, (int)F);
		add_bias_gelu(m->h, T, F, l->b1);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T,
		    (int)H, (int)F, 1.0f, m->h, (int)F, l->w2, (int)F, 1.0f,
		    m->x, (int)H);
		add_layer_norm(m->x, T, H, l->b2, l->ln2_g, l->ln2_b, eps);
	}

	t = 0;
	for (size_t s = 0; s < n; t += lens[s], s++) {
		float *v = out + s * H, norm = 0;

		if (in->pooling == EMBED_POOLING_CLS) {
			memcpy(v, m->x + t * H, H * sizeof(float));
		} else {
			memset(v, 0, H * sizeof(float));
			for (size_t p = 0; p < lens[s]; p++) {
				const float *x = m->x + (t + p) * H;

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

int
embed_model_forward(struct embed_model *m, const int32_t *const *ids,
    const size_t *lens, size_t n, float *out, const char **errstr_r)
{
	const struct embed_model_info *in = &m->info;
	size_t first = 0;

	for (size_t s = 0; s < n; s++) {
		if (lens[s] < 1 || lens[s] > in->max_tokens) {
			*errstr_r = "model: sequence length out of range";
			return -1;
		}
		for (size_t p = 0; p < lens[s]; p++) {
			if (ids[s][p] < 0 || (size_t)ids[s][p] >= in->vocab) {
				*errstr_r = "model: token id out of range";
				return -1;
			}
		}
	}
	/* Consecutive sequences up to BATCH_TOKENS (at least one each). */
	while (first < n) {
		size_t last = first, T = 0, maxlen = 0;

		while (last < n && (T == 0 || T + lens[last] <= BATCH_TOKENS)) {
			T += lens[last];
			if (lens[last] > maxlen)
				maxlen = lens[last];
			last++;
		}
		forward_batch(m, ids + first, lens + first, last - first, T,
		    maxlen, out + first * in->hidden);
		first = last;
	}
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
