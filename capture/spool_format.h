/*
 * spool_format.h - on-disk constants shared by the spool writer and reader.
 * Internal to capture/; docs/spool.md is the specification.  Everything is
 * little-endian.
 */
#ifndef CRM_SPOOL_FORMAT_H
#define CRM_SPOOL_FORMAT_H

#include <stdint.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the spool format helpers assume a little-endian host"
#endif

/* Segment header: magic[8] version u32 flags u32 nonce u64 reserved u32
 * crc u32 (over bytes 0..27). */
#define SPOOL_SEG_MAGIC "CRMSPOOL"
#define SPOOL_SEG_HDR_LEN 32
#define SPOOL_VERSION 1

/* Record header: magic[4] version u8 type u8 reserved u16 meta_len u32
 * seq u64 begin_ms u64 hcrc u32 (over bytes 0..27 and the meta block). */
#define SPOOL_REC_MAGIC "CRMR"
#define SPOOL_REC_HDR_LEN 32
#define SPOOL_REC_DATA 1
#define SPOOL_REC_SEAL 2

/* After the chunks: u32 0, then the trailer: status u8 reserved[3]
 * meta2_len u32 payload_len u64, meta2, crc u32, end magic[4]. */
#define SPOOL_TRL_LEN 16
#define SPOOL_END_MAGIC "CRME"
#define SPOOL_ST_COMMITTED 1
#define SPOOL_ST_ABORTED 2

static inline void
spool_put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static inline void
spool_put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static inline void
spool_put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static inline uint16_t
spool_get16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return v;
}

static inline uint32_t
spool_get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static inline uint64_t
spool_get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

#endif
