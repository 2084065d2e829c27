/*
 * fuzz_spool.c - the spool reader over arbitrary segment bytes.
 *
 * Input: one flag byte (bit 0: read as a final segment), then the segment
 * body.  A valid segment header is put in front so the fuzzer spends its
 * time on records, not on guessing a header checksum.  Invariants: no
 * crash or leak, the position never moves backwards or past the data, and
 * every record returned lies inside the data.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "capture/crc32c.h"
#include "capture/spool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t hdr_base[28] = { 'C', 'R', 'M', 'S', 'P', 'O',
		'O', 'L', 1, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8 };
	struct spool_record rec;
	struct spool_reader *r;
	uint8_t *img;
	uint32_t crc;
	bool final;
	uint64_t last = 0;

	if (size < 1)
		return 0;
	final = (data[0] & 1) != 0;
	img = malloc(32 + size - 1);
	memcpy(img, hdr_base, 28);
	crc = crc32c(0, hdr_base, 28);
	memcpy(img + 28, &crc, 4);
	memcpy(img + 32, data + 1, size - 1);
	memset(&rec, 0, sizeof(rec));
	r = spool_reader_open_mem(img, 32 + size - 1, 0, NULL);
	if (r == NULL)
		abort();
	for (int i = 0; i < 100000; i++) {
		enum spool_read_result rr = spool_reader_next(r, final, &rec);
		uint64_t pos = spool_reader_position(r);

		if (pos < last || pos > 32 + size - 1)
			abort();
		last = pos;
		if (rr != SPOOL_READ_RECORD)
			break;
		if (rec.end > pos || rec.offset >= rec.end ||
		    rec.payload_len > SPOOL_PAYLOAD_MAX ||
		    rec.nheaders > SPOOL_HEADERS_MAX)
			abort();
		for (size_t h = 0; h < rec.nheaders; h++)
			if (strlen(rec.headers[h].name) == 0)
				abort();
	}
	spool_record_clear(&rec);
	spool_reader_close(&r);
	free(img);
	return 0;
}
