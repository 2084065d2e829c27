/*
 * safetensors.c - read-only loader for the safetensors weight format.
 *
 * Layout: an 8-byte little-endian header length N, N bytes of JSON mapping
 * tensor names to {dtype, shape, data_offsets: [begin, end]} (offsets
 * relative to the byte after the header), then the raw data.  The file is
 * mapped, never copied; tensors point into the mapping.
 *
 * The header is untrusted input (a model directory may come from anywhere):
 * its length is capped before anything is read, JSON is parsed by jansson
 * with duplicate keys refused, every integer is range-checked, element
 * counts are multiplied with overflow checks, and each tensor's byte range
 * must equal count * dtype size and lie inside the data section.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "enrich/embed/embed.h"
#include "lib/xmalloc.h"

struct embed_safetensors {
	void *map;		/* NULL when parsing a caller's buffer */
	size_t map_len;
	struct embed_tensor *tensors;
	size_t n;
};

static const struct {
	const char *name;
	enum embed_dtype dtype;
	size_t size;
} dtypes[] = {
	{ "F32", EMBED_DTYPE_F32, 4 },
	{ "F16", EMBED_DTYPE_F16, 2 },
	{ "BF16", EMBED_DTYPE_BF16, 2 },
	{ "I64", EMBED_DTYPE_I64, 8 },
	{ "F64", EMBED_DTYPE_OTHER, 8 },
	{ "I32", EMBED_DTYPE_OTHER, 4 },
	{ "U32", EMBED_DTYPE_OTHER, 4 },
	{ "I16", EMBED_DTYPE_OTHER, 2 },
	{ "U16", EMBED_DTYPE_OTHER, 2 },
	{ "I8", EMBED_DTYPE_OTHER, 1 },
	{ "U8", EMBED_DTYPE_OTHER, 1 },
	{ "BOOL", EMBED_DTYPE_OTHER, 1 },
	{ "U64", EMBED_DTYPE_OTHER, 8 },
};

static void
tensors_free(struct embed_tensor *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free((char *)t[i].name);
	free(t);
}

void
embed_safetensors_free(struct embed_safetensors **stp)
{
	struct embed_safetensors *st = *stp;

	if (st == NULL)
		return;
	tensors_free(st->tensors, st->n);
	if (st->map != NULL)
		munmap(st->map, st->map_len);
	x_free(stp);
}

/* A JSON integer in [0, 2^53]: what a double-based writer can produce. */
static int
json_u64(const json_t *v, uint64_t *u_r)
{
	json_int_t i;

	if (!json_is_integer(v))
		return -1;
	i = json_integer_value(v);
	if (i < 0 || i > (json_int_t)1 << 53)
		return -1;
	*u_r = (uint64_t)i;
	return 0;
}

static int
parse_tensor(const char *name, const json_t *desc, const uint8_t *data,
    uint64_t data_len, struct embed_tensor *t, const char **errstr_r)
{
	const json_t *dt, *shape, *offs;
	uint64_t begin, end, nelem = 1, esize = 0;
	size_t i;

	if (!json_is_object(desc) || json_object_size(desc) > 8) {
		*errstr_r = "safetensors: tensor entry is not a small object";
		return -1;
	}
	dt = json_object_get(desc, "dtype");
	shape = json_object_get(desc, "shape");
	offs = json_object_get(desc, "data_offsets");
	if (!json_is_string(dt) || !json_is_array(shape) ||
	    !json_is_array(offs) || json_array_size(offs) != 2) {
		*errstr_r = "safetensors: tensor needs dtype, shape, "
		    "data_offsets";
		return -1;
	}
	for (i = 0; i < sizeof(dtypes) / sizeof(dtypes[0]); i++) {
		if (strcmp(json_string_value(dt), dtypes[i].name) == 0) {
			t->dtype = dtypes[i].dtype;
			esize = dtypes[i].size;
			break;
		}
	}
	if (esize == 0) {
		*errstr_r = "safetensors: unknown dtype";
		return -1;
	}
	t->ndim = json_array_size(shape);
	if (t->ndim > EMBED_ST_NDIM_MAX) {
		*errstr_r = "safetensors: too many dimensions";
		return -1;
	}
	for (i = 0; i < t->ndim; i++) {
		uint64_t d;

		if (json_u64(json_array_get(shape, i), &d) != 0) {
			*errstr_r = "safetensors: bad dimension";
			return -1;
		}
		if (d != 0 && nelem > UINT64_MAX / d) {
			*errstr_r = "safetensors: element count overflows";
			return -1;
		}
		t->shape[i] = d;
		nelem *= d;
	}
	if (json_u64(json_array_get(offs, 0), &begin) != 0 ||
	    json_u64(json_array_get(offs, 1), &end) != 0 || begin > end ||
	    end > data_len) {
		*errstr_r = "safetensors: data_offsets outside the file";
		return -1;
	}
	if (nelem > UINT64_MAX / esize || nelem * esize != end - begin) {
		*errstr_r = "safetensors: size does not match shape and dtype";
		return -1;
	}
	t->nelem = nelem;
	t->data = data + begin;
	t->nbytes = (size_t)(end - begin);
	t->name = xstrdup(name);
	return 0;
}

int
embed_safetensors_parse(const void *buf, size_t len,
    struct embed_safetensors **st_r, const char **errstr_r)
{
	const uint8_t *p = buf;
	struct embed_safetensors *st;
	struct embed_tensor *t;
	json_error_t jerr;
	json_t *root, *desc;
	const char *key;
	uint64_t hlen = 0;
	size_t n = 0;

	if (len < 8) {
		*errstr_r = "safetensors: file shorter than its header length";
		return -1;
	}
	for (int i = 7; i >= 0; i--)
		hlen = hlen << 8 | p[i];
	if (hlen < 2 || hlen > EMBED_ST_HEADER_MAX || hlen > len - 8) {
		*errstr_r = "safetensors: header length out of range";
		return -1;
	}
	root = json_loadb((const char *)p + 8, (size_t)hlen,
	    JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL || !json_is_object(root)) {
		json_decref(root);
		*errstr_r = "safetensors: header is not a JSON object";
		return -1;
	}
	if (json_object_size(root) > EMBED_ST_TENSORS_MAX + 1) {
		json_decref(root);
		*errstr_r = "safetensors: too many tensors";
		return -1;
	}
	t = xcalloc(json_object_size(root) + 1, sizeof(*t));
	json_object_foreach(root, key, desc) {
		if (strcmp(key, "__metadata__") == 0)
			continue;
		if (parse_tensor(key, desc, p + 8 + hlen, len - 8 - hlen,
		    &t[n], errstr_r) != 0) {
			tensors_free(t, n);
			json_decref(root);
			return -1;
		}
		n++;
	}
	json_decref(root);
	st = xcalloc(1, sizeof(*st));
	st->tensors = t;
	st->n = n;
	*st_r = st;
	return 0;
}

int
embed_safetensors_open(const char *path, struct embed_safetensors **st_r,
    const char **errstr_r)
{
	struct stat sb;
	void *map;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		*errstr_r = "safetensors: cannot open file";
		return -1;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size < 8) {
		close(fd);
		*errstr_r = "safetensors: not a regular file of 8+ bytes";
		return -1;
	}
	map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		*errstr_r = "safetensors: mmap failed";
		return -1;
	}
	if (embed_safetensors_parse(map, (size_t)sb.st_size, st_r,
	    errstr_r) != 0) {
		munmap(map, (size_t)sb.st_size);
		return -1;
	}
	(*st_r)->map = map;
	(*st_r)->map_len = (size_t)sb.st_size;
	return 0;
}

size_t
embed_safetensors_count(const struct embed_safetensors *st)
{
	return st->n;
}

const struct embed_tensor *
embed_safetensors_at(const struct embed_safetensors *st, size_t i)
{
	return i < st->n ? &st->tensors[i] : NULL;
}

const struct embed_tensor *
embed_safetensors_find(const struct embed_safetensors *st, const char *name)
{
	for (size_t i = 0; i < st->n; i++) {
		if (strcmp(st->tensors[i].name, name) == 0)
			return &st->tensors[i];
	}
	return NULL;
}
