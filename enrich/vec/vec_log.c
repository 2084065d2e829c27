/*
 * vec_log.c - encoder and bounded reader for the local store's log; the
 * format is described in vec_log.h.
 *
 * The reader trusts nothing in the file: each length is compared with the
 * bytes left before it is used, each string must end in the NUL its
 * length promises, and a record is checked completely (checksum, then a
 * dry parse) before any of it is applied, so a record is applied whole or
 * not at all.
 */
#include "enrich/vec/vec_log.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "vec_log assumes a little-endian host (the format is little-endian)"
#endif

/* CRC-32C (Castagnoli), reflected polynomial 0x82F63B78. */
static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void
crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int j = 0; j < 8; j++)
			c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		crc_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++) {
		for (int t = 1; t < 8; t++) {
			uint32_t c = crc_table[t - 1][i];

			crc_table[t][i] = (c >> 8) ^ crc_table[0][c & 0xff];
		}
	}
}

#if defined(__x86_64__)
#include <nmmintrin.h>

__attribute__((target("sse4.2"))) static uint32_t
crc_hw(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t c = crc;

	for (; len >= 8; p += 8, len -= 8) {
		uint64_t w;

		memcpy(&w, p, 8);
		c = _mm_crc32_u64(c, w);
	}
	for (; len > 0; p++, len--)
		c = _mm_crc32_u8((uint32_t)c, *p);
	return (uint32_t)c;
}
#endif

static uint32_t
crc_sw(uint32_t crc, const uint8_t *p, size_t len)
{
	(void)pthread_once(&crc_once, crc_init);
	/* Slicing-by-8: eight table lookups per 8 bytes. */
	for (; len >= 8; p += 8, len -= 8) {
		uint32_t lo, hi;

		memcpy(&lo, p, 4);
		memcpy(&hi, p + 4, 4);
		lo ^= crc;
		crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
		    crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
		    crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
		    crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
	}
	for (; len > 0; p++, len--)
		crc = (crc >> 8) ^ crc_table[0][(crc ^ *p) & 0xff];
	return crc;
}

uint32_t
vec_crc32c(uint32_t crc, const void *buf, size_t len)
{
	crc = ~crc;
#if defined(__x86_64__)
	if (__builtin_cpu_supports("sse4.2"))
		return ~crc_hw(crc, buf, len);
#endif
	return ~crc_sw(crc, buf, len);
}

static void
put_u16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static void
put_u32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void
put_u64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static uint16_t
get_u16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return v;
}

static uint32_t
get_u32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint64_t
get_u64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

void
vec_log_header_build(uint8_t out[VEC_LOG_HEADER_SIZE], uint32_t dim)
{
	memset(out, 0, VEC_LOG_HEADER_SIZE);
	memcpy(out, VEC_LOG_MAGIC, 8);
	put_u32(out + 8, VEC_LOG_VERSION);
	put_u32(out + 12, dim);
	put_u32(out + 24, vec_crc32c(0, out, 24));
}

static size_t
slen(const char *s)
{
	return s == NULL ? 0 : strlen(s);
}

size_t
vec_log_upsert_entry_size(const struct vec_point *pt, uint32_t dim)
{
	size_t a = slen(pt->payload.account_id);
	size_t c = slen(pt->payload.contact_id);
	size_t r = slen(pt->payload.message_ref);

	if (a > VEC_KEY_MAX || c > VEC_KEY_MAX || r > VEC_REF_MAX)
		return 0;
	return VEC_LOG_ID_SIZE + 1 + 8 + 4 + 3 * 3 + a + c + r +
	    (size_t)dim * sizeof(float);
}

int
vec_log_rec_begin(uint8_t *out, size_t cap, size_t *len_r,
    enum vec_log_type type, uint32_t count)
{
	if (cap - *len_r < VEC_LOG_REC_HEADER + 4 || *len_r > cap)
		return -1;
	put_u32(out + *len_r, VEC_LOG_REC_MAGIC);
	put_u16(out + *len_r + 4, (uint16_t)type);
	put_u16(out + *len_r + 6, 0);
	put_u32(out + *len_r + VEC_LOG_REC_HEADER, count);
	*len_r += VEC_LOG_REC_HEADER + 4;
	return 0;
}

int
vec_log_put_id(uint8_t *out, size_t cap, size_t *len_r,
    const struct vec_id *id)
{
	uint8_t *p;

	if (*len_r > cap || cap - *len_r < VEC_LOG_ID_SIZE)
		return -1;
	p = out + *len_r;
	memset(p, 0, VEC_LOG_ID_SIZE);
	p[0] = (uint8_t)id->kind;
	if (id->kind == VEC_ID_NUM)
		put_u64(p + 1, id->num);
	else
		memcpy(p + 1, id->uuid, 16);
	*len_r += VEC_LOG_ID_SIZE;
	return 0;
}

static void
put_str(uint8_t **pp, const char *s)
{
	size_t n = slen(s);

	put_u16(*pp, (uint16_t)n);
	if (n > 0)
		memcpy(*pp + 2, s, n);
	(*pp)[2 + n] = '\0';
	*pp += 3 + n;
}

int
vec_log_put_upsert(uint8_t *out, size_t cap, size_t *len_r,
    const struct vec_point *pt, const float *normalized, uint32_t dim)
{
	size_t need = vec_log_upsert_entry_size(pt, dim);
	uint8_t *p;

	if (need == 0 || *len_r > cap || cap - *len_r < need)
		return -1;
	if (vec_log_put_id(out, cap, len_r, &pt->id) != 0)
		return -1;
	p = out + *len_r;
	p[0] = (uint8_t)pt->payload.direction;
	put_u64(p + 1, (uint64_t)pt->payload.ts);
	put_u32(p + 9, pt->payload.chunk);
	p += 13;
	put_str(&p, pt->payload.account_id);
	put_str(&p, pt->payload.contact_id);
	put_str(&p, pt->payload.message_ref);
	memcpy(p, normalized, (size_t)dim * sizeof(float));
	p += (size_t)dim * sizeof(float);
	*len_r = (size_t)(p - out);
	return 0;
}

void
vec_log_rec_end(uint8_t *out, size_t rec_start, size_t end)
{
	uint8_t *h = out + rec_start;
	uint32_t body = (uint32_t)(end - rec_start - VEC_LOG_REC_HEADER);
	uint32_t crc;

	put_u32(h + 8, body);
	crc = vec_crc32c(0, h + 4, 8);
	crc = vec_crc32c(crc, h + VEC_LOG_REC_HEADER, body);
	put_u32(h + 12, crc);
}

/* A bounded cursor over one record body. */
struct cursor {
	const uint8_t *p, *end;
};

static const uint8_t *
take(struct cursor *c, size_t n)
{
	const uint8_t *p = c->p;

	if ((size_t)(c->end - c->p) < n)
		return NULL;
	c->p += n;
	return p;
}

static int
take_id(struct cursor *c, struct vec_id *id)
{
	const uint8_t *p = take(c, VEC_LOG_ID_SIZE);

	if (p == NULL)
		return -1;
	memset(id, 0, sizeof(*id));
	if (p[0] == VEC_ID_NUM) {
		id->kind = VEC_ID_NUM;
		id->num = get_u64(p + 1);
		/* Canonical form only, so equal ids have equal bytes. */
		for (int i = 9; i < VEC_LOG_ID_SIZE; i++)
			if (p[i] != 0)
				return -1;
	} else if (p[0] == VEC_ID_UUID) {
		id->kind = VEC_ID_UUID;
		memcpy(id->uuid, p + 1, 16);
	} else {
		return -1;
	}
	return 0;
}

static int
take_str(struct cursor *c, size_t max, const char **s_r)
{
	const uint8_t *p = take(c, 2), *s;
	size_t n;

	if (p == NULL)
		return -1;
	n = get_u16(p);
	if (n > max || (s = take(c, n + 1)) == NULL)
		return -1;
	/* Exactly n bytes of text: no NUL inside, one after. */
	if (s[n] != '\0' || memchr(s, '\0', n) != NULL)
		return -1;
	*s_r = (const char *)s;
	return 0;
}

static int
take_upsert(struct cursor *c, uint32_t dim, struct vec_point *pt,
    const uint8_t **vec_r)
{
	const uint8_t *p;

	memset(pt, 0, sizeof(*pt));
	if (take_id(c, &pt->id) != 0 || (p = take(c, 13)) == NULL)
		return -1;
	if (p[0] > VEC_DIR_DRAFT)
		return -1;
	pt->payload.direction = (enum vec_direction)p[0];
	pt->payload.ts = (int64_t)get_u64(p + 1);
	pt->payload.chunk = get_u32(p + 9);
	if (take_str(c, VEC_KEY_MAX, &pt->payload.account_id) != 0 ||
	    take_str(c, VEC_KEY_MAX, &pt->payload.contact_id) != 0 ||
	    take_str(c, VEC_REF_MAX, &pt->payload.message_ref) != 0)
		return -1;
	*vec_r = take(c, (size_t)dim * sizeof(float));
	return *vec_r == NULL ? -1 : 0;
}

/*
 * Parses a body; applies it only when sink is not NULL.  Run once
 * without a sink to validate, once with it to apply.
 */
static int
body_walk(const uint8_t *body, size_t len, unsigned type, uint32_t dim,
    float *scratch, const struct vec_log_sink *sink, void *ctx,
    uint64_t *entries_r)
{
	struct cursor c = { body, body + len };
	const uint8_t *p = take(&c, 4);
	uint32_t count;

	if (p == NULL)
		return -1;
	count = get_u32(p);
	/* Each entry takes at least an id: a cheap bound on count. */
	if (count > len / VEC_LOG_ID_SIZE)
		return -1;
	for (uint32_t i = 0; i < count; i++) {
		struct vec_point pt;
		const uint8_t *vec;

		if (type == VEC_LOG_DELETE) {
			if (take_id(&c, &pt.id) != 0)
				return -1;
			if (sink != NULL && sink->delete(ctx, &pt.id) != 0)
				return -2;
			continue;
		}
		if (take_upsert(&c, dim, &pt, &vec) != 0)
			return -1;
		memcpy(scratch, vec, (size_t)dim * sizeof(float));
		if (sink == NULL) {
			for (uint32_t j = 0; j < dim; j++)
				if (!isfinite(scratch[j]))
					return -1;
			continue;
		}
		pt.vector = scratch;
		if (sink->upsert(ctx, &pt) != 0)
			return -2;
	}
	if (c.p != c.end)
		return -1;
	*entries_r += count;
	return 0;
}

/* Is there a complete, valid record at buf[off..len)?  Body and type out. */
static int
record_at(const uint8_t *buf, size_t len, size_t off, uint32_t dim,
    float *scratch, const uint8_t **body_r, uint32_t *body_len_r,
    unsigned *type_r)
{
	const uint8_t *h = buf + off;
	uint32_t blen, crc;
	unsigned type;
	uint64_t dummy = 0;

	if (len - off < VEC_LOG_REC_HEADER || get_u32(h) != VEC_LOG_REC_MAGIC)
		return -1;
	type = get_u16(h + 4);
	blen = get_u32(h + 8);
	if ((type != VEC_LOG_UPSERT && type != VEC_LOG_DELETE) ||
	    get_u16(h + 6) != 0 || blen > VEC_LOG_BODY_MAX ||
	    blen > len - off - VEC_LOG_REC_HEADER)
		return -1;
	crc = vec_crc32c(0, h + 4, 8);
	crc = vec_crc32c(crc, h + VEC_LOG_REC_HEADER, blen);
	if (crc != get_u32(h + 12))
		return -1;
	if (body_walk(h + VEC_LOG_REC_HEADER, blen, type, dim, scratch, NULL,
	    NULL, &dummy) != 0)
		return -1;
	*body_r = h + VEC_LOG_REC_HEADER;
	*body_len_r = blen;
	*type_r = type;
	return 0;
}

int
vec_log_replay(const uint8_t *buf, size_t len, uint32_t dim,
    uint32_t *dim_r, float *scratch, const struct vec_log_sink *sink,
    void *ctx, struct vec_log_stats *stats_r, const char **errstr_r)
{
	uint32_t fdim;
	size_t off = VEC_LOG_HEADER_SIZE;

	memset(stats_r, 0, sizeof(*stats_r));
	if (len < VEC_LOG_HEADER_SIZE || memcmp(buf, VEC_LOG_MAGIC, 8) != 0) {
		*errstr_r = "not a vector log (bad magic)";
		return -1;
	}
	if (get_u32(buf + 24) != vec_crc32c(0, buf, 24)) {
		*errstr_r = "vector log header checksum mismatch";
		return -1;
	}
	if (get_u32(buf + 8) != VEC_LOG_VERSION) {
		*errstr_r = "unsupported vector log version";
		return -1;
	}
	fdim = get_u32(buf + 12);
	if (fdim == 0 || fdim > VEC_DIM_MAX || (dim != 0 && fdim != dim)) {
		*errstr_r = "vector log dimension differs from the store's";
		return -1;
	}
	if (dim_r != NULL)
		*dim_r = fdim;
	stats_r->valid_end = off;
	while (off < len) {
		const uint8_t *body;
		uint32_t blen;
		unsigned type;
		size_t next;
		int ret;

		if (record_at(buf, len, off, fdim, scratch, &body, &blen,
		    &type) != 0) {
			/*
			 * Damage.  Only a valid record further on proves the
			 * damage is not the tail a crash left; look for one.
			 */
			for (next = off + 1; next < len; next++) {
				const uint8_t *m = memchr(buf + next, 0x43,
				    len - next);

				if (m == NULL) {
					next = len;
					break;
				}
				next = (size_t)(m - buf);
				if (record_at(buf, len, next, fdim, scratch,
				    &body, &blen, &type) == 0)
					break;
			}
			if (next >= len)
				break;
			stats_r->skipped_bytes += next - off;
			stats_r->skipped_regions++;
			off = next;
		}
		ret = body_walk(body, blen, type, fdim, scratch, sink, ctx,
		    &stats_r->entries);
		if (ret != 0) {
			*errstr_r = ret == -2 ? "replay callback failed" :
			    "vector log record changed under the reader";
			return -1;
		}
		stats_r->records++;
		off += VEC_LOG_REC_HEADER + (size_t)blen;
		stats_r->valid_end = off;
	}
	stats_r->torn_bytes = len - stats_r->valid_end;
	return 0;
}
