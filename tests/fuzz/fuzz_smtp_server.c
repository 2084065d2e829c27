/*
 * fuzz_smtp_server.c - the SMTP reply parser.  Byte 0 sets the arrival
 * size.  Checks: codes in 200..599, texts inside the line, EHLO keyword
 * within the text, errors sticky.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "proxy/smtp_parse.h"

#define FUZZ_CHECK(e) do { if (!(e)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct smtp_server_parser p;
	size_t step, pos = 0, avail = 0;

	if (size < 1)
		return 0;
	step = (size_t)data[0] % 23 + 1;
	data++;
	size--;
	smtp_server_init(&p);
	while (avail < size) {
		avail = avail + step > size ? size : avail + step;
		while (pos < avail) {
			size_t used = 0;
			const char *err = NULL;
			enum smtp_parse_result r;

			r = smtp_server_feed(&p, data + pos, avail - pos,
			    &used, &err);
			FUZZ_CHECK(used <= avail - pos);
			pos += used;
			if (r == SMTP_PARSE_ERROR) {
				FUZZ_CHECK(err != NULL);
				r = smtp_server_feed(&p, data, size, &used,
				    &err);
				FUZZ_CHECK(r == SMTP_PARSE_ERROR && used == 0);
				return 0;
			}
			if (r == SMTP_PARSE_LINE) {
				FUZZ_CHECK(p.code >= 200 && p.code <= 599);
				FUZZ_CHECK(p.text >= p.line && p.text +
				    p.text_len <= p.line + p.line_len);
				FUZZ_CHECK(smtp_ehlo_keyword(p.text,
				    p.text_len) <= p.text_len);
			}
		}
	}
	return 0;
}
