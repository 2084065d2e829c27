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
 * bit order): about 8 bytes per cycle where the tables do about 1.  Every
 * tapped byte is checksummed once by the proxy and once by crm-capture, so
 * this is most of the spool's CPU cost.  Chosen at run time; the tables
 * stay for other CPUs.
 */
#define CRC32C_HW 1
__attribute__((target("sse4.2"))) static uint32_t
crc32c_hw(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t c = ~crc;

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
