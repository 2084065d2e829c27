/*
 * fuzz_cal.c - iCalendar parsing (libical under enrich/cal's bounds) and
 * recurrence expansion.
 *
 * Checks: a parsed object respects its limits (events, attendees, text
 * length); every event ends no earlier than it starts; expansion returns
 * at most max_instances, sorted, each overlapping the window, with a valid
 * event index.  Limits are lowered so one input stays fast.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "enrich/cal/cal.h"

#define FUZZ_CHECK(e) do { if (!(e)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
expand_check(const struct cal_object *obj, int64_t from, int64_t to)
{
	struct cal_instance *in;
	size_t n;
	bool trunc;
	const char *err = NULL;

	FUZZ_CHECK(cal_expand(obj, from, to, &in, &n, &trunc, &err) == 0);
	FUZZ_CHECK(n <= obj->limits.max_instances);
	FUZZ_CHECK((n == 0) == (in == NULL));
	for (size_t i = 0; i < n; i++) {
		FUZZ_CHECK(in[i].event < obj->n_events);
		FUZZ_CHECK(in[i].start < to);
		FUZZ_CHECK(in[i].end >= in[i].start);
		FUZZ_CHECK(in[i].end > from || in[i].start >= from);
		if (i > 0)
			FUZZ_CHECK(in[i - 1].start <= in[i].start);
	}
	free(in);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cal_limits lim;
	struct cal_object *obj;
	const char *err = NULL;

	cal_limits_default(&lim);
	lim.max_bytes = 64 * 1024;
	lim.max_components = 200;
	lim.max_events = 20;
	lim.max_attendees = 10;
	lim.max_text = 256;
	lim.max_instances = 50;
	lim.max_iterations = 2000;
	obj = cal_parse((const char *)data, size, &lim, &err);
	if (obj == NULL) {
		FUZZ_CHECK(err != NULL);
		return 0;
	}
	FUZZ_CHECK(obj->n_events > 0 && obj->n_events <= lim.max_events);
	for (size_t i = 0; i < obj->n_events; i++) {
		const struct cal_event *e = &obj->events[i];

		FUZZ_CHECK(e->uid != NULL);
		FUZZ_CHECK(e->n_attendees <= lim.max_attendees);
		FUZZ_CHECK(e->summary == NULL ||
		    strlen(e->summary) <= lim.max_text);
		FUZZ_CHECK(e->description == NULL ||
		    strlen(e->description) <= lim.max_text);
		FUZZ_CHECK(!e->has_start || e->end.utc >= e->start.utc);
	}
	/* 2026 and a window around the first event */
	expand_check(obj, 1767225600, 1798761600);
	if (obj->events[0].has_start)
		expand_check(obj, obj->events[0].start.utc - 86400,
		    obj->events[0].start.utc + 30 * 86400);
	cal_object_free(&obj);
	return 0;
}
