/* crc32c.c - see crc32c.h. */
#include "capture/crc32c.h"

#include <pthread.h>
#include <string.h>

#define CRC32C_POLY 0x82f63b78u	/* reflected Castagnoli polynomial */

static uint32_t crc32c_table[8][256];
static pthread_once_t crc32c_once = PTHREAD_ONCE_INIT;

static void
crc32c_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c & 1) != 0 ? (c >> 1) ^ CRC32C_POLY : c >> 1;
		crc32c_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc32c_table[t][i] = (crc32c_table[t - 1][i] >> 8) ^
			    crc32c_table[0][crc32c_table[t - 1][i] & 0xff];
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/*
 * SSE 4.2 has CRC-32C as an instruction (same polynomial, same reflected
 * bit order).  Every tapped byte is checksummed once by the proxy and once
 * by crm-capture, so this is a visible part of the tap's CPU cost.
 *
 * The instruction takes 3 cycles but can start one per cycle, so a single
 * chain runs at a third of its speed.  Buffers long enough are cut in three
 * lanes of equal length, run side by side from a zero register, and joined:
 * the register after A||B is shift(reg(A), |B|) ^ reg(B), where shifting by
 * n bytes (multiplying by x^8n modulo the polynomial) is linear in the
 * register, so a table per byte of it does it in four lookups.  Chosen at
 * run time; the tables stay for other CPUs.
 */
#define CRC32C_HW 1
#define CRC32C_LONG 2048	/* lane length of the long blocks */
#define CRC32C_SHORT 256	/* and of the short ones */

/* shift tables: [0] by one lane, [1] by two, for LONG then SHORT */
static uint32_t crc32c_shift[4][4][256];
static pthread_once_t crc32c_hw_once = PTHREAD_ONCE_INIT;

__attribute__((target("sse4.2"))) static uint32_t
crc32c_hw_zeros(uint32_t reg, size_t len)
{
	uint64_t c = reg;

	for (size_t i = 0; i < len / 8; i++)
		c = __builtin_ia32_crc32di(c, 0);
	return (uint32_t)c;
}

static void
crc32c_hw_init(void)
{
	static const size_t by[4] = { CRC32C_LONG, 2 * CRC32C_LONG,
	    CRC32C_SHORT, 2 * CRC32C_SHORT };

	for (int t = 0; t < 4; t++)
		for (int k = 0; k < 4; k++)
			for (uint32_t b = 0; b < 256; b++)
				crc32c_shift[t][k][b] =
				    crc32c_hw_zeros(b << (8 * k), by[t]);
}

static inline uint32_t
crc32c_shift_by(int t, uint32_t reg)
{
	return crc32c_shift[t][0][reg & 0xff] ^
	    crc32c_shift[t][1][(reg >> 8) & 0xff] ^
	    crc32c_shift[t][2][(reg >> 16) & 0xff] ^
	    crc32c_shift[t][3][reg >> 24];
}

__attribute__((target("sse4.2"))) static inline uint64_t
crc32c_hw_lanes(uint64_t c, const uint8_t **pp, size_t *lenp, size_t lane,
    int t)
{
	const uint8_t *p = *pp;
	size_t len = *lenp;

	while (len >= 3 * lane) {
		uint64_t c1 = 0, c2 = 0;

		for (size_t i = 0; i < lane; i += 8) {
			uint64_t v0, v1, v2;

			memcpy(&v0, p + i, 8);
			memcpy(&v1, p + lane + i, 8);
			memcpy(&v2, p + 2 * lane + i, 8);
			c = __builtin_ia32_crc32di(c, v0);
			c1 = __builtin_ia32_crc32di(c1, v1);
			c2 = __builtin_ia32_crc32di(c2, v2);
		}
		c = crc32c_shift_by(t + 1, (uint32_t)c) ^
		    crc32c_shift_by(t, (uint32_t)c1) ^ (uint32_t)c2;
		p += 3 * lane;
		len -= 3 * lane;
	}
	*pp = p;
	*lenp = len;
	return c;
}

__attribute__((target("sse4.2"))) static uint32_t
crc32c_hw(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t c = ~crc;

	if (len >= 3 * CRC32C_SHORT) {
		pthread_once(&crc32c_hw_once, crc32c_hw_init);
		c = crc32c_hw_lanes(c, &p, &len, CRC32C_LONG, 0);
		c = crc32c_hw_lanes(c, &p, &len, CRC32C_SHORT, 2);
	}
	while (len >= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
		p += 8;
		len -= 8;
	}
	while (len-- > 0)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return ~(uint32_t)c;
}

static int crc32c_use_hw = -1;
#endif

uint32_t
crc32c(uint32_t crc, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t c = ~crc;

#ifdef CRC32C_HW
	if (crc32c_use_hw < 0)
		crc32c_use_hw = __builtin_cpu_supports("sse4.2") ? 1 : 0;
	if (crc32c_use_hw)
		return crc32c_hw(crc, p, len);
#endif
	pthread_once(&crc32c_once, crc32c_init);
	while (len >= 8) {
		uint32_t lo, hi;

		/* Little-endian loads; the spool format is little-endian and
		 * so are the hosts we build for (checked in spool.c). */
		memcpy(&lo, p, 4);
		memcpy(&hi, p + 4, 4);
		lo ^= c;
		c = crc32c_table[7][lo & 0xff] ^
		    crc32c_table[6][(lo >> 8) & 0xff] ^
		    crc32c_table[5][(lo >> 16) & 0xff] ^
		    crc32c_table[4][lo >> 24] ^
		    crc32c_table[3][hi & 0xff] ^
		    crc32c_table[2][(hi >> 8) & 0xff] ^
		    crc32c_table[1][(hi >> 16) & 0xff] ^
		    crc32c_table[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len-- > 0)
		c = (c >> 8) ^ crc32c_table[0][(c ^ *p++) & 0xff];
	return ~c;
}
