/*
 * crc32c.h - CRC-32C (Castagnoli), the checksum of spool records.
 *
 * Castagnoli rather than the zlib polynomial: better error detection at the
 * record sizes we store, and the same function iSCSI, ext4 and Kafka's own
 * record batches use, so operators can check a record with common tools.
 * The SSE 4.2 instruction in three lanes where the CPU has it (crc32c.c),
 * software slicing-by-8 elsewhere.
 */
#ifndef CRM_CRC32C_H
#define CRM_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/*
 * Extends crc (0 to start) over len bytes and returns the new value.  Calls
 * chain: crc32c(crc32c(0, a, n), b, m) == crc32c(0, a||b, n+m).
 */
uint32_t crc32c(uint32_t crc, const void *data, size_t len);

#endif
