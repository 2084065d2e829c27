/*
 * vec_log.h - the on-disk format of the local vector store, and its
 * bounded reader.  Pure: no I/O, no allocation in the reader beyond what
 * the caller hands in, so it links alone into the fuzz target.
 *
 * A tenant's log is a file header followed by records, appended only:
 *
 *   header (32 bytes, little-endian)
 *     0  magic "CRMVLOG\0"
 *     8  u32 version (1)
 *    12  u32 dim
 *    16  u64 reserved (0)
 *    24  u32 crc32c of bytes 0..23
 *    28  u32 reserved (0)
 *
 *   record
 *     0  u32 magic 0x52564543 ("CEVR" on disk)
 *     4  u16 type (VEC_LOG_UPSERT, VEC_LOG_DELETE)
 *     6  u16 flags (0)
 *     8  u32 body length, at most VEC_LOG_BODY_MAX
 *    12  u32 crc32c of bytes 4..11 and the body
 *    16  body
 *
 *   upsert body: u32 count, then count entries of
 *     id (u8 kind, 16 bytes: u64 number + 8 zero bytes, or the UUID)
 *     u8 direction, i64 ts, u32 chunk,
 *     u16 len + bytes + NUL for account_id, contact_id, message_ref,
 *     dim floats (IEEE 754, little-endian, already L2-normalized)
 *   delete body: u32 count, then count ids (17 bytes each)
 *
 * A record is the unit of atomicity: its checksum covers all of it, so a
 * crash mid-write leaves a record that fails the check and is dropped
 * whole.  Every length is checked against the bytes that remain before it
 * is used.
 */
#ifndef CRM_VEC_LOG_H
#define CRM_VEC_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "enrich/vec/vec.h"

#define VEC_LOG_MAGIC "CRMVLOG"	/* 8 bytes with its NUL */
#define VEC_LOG_VERSION 1
#define VEC_LOG_HEADER_SIZE 32
#define VEC_LOG_REC_MAGIC 0x52564543u
#define VEC_LOG_REC_HEADER 16
#define VEC_LOG_BODY_MAX (32u << 20)
#define VEC_LOG_ID_SIZE 17

enum vec_log_type {
	VEC_LOG_UPSERT = 1,
	VEC_LOG_DELETE = 2,
};

uint32_t vec_crc32c(uint32_t crc, const void *buf, size_t len);

/* Writes the 32-byte file header for dim into out. */
void vec_log_header_build(uint8_t out[VEC_LOG_HEADER_SIZE], uint32_t dim);

/*
 * Bytes an upsert entry takes in a body; 0 if a string is too long.
 * Callers use it to size batches below VEC_LOG_BODY_MAX.
 */
size_t vec_log_upsert_entry_size(const struct vec_point *point, uint32_t dim);

/*
 * Encoders: append to out (capacity cap) at *len_r.  vec_log_rec_begin
 * reserves the record header; vec_log_rec_end fills in length and
 * checksum.  The caller sizes out (header + body) beforehand; these
 * never write past cap and return -1 if they would.
 */
int vec_log_rec_begin(uint8_t *out, size_t cap, size_t *len_r,
    enum vec_log_type type, uint32_t count);
int vec_log_put_upsert(uint8_t *out, size_t cap, size_t *len_r,
    const struct vec_point *point, const float *normalized, uint32_t dim);
int vec_log_put_id(uint8_t *out, size_t cap, size_t *len_r,
    const struct vec_id *id);
void vec_log_rec_end(uint8_t *out, size_t rec_start, size_t end);

/*
 * Replay callbacks.  For an upsert, point->vector points at scratch
 * memory valid only during the call and the payload strings point into
 * the caller's buffer.  A callback returning -1 stops the replay.
 */
struct vec_log_sink {
	int (*upsert)(void *ctx, const struct vec_point *point);
	int (*delete)(void *ctx, const struct vec_id *id);
};

struct vec_log_stats {
	uint64_t records;	/* applied */
	uint64_t entries;	/* points upserted or deleted */
	uint64_t skipped_bytes;	/* damage followed by valid data */
	uint64_t skipped_regions;
	uint64_t valid_end;	/* end of the last valid record */
	uint64_t torn_bytes;	/* bytes after valid_end (a torn tail) */
};

/*
 * Replays buf[0..len): checks the header against dim (dim 0: accept the
 * file's and return it in *dim_r), then applies each complete, valid
 * record in order.  A damaged record followed somewhere by a valid one is
 * skipped (counted in skipped_*); damage with nothing valid after it is a
 * torn tail, reported in torn_bytes and not applied.  scratch holds dim
 * floats (VEC_DIM_MAX when dim is 0).
 * Returns 0, or -1 with *errstr_r (bad header, dim mismatch, callback
 * failure).
 */
int vec_log_replay(const uint8_t *buf, size_t len, uint32_t dim,
    uint32_t *dim_r, float *scratch, const struct vec_log_sink *sink,
    void *ctx, struct vec_log_stats *stats_r, const char **errstr_r);

#endif
