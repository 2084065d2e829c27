/*
 * fuzz_smtp_client.c - the SMTP command parser, driven the way crm-proxy
 * drives it: DATA is answered 354, AUTH without an initial response gets
 * SASL lines until "*".  Byte 0 sets the largest arrival size, so splits
 * are explored too.  Checks: consumption within bounds, data slices inside
 * the input, no bare CR/LF consumed in a message before an error.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/smtp_parse.h"

#define FUZZ_CHECK(e) do { if (!(e)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct smtp_client_parser p;
	size_t step, pos = 0, avail = 0;
	enum smtp_parse_result r = SMTP_PARSE_AGAIN;

	if (size < 2)
		return 0;
	step = (size_t)data[0] % 17 + 1;
	data++;
	size--;
	smtp_client_init(&p, (size_t)data[0] * 64);
	for (unsigned guard = 0; guard < 4 * size + 16; guard++) {
		size_t used = 0;
		const char *err = NULL;

		if (r == SMTP_PARSE_AGAIN) {
			if (avail == size)
				break;
			avail = avail + step > size ? size : avail + step;
		}
		r = smtp_client_feed(&p, data + pos, avail - pos, &used, &err);
		FUZZ_CHECK(used <= avail - pos);
		if (p.data_len > 0)
			FUZZ_CHECK(p.data >= data + pos &&
			    p.data + p.data_len <= data + pos + used);
		if (p.mode == SMTP_MODE_DATA || r == SMTP_PARSE_DATA_END) {
			/* No line end in a message other than CRLF. */
			for (size_t i = pos; i < pos + used; i++) {
				if (data[i] == '\n')
					FUZZ_CHECK(i > 0 &&
					    data[i - 1] == '\r');
				if (data[i] == '\r')
					FUZZ_CHECK(i + 1 < pos + used &&
					    data[i + 1] == '\n');
			}
		}
		pos += used;
		switch (r) {
		case SMTP_PARSE_AGAIN:
			FUZZ_CHECK(avail - pos <= 1);
			break;
		case SMTP_PARSE_LINE:
			FUZZ_CHECK(p.line_len <= SMTP_LINE_MAX &&
			    p.line[p.line_len] == '\0');
			if (p.sasl_line) {
				if (p.line_len == 1 && p.line[0] == '*')
					smtp_client_set_mode(&p,
					    SMTP_MODE_COMMAND);
			} else if (p.cmd == SMTP_CMD_DATA) {
				smtp_client_set_mode(&p, SMTP_MODE_DATA);
			} else if (p.cmd == SMTP_CMD_AUTH && p.arg_len > 0 &&
			    memchr(p.arg, ' ', p.arg_len) == NULL) {
				smtp_client_set_mode(&p, SMTP_MODE_SASL);
			} else if (p.cmd == SMTP_CMD_BDAT && p.bdat_ok) {
				FUZZ_CHECK(p.mode == SMTP_MODE_CHUNK);
				FUZZ_CHECK(p.bdat_size <= SMTP_CHUNK_MAX);
			}
			if (p.cmd == SMTP_CMD_MAIL || p.cmd == SMTP_CMD_RCPT) {
				const char *path;
				size_t n;

				if (smtp_path(p.arg, p.arg_len, p.cmd ==
				    SMTP_CMD_MAIL ? "FROM:" : "TO:", &path, &n))
					FUZZ_CHECK(path >= p.arg && path + n <
					    p.arg + p.arg_len);
			}
			break;
		case SMTP_PARSE_DATA:
		case SMTP_PARSE_DATA_END:
		case SMTP_PARSE_CHUNK_END:
			break;
		case SMTP_PARSE_ERROR:
			FUZZ_CHECK(err != NULL && p.error);
			return 0;
		}
	}
	return 0;
}
