/*
 * spool_reader.c - walks a spool segment and returns complete records.  See
 * spool.h and docs/spool.md.
 *
 * Everything read from a segment is untrusted: a disk can flip bits, an
 * operator can copy a file over another, a crash leaves half a record.  So
 * every length is checked against its hard bound before it is used or
 * allocated, the payload buffer is allocated only once the whole record
 * (trailer included) is known to be present, and a record is returned only
 * when its CRC-32C matches.  After damage the reader resynchronises on the
 * next record magic whose header checksum holds; segments are append-only,
 * so bytes judged corrupt once can never become valid later.
 */
#include "capture/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capture/crc32c.h"
#include "capture/spool_format.h"
#include "lib/xmalloc.h"

/* Decoded strings get a NUL each: meta + meta2 + one per string. */
#define SPOOL_STRS_SIZE (2 * SPOOL_META_MAX + 2 * SPOOL_HEADERS_MAX + 8)
#define SPOOL_SCAN_BLOCK (64 * 1024)

enum spool_try {
	SPOOL_TRY_DATA,
	SPOOL_TRY_ABORTED,
	SPOOL_TRY_SEAL,
	SPOOL_TRY_INCOMPLETE,
	SPOOL_TRY_CORRUPT,
	SPOOL_TRY_IOERR,
};

struct spool_reader {
	int fd;
	const uint8_t *mem;
	size_t mem_len;
	uint64_t pos;
	bool resyncing;		/* inside a damaged stretch */
	uint64_t damage_at;	/* where it started */
	struct spool_reader_stats st;
	uint8_t *raw;		/* meta, then meta2 */
	char *strs;		/* decoded, NUL-terminated copies */
	size_t strs_len;
};

/* Reads up to len bytes at off; returns how many were there (short at end
 * of data) or -1 on an I/O error. */
static ssize_t
spool_read_at(struct spool_reader *r, uint64_t off, void *buf, size_t len)
{
	size_t got = 0;

	if (r->fd < 0) {
		if (off >= r->mem_len)
			return 0;
		got = r->mem_len - (size_t)off < len ?
		    r->mem_len - (size_t)off : len;
		memcpy(buf, r->mem + off, got);
		return (ssize_t)got;
	}
	while (got < len) {
		ssize_t n = pread(r->fd, (uint8_t *)buf + got, len - got,
		    (off_t)(off + got));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

static uint64_t
spool_data_size(struct spool_reader *r)
{
	struct stat st;

	if (r->fd < 0)
		return r->mem_len;
	if (fstat(r->fd, &st) != 0 || st.st_size < 0)
		return 0;
	return (uint64_t)st.st_size;
}

/* Exactly len bytes at off: 1 read, 0 not all there yet, -1 error. */
static int
spool_read_exact(struct spool_reader *r, uint64_t off, void *buf, size_t len)
{
	ssize_t n = spool_read_at(r, off, buf, len);

	if (n < 0)
		return -1;
	return (size_t)n == len ? 1 : 0;
}

static const char *
spool_strdup(struct spool_reader *r, const uint8_t *p, size_t n)
{
	char *s = r->strs + r->strs_len;

	/* Callers bound n by the meta lengths, which SPOOL_STRS_SIZE
	 * covers; this is the belt to those braces. */
	if (r->strs_len + n + 1 > SPOOL_STRS_SIZE)
		return NULL;
	memcpy(s, p, n);
	s[n] = '\0';
	r->strs_len += n + 1;
	return s;
}

/* Decodes a header list (count byte first) from p[0..len); returns bytes
 * used or 0 when malformed. */
static size_t
spool_decode_headers(struct spool_reader *r, const uint8_t *p, size_t len,
    struct spool_record *rec)
{
	size_t n = 1, count;

	if (len < 1)
		return 0;
	count = p[0];
	if (count > SPOOL_HEADERS_MAX - rec->nheaders)
		return 0;
	for (size_t i = 0; i < count; i++) {
		struct spool_header *h = &rec->headers[rec->nheaders];
		size_t nl, vl;

		if (len - n < 1 || (nl = p[n]) == 0 ||
		    nl > SPOOL_HEADER_NAME_MAX || len - n - 1 < nl + 2)
			return 0;
		for (size_t k = 0; k < nl; k++)
			if (p[n + 1 + k] <= ' ' || p[n + 1 + k] > '~')
				return 0;
		vl = spool_get16(p + n + 1 + nl);
		if (vl > SPOOL_HEADER_VALUE_MAX || len - n - 1 - nl - 2 < vl)
			return 0;
		if ((h->name = spool_strdup(r, p + n + 1, nl)) == NULL ||
		    (h->value = spool_strdup(r, p + n + 1 + nl + 2, vl)) ==
		    NULL)
			return 0;
		h->value_len = vl;
		n += 1 + nl + 2 + vl;
		rec->nheaders++;
	}
	return n;
}

static bool
spool_decode_meta(struct spool_reader *r, const uint8_t *m, size_t len,
    struct spool_record *rec)
{
	size_t tl, kl, n, used;

	if (len < 1 || (tl = m[0]) == 0 || tl > SPOOL_TOPIC_MAX ||
	    len - 1 < tl + 2)
		return false;
	for (size_t i = 1; i <= tl; i++) {
		uint8_t c = m[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '-' ||
		    c == '.'))
			return false;
	}
	kl = spool_get16(m + 1 + tl);
	n = 1 + tl + 2;
	if (kl > SPOOL_KEY_MAX || len - n < kl)
		return false;
	if ((rec->topic = spool_strdup(r, m + 1, tl)) == NULL ||
	    (rec->key = (const uint8_t *)spool_strdup(r, m + n, kl)) == NULL)
		return false;
	rec->key_len = kl;
	n += kl;
	if ((used = spool_decode_headers(r, m + n, len - n, rec)) == 0)
		return false;
	return n + used == len;	/* no trailing bytes */
}

/* Checks the record header at off (and reads the meta block for a data
 * record into r->raw).  Fills hdr and *mlen_r. */
static enum spool_try
spool_try_header(struct spool_reader *r, uint64_t off, uint8_t *hdr,
    size_t *mlen_r)
{
	size_t mlen;
	int rc;

	if ((rc = spool_read_exact(r, off, hdr, SPOOL_REC_HDR_LEN)) <= 0)
		return rc < 0 ? SPOOL_TRY_IOERR : SPOOL_TRY_INCOMPLETE;
	if (memcmp(hdr, SPOOL_REC_MAGIC, 4) != 0 || hdr[4] != SPOOL_VERSION ||
	    (hdr[5] != SPOOL_REC_DATA && hdr[5] != SPOOL_REC_SEAL) ||
	    spool_get16(hdr + 6) != 0)
		return SPOOL_TRY_CORRUPT;
	mlen = spool_get32(hdr + 8);
	if (hdr[5] == SPOOL_REC_SEAL) {
		if (mlen != 0 ||
		    crc32c(0, hdr, 28) != spool_get32(hdr + 28))
			return SPOOL_TRY_CORRUPT;
		*mlen_r = 0;
		return SPOOL_TRY_SEAL;
	}
	if (mlen < 1 + 1 + 2 + 1 || mlen > SPOOL_META_MAX)
		return SPOOL_TRY_CORRUPT;
	if ((rc = spool_read_exact(r, off + SPOOL_REC_HDR_LEN, r->raw, mlen))
	    <= 0)
		return rc < 0 ? SPOOL_TRY_IOERR : SPOOL_TRY_INCOMPLETE;
	if (crc32c(crc32c(0, hdr, 28), r->raw, mlen) != spool_get32(hdr + 28))
		return SPOOL_TRY_CORRUPT;
	*mlen_r = mlen;
	return SPOOL_TRY_DATA;
}

/* One record at off.  On DATA/ABORTED/SEAL *end_r is set; on DATA rec is
 * filled and owns a new payload. */
static enum spool_try
spool_try_record(struct spool_reader *r, uint64_t off,
    struct spool_record *rec, uint64_t *end_r)
{
	uint8_t hdr[SPOOL_REC_HDR_LEN], trl[SPOOL_TRL_LEN], b4[4], tail[8];
	uint8_t *meta2, *payload;
	uint64_t p, data_start, total = 0, payload_len;
	size_t mlen, m2len;
	enum spool_try t;
	uint32_t crc;
	int rc;

	if ((t = spool_try_header(r, off, hdr, &mlen)) != SPOOL_TRY_DATA) {
		if (t == SPOOL_TRY_SEAL)
			*end_r = off + SPOOL_REC_HDR_LEN;
		return t;
	}
	/* Pass 1: walk the chunk lengths to the trailer.  Nothing is
	 * allocated until the whole record is known to be there. */
	data_start = p = off + SPOOL_REC_HDR_LEN + mlen;
	for (;;) {
		uint32_t cl;

		if ((rc = spool_read_exact(r, p, b4, 4)) <= 0)
			return rc < 0 ? SPOOL_TRY_IOERR : SPOOL_TRY_INCOMPLETE;
		p += 4;
		if ((cl = spool_get32(b4)) == 0)
			break;
		if (cl > SPOOL_CHUNK_MAX || total + cl > SPOOL_PAYLOAD_MAX)
			return SPOOL_TRY_CORRUPT;
		total += cl;
		p += cl;
	}
	if ((rc = spool_read_exact(r, p, trl, SPOOL_TRL_LEN)) <= 0)
		return rc < 0 ? SPOOL_TRY_IOERR : SPOOL_TRY_INCOMPLETE;
	m2len = spool_get32(trl + 4);
	payload_len = spool_get64(trl + 8);
	if ((trl[0] != SPOOL_ST_COMMITTED && trl[0] != SPOOL_ST_ABORTED) ||
	    trl[1] != 0 || trl[2] != 0 || trl[3] != 0 ||
	    m2len < (trl[0] == SPOOL_ST_COMMITTED ? 1u : 0u) ||
	    m2len > SPOOL_META_MAX || payload_len != total)
		return SPOOL_TRY_CORRUPT;
	meta2 = r->raw + mlen;
	if ((rc = spool_read_exact(r, p + SPOOL_TRL_LEN, meta2, m2len)) <= 0 &&
	    m2len > 0)
		return rc < 0 ? SPOOL_TRY_IOERR : SPOOL_TRY_INCOMPLETE;
	if ((rc = spool_read_exact(r, p + SPOOL_TRL_LEN + m2len, tail, 8)) <=
	    0)
		return rc < 0 ? SPOOL_TRY_IOERR : SPOOL_TRY_INCOMPLETE;
	if (memcmp(tail + 4, SPOOL_END_MAGIC, 4) != 0)
		return SPOOL_TRY_CORRUPT;

	/* Pass 2: the record is all there; read and check it. */
	payload = xmalloc(total > 0 ? (size_t)total : 1);
	crc = crc32c(0, hdr, SPOOL_REC_HDR_LEN);
	crc = crc32c(crc, r->raw, mlen);
	for (uint64_t q = data_start, got = 0;;) {
		uint32_t cl;

		if ((rc = spool_read_exact(r, q, b4, 4)) <= 0) {
			free(payload);
			return rc < 0 ? SPOOL_TRY_IOERR : SPOOL_TRY_CORRUPT;
		}
		if ((cl = spool_get32(b4)) == 0)
			break;
		/* Pass 1 saw these lengths; a file rewritten under us
		 * must still never write past the buffer. */
		if (cl > total - got ||
		    (rc = spool_read_exact(r, q + 4, payload + got, cl)) <= 0) {
			free(payload);
			return rc < 0 ? SPOOL_TRY_IOERR : SPOOL_TRY_CORRUPT;
		}
		got += cl;
		q += 4 + cl;
	}
	crc = crc32c(crc, payload, (size_t)total);
	crc = crc32c(crc, trl, SPOOL_TRL_LEN);
	crc = crc32c(crc, meta2, m2len);
	if (crc != spool_get32(tail)) {
		free(payload);
		return SPOOL_TRY_CORRUPT;
	}
	*end_r = p + SPOOL_TRL_LEN + m2len + 8;
	if (trl[0] == SPOOL_ST_ABORTED) {
		free(payload);
		return SPOOL_TRY_ABORTED;
	}
	spool_record_clear(rec);
	r->strs_len = 0;
	rec->nheaders = 0;
	if (!spool_decode_meta(r, r->raw, mlen, rec) ||
	    spool_decode_headers(r, meta2, m2len, rec) != m2len) {
		free(payload);
		return SPOOL_TRY_CORRUPT;
	}
	rec->offset = off;
	rec->end = *end_r;
	rec->seq = spool_get64(hdr + 12);
	rec->begin_ms = spool_get64(hdr + 20);
	rec->payload = payload;
	rec->payload_len = (size_t)total;
	return SPOOL_TRY_DATA;
}

/*
 * After damage at from: the first offset > from holding a record header
 * that checks out, or where the data ends (*found_r false).  A header that
 * is not all there yet counts as found: the next read decides.
 */
static int
spool_resync(struct spool_reader *r, uint64_t from, uint64_t *at_r,
    bool *found_r)
{
	uint8_t buf[SPOOL_SCAN_BLOCK], hdr[SPOOL_REC_HDR_LEN];
	uint64_t off = from + 1;

	for (;;) {
		ssize_t n = spool_read_at(r, off, buf, sizeof(buf));
		size_t mlen;

		if (n < 0)
			return -1;
		for (ssize_t i = 0; i + 4 <= n; i++) {
			if (memcmp(buf + i, SPOOL_REC_MAGIC, 4) != 0)
				continue;
			switch (spool_try_header(r, off + (uint64_t)i, hdr,
			    &mlen)) {
			case SPOOL_TRY_DATA:
			case SPOOL_TRY_SEAL:
			case SPOOL_TRY_INCOMPLETE:
				*at_r = off + (uint64_t)i;
				*found_r = true;
				return 0;
			case SPOOL_TRY_IOERR:
				return -1;
			default:
				break;
			}
		}
		if ((size_t)n < sizeof(buf)) {
			/* A magic may straddle the end: keep 3 bytes. */
			uint64_t end = off + (uint64_t)n;

			*at_r = end > from + 4 ? end - 3 : from + 1;
			*found_r = false;
			return 0;
		}
		off += sizeof(buf) - 3;
	}
}

static void
spool_damage(struct spool_reader *r, uint64_t at)
{
	if (!r->resyncing) {
		r->resyncing = true;
		r->damage_at = at;
		r->st.corrupt++;
	}
}

static void
spool_damage_end(struct spool_reader *r, uint64_t at)
{
	if (r->resyncing) {
		r->st.corrupt_bytes += at - r->damage_at;
		r->resyncing = false;
	}
}

enum spool_read_result
spool_reader_next(struct spool_reader *r, bool final,
    struct spool_record *rec)
{
	for (;;) {
		uint64_t end = 0, at;
		bool found;
		enum spool_try t = spool_try_record(r, r->pos, rec, &end);

		switch (t) {
		case SPOOL_TRY_DATA:
			spool_damage_end(r, r->pos);
			r->pos = end;
			r->st.records++;
			return SPOOL_READ_RECORD;
		case SPOOL_TRY_ABORTED:
			spool_damage_end(r, r->pos);
			r->pos = end;
			r->st.aborted++;
			continue;
		case SPOOL_TRY_SEAL:
			spool_damage_end(r, r->pos);
			r->pos = end;
			return SPOOL_READ_END;
		case SPOOL_TRY_IOERR:
			return SPOOL_READ_ERROR;
		case SPOOL_TRY_INCOMPLETE:
			if (!final) {
				/* Still being written (or, rarely, damage
				 * that only finality can tell apart). */
				return SPOOL_READ_AGAIN;
			}
			if (spool_data_size(r) <= r->pos) {
				spool_damage_end(r, r->pos);
				return SPOOL_READ_END;
			}
			break;
		case SPOOL_TRY_CORRUPT:
			break;
		}
		if (spool_resync(r, r->pos, &at, &found) != 0)
			return SPOOL_READ_ERROR;
		if (found) {
			spool_damage(r, r->pos);
			r->pos = at;
			continue;
		}
		if (!final) {
			/* Skip what is certainly garbage; wait for more. */
			spool_damage(r, r->pos);
			r->pos = at;
			return SPOOL_READ_AGAIN;
		}
		/* Final, and nothing valid follows: a torn tail when the
		 * last record merely stops short, damage otherwise. */
		at = spool_data_size(r);
		if (at < r->pos)
			at = r->pos;
		if (r->resyncing) {
			spool_damage_end(r, at);
		} else if (t == SPOOL_TRY_INCOMPLETE) {
			r->st.torn++;
			r->st.torn_bytes += at - r->pos;
		} else {
			r->st.corrupt++;
			r->st.corrupt_bytes += at - r->pos;
		}
		r->pos = at;
		return SPOOL_READ_END;
	}
}

static struct spool_reader *
spool_reader_init(struct spool_reader *r, uint64_t offset, uint64_t *nonce_r)
{
	uint8_t h[SPOOL_SEG_HDR_LEN];
	int rc = spool_read_exact(r, 0, h, sizeof(h));

	if (rc <= 0) {
		int saved = rc < 0 ? errno : EAGAIN;

		spool_reader_close(&r);
		errno = saved;
		return NULL;
	}
	if (memcmp(h, SPOOL_SEG_MAGIC, 8) != 0 ||
	    spool_get32(h + 8) != SPOOL_VERSION ||
	    crc32c(0, h, 28) != spool_get32(h + 28)) {
		spool_reader_close(&r);
		errno = EINVAL;
		return NULL;
	}
	if (nonce_r != NULL)
		*nonce_r = spool_get64(h + 16);
	r->pos = offset < SPOOL_SEG_HDR_LEN ? SPOOL_SEG_HDR_LEN : offset;
	r->raw = xmalloc(2 * SPOOL_META_MAX);
	r->strs = xmalloc(SPOOL_STRS_SIZE);
	return r;
}

struct spool_reader *
spool_reader_open(const char *path, uint64_t offset, uint64_t *nonce_r)
{
	struct spool_reader *r;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	r = xcalloc(1, sizeof(*r));
	r->fd = fd;
	return spool_reader_init(r, offset, nonce_r);
}

struct spool_reader *
spool_reader_open_mem(const void *buf, size_t len, uint64_t offset,
    uint64_t *nonce_r)
{
	struct spool_reader *r = xcalloc(1, sizeof(*r));

	r->fd = -1;
	r->mem = buf;
	r->mem_len = len;
	return spool_reader_init(r, offset, nonce_r);
}

uint64_t
spool_reader_position(const struct spool_reader *r)
{
	return r->pos;
}

void
spool_reader_seek(struct spool_reader *r, uint64_t offset)
{
	r->pos = offset < SPOOL_SEG_HDR_LEN ? SPOOL_SEG_HDR_LEN : offset;
	r->resyncing = false;
}

int
spool_reader_fd(const struct spool_reader *r)
{
	return r->fd;
}

const struct spool_reader_stats *
spool_reader_stats(const struct spool_reader *r)
{
	return &r->st;
}

void
spool_record_clear(struct spool_record *rec)
{
	free(rec->payload);
	rec->payload = NULL;
	rec->payload_len = 0;
}

void
spool_reader_close(struct spool_reader **rp)
{
	struct spool_reader *r = *rp;

	if (r == NULL)
		return;
	if (r->fd >= 0)
		close(r->fd);
	free(r->raw);
	free(r->strs);
	x_free(rp);
}
