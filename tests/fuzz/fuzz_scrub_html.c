/*
 * fuzz_scrub_html.c - enrich/scrub: HTML through libgumbo to text, then
 * the line classifier on that text and on the raw input.
 *
 * Checks: never crashes or leaks; the rendered text is valid UTF-8 of the
 * reported length within max_text; classified lines cover the input in
 * order without overlap; each assembled field is no longer than the input.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "enrich/mime/mime_int.h"
#include "enrich/scrub/scrub.h"

#define FUZZ_CHECK(e) do { if (!(e)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
classify(const char *t, size_t n, const struct scrub_limits *l, size_t hint)
{
	struct scrub_result r;
	size_t prev = 0;

	scrub_text_hint(t, n, l, hint, &r);
	for (size_t i = 0; i < r.n_lines; i++) {
		FUZZ_CHECK(r.lines[i].off >= prev);
		FUZZ_CHECK(r.lines[i].off + r.lines[i].len <= n);
		FUZZ_CHECK(r.lines[i].kind <= SCRUB_DISCLAIMER);
		prev = r.lines[i].off + r.lines[i].len;
	}
	FUZZ_CHECK(strlen(r.body) <= n && strlen(r.quoted) <= n);
	FUZZ_CHECK(strlen(r.signature) <= n && strlen(r.disclaimer) <= n);
	scrub_result_free(&r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct scrub_limits l;
	struct scrub_html_stats st;
	size_t n;
	char *t;

	scrub_limits_default(&l);
	if (size > 0 && (data[0] & 1)) {
		l.max_text = 256;
		l.max_depth = 8;
		l.max_lines = 16;
	}
	t = scrub_html_to_text((const char *)data, size, &l, &n, &st);
	FUZZ_CHECK(strlen(t) == n && n <= l.max_text);
	FUZZ_CHECK(utf8_valid(t, n));
	classify(t, n, &l, st.quote_line);
	free(t);
	classify((const char *)data, size, &l, (size_t)-1);
	return 0;
}
