/*
 * vec_kernel.h - the inner loops of the local store's search: float and
 * int8 dot products (AVX2 when the CPU has it, portable C otherwise),
 * scalar quantization, and a bounded top-k heap.
 */
#ifndef CRM_VEC_KERNEL_H
#define CRM_VEC_KERNEL_H

#include <stddef.h>
#include <stdint.h>

typedef float vec_dot_f32_fn(const float *a, const float *b, size_t n);
typedef int32_t vec_dot_i8_fn(const int8_t *a, const int8_t *b, size_t n);

/* The best implementation for this CPU, chosen once. */
vec_dot_f32_fn *vec_kernel_dot_f32(void);
vec_dot_i8_fn *vec_kernel_dot_i8(void);

/*
 * Quantizes v (n floats) to int8 in [-127, 127] with one scale per vector:
 * v[i] ~= q[i] * scale.  Returns the scale (0 for an all-zero vector).
 */
float vec_kernel_quantize(const float *v, int8_t *q, size_t n);

/*
 * A min-heap of the best `cap` (score, row) pairs seen so far: the root is
 * the worst kept, so a candidate is compared with one number.
 */
struct vec_topk_item {
	float score;
	uint32_t row;
};

struct vec_topk {
	struct vec_topk_item *items;
	size_t count, cap;
};

void vec_topk_init(struct vec_topk *t, size_t cap);
void vec_topk_fini(struct vec_topk *t);
/* The score a candidate must beat to enter (-inf until full). */
static inline float
vec_topk_floor(const struct vec_topk *t)
{
	return t->count < t->cap ? -__builtin_inff() : t->items[0].score;
}
void vec_topk_push(struct vec_topk *t, float score, uint32_t row);
/* Sorts the kept items best first (destroys the heap order). */
void vec_topk_sort(struct vec_topk *t);

#endif
