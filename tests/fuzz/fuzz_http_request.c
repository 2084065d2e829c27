/*
 * fuzz_http_request.c - the HTTP/1.1 parser, request direction (see
 * http_fuzz_drive.h for what is checked).
 */
#include "tests/fuzz/http_fuzz_drive.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_http_both(HTTP_DIR_REQUEST, data, size);
	return 0;
}
