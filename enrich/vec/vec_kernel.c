/*
 * vec_kernel.c - see vec_kernel.h.
 *
 * The int8 kernel is what makes a million-row scan fit the latency budget:
 * a 384-dim row is 384 bytes instead of 1,536, so the scan reads a quarter
 * of the memory.  AVX2 has no signed*signed byte multiply, so the usual
 * trick applies: |a| (unsigned) times b carrying a's sign, through
 * vpmaddubsw.  Values are clamped to [-127, 127], so |a| fits a byte and
 * a pair sum (2 * 127 * 127) never saturates the 16-bit lanes.
 */
#include "enrich/vec/vec_kernel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xmalloc.h"

static float
dot_f32_c(const float *a, const float *b, size_t n)
{
	float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
	size_t i = 0;

	for (; i + 4 <= n; i += 4) {
		s0 += a[i] * b[i];
		s1 += a[i + 1] * b[i + 1];
		s2 += a[i + 2] * b[i + 2];
		s3 += a[i + 3] * b[i + 3];
	}
	for (; i < n; i++)
		s0 += a[i] * b[i];
	return (s0 + s1) + (s2 + s3);
}

static int32_t
dot_i8_c(const int8_t *a, const int8_t *b, size_t n)
{
	int32_t s = 0;

	for (size_t i = 0; i < n; i++)
		s += (int32_t)a[i] * (int32_t)b[i];
	return s;
}

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx2,fma"))) static float
dot_f32_avx2(const float *a, const float *b, size_t n)
{
	__m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
	__m128 h;
	size_t i = 0;
	float s;

	for (; i + 16 <= n; i += 16) {
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i),
		    _mm256_loadu_ps(b + i), s0);
		s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8),
		    _mm256_loadu_ps(b + i + 8), s1);
	}
	for (; i + 8 <= n; i += 8)
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i),
		    _mm256_loadu_ps(b + i), s0);
	s0 = _mm256_add_ps(s0, s1);
	h = _mm_add_ps(_mm256_castps256_ps128(s0),
	    _mm256_extractf128_ps(s0, 1));
	h = _mm_hadd_ps(h, h);
	h = _mm_hadd_ps(h, h);
	s = _mm_cvtss_f32(h);
	for (; i < n; i++)
		s += a[i] * b[i];
	return s;
}

__attribute__((target("avx2"))) static int32_t
dot_i8_avx2(const int8_t *a, const int8_t *b, size_t n)
{
	const __m256i ones = _mm256_set1_epi16(1);
	__m256i acc = _mm256_setzero_si256();
	__m128i h;
	size_t i = 0;
	int32_t s;

	for (; i + 32 <= n; i += 32) {
		__m256i va = _mm256_loadu_si256((const __m256i *)(a + i));
		__m256i vb = _mm256_loadu_si256((const __m256i *)(b + i));
		__m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(va, va),
		    _mm256_sign_epi8(vb, va));

		acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, ones));
	}
	h = _mm_add_epi32(_mm256_castsi256_si128(acc),
	    _mm256_extracti128_si256(acc, 1));
	h = _mm_hadd_epi32(h, h);
	h = _mm_hadd_epi32(h, h);
	s = _mm_cvtsi128_si32(h);
	for (; i < n; i++)
		s += (int32_t)a[i] * (int32_t)b[i];
	return s;
}
#endif

vec_dot_f32_fn *
vec_kernel_dot_f32(void)
{
#if defined(__x86_64__)
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		return dot_f32_avx2;
#endif
	return dot_f32_c;
}

vec_dot_i8_fn *
vec_kernel_dot_i8(void)
{
#if defined(__x86_64__)
	if (__builtin_cpu_supports("avx2"))
		return dot_i8_avx2;
#endif
	return dot_i8_c;
}

float
vec_kernel_quantize(const float *v, int8_t *q, size_t n)
{
	float max = 0, inv;

	for (size_t i = 0; i < n; i++)
		if (fabsf(v[i]) > max)
			max = fabsf(v[i]);
	if (max == 0) {
		memset(q, 0, n);
		return 0;
	}
	inv = 127.0f / max;
	for (size_t i = 0; i < n; i++) {
		long r = lrintf(v[i] * inv);

		q[i] = (int8_t)(r > 127 ? 127 : r < -127 ? -127 : r);
	}
	return max / 127.0f;
}

void
vec_topk_init(struct vec_topk *t, size_t cap)
{
	t->items = xreallocarray(NULL, cap == 0 ? 1 : cap,
	    sizeof(*t->items));
	t->count = 0;
	t->cap = cap;
}

void
vec_topk_fini(struct vec_topk *t)
{
	x_free(&t->items);
	t->count = t->cap = 0;
}

static void
sift_down(struct vec_topk_item *h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		struct vec_topk_item tmp;

		if (l < n && h[l].score < h[m].score)
			m = l;
		if (r < n && h[r].score < h[m].score)
			m = r;
		if (m == i)
			return;
		tmp = h[i];
		h[i] = h[m];
		h[m] = tmp;
		i = m;
	}
}

void
vec_topk_push(struct vec_topk *t, float score, uint32_t row)
{
	struct vec_topk_item *h = t->items;

	if (t->cap == 0)
		return;
	if (t->count < t->cap) {
		size_t i = t->count++;

		h[i].score = score;
		h[i].row = row;
		while (i > 0 && h[(i - 1) / 2].score > h[i].score) {
			struct vec_topk_item tmp = h[i];

			h[i] = h[(i - 1) / 2];
			h[(i - 1) / 2] = tmp;
			i = (i - 1) / 2;
		}
		return;
	}
	if (!(score > h[0].score))
		return;
	h[0].score = score;
	h[0].row = row;
	sift_down(h, t->count, 0);
}

static int
cmp_desc(const void *a, const void *b)
{
	const struct vec_topk_item *x = a, *y = b;

	if (x->score != y->score)
		return x->score < y->score ? 1 : -1;
	return x->row < y->row ? -1 : x->row > y->row;
}

void
vec_topk_sort(struct vec_topk *t)
{
	qsort(t->items, t->count, sizeof(*t->items), cmp_desc);
}
