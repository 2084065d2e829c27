/*
 * cal_expand.c - occurrences of parsed events in a time window.
 *
 * RFC 5545 3.8.5: the recurrence set is DTSTART, plus RRULE and RDATE
 * instances, minus EXDATE instances; a VEVENT with the same UID and a
 * RECURRENCE-ID replaces the instance that would have started at that
 * time.  Recurrence is computed in the local time of DTSTART (so a 09:00
 * New York meeting stays at 09:00 across DST) and converted to UTC per
 * instance.
 *
 * Costs are bounded twice: by max_iterations steps of libical's iterator
 * per rule, and by keeping only the max_instances earliest instances in a
 * max-heap, so a FREQ=SECONDLY rule over a century costs the cap, not the
 * century.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libical/ical.h>

#include "enrich/cal/cal.h"
#include "enrich/cal/cal_int.h"
#include "lib/xmalloc.h"

struct heap {
	struct cal_instance *v;
	size_t n, max;
	bool truncated;
};

static bool
inst_later(const struct cal_instance *a, const struct cal_instance *b)
{
	if (a->start != b->start)
		return a->start > b->start;
	return a->event > b->event;
}

static void
heap_swap(struct cal_instance *a, struct cal_instance *b)
{
	struct cal_instance t = *a;

	*a = *b;
	*b = t;
}

static void
heap_down(struct heap *h, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < h->n && inst_later(&h->v[l], &h->v[m]))
			m = l;
		if (r < h->n && inst_later(&h->v[r], &h->v[m]))
			m = r;
		if (m == i)
			return;
		heap_swap(&h->v[i], &h->v[m]);
		i = m;
	}
}

/* Keeps the h->max earliest instances; the root is the latest kept. */
static void
heap_push(struct heap *h, const struct cal_instance *x)
{
	if (h->max == 0) {
		h->truncated = true;
		return;
	}
	if (h->n < h->max) {
		size_t i = h->n++;

		h->v[i] = *x;
		while (i > 0 && inst_later(&h->v[i], &h->v[(i - 1) / 2])) {
			heap_swap(&h->v[i], &h->v[(i - 1) / 2]);
			i = (i - 1) / 2;
		}
		return;
	}
	h->truncated = true;
	if (!inst_later(&h->v[0], x))
		return;
	h->v[0] = *x;
	heap_down(h, 0);
}

static int
cmp_inst(const void *a, const void *b)
{
	const struct cal_instance *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if (x->event != y->event)
		return x->event < y->event ? -1 : 1;
	return 0;
}

static bool
overlaps(int64_t s, int64_t e, int64_t from, int64_t to)
{
	if (s >= to)
		return false;
	return e > from || (e == s && s >= from);
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* qsort_r: candidate indices by start, then index (stable) */
static int
cmp_order(const void *a, const void *b, void *arg)
{
	const int64_t *v = arg;
	size_t i = *(const size_t *)a, j = *(const size_t *)b;

	if (v[i] != v[j])
		return v[i] < v[j] ? -1 : 1;
	return i < j ? -1 : i > j;
}

struct i64v {
	int64_t *v;
	size_t n, cap;
};

static void
i64v_push(struct i64v *a, int64_t x)
{
	if (a->n == a->cap) {
		a->cap = a->cap == 0 ? 16 : a->cap * 2;
		a->v = xreallocarray(a->v, a->cap, sizeof(*a->v));
	}
	a->v[a->n++] = x;
}

static bool
i64v_has(const struct i64v *a, int64_t x)
{
	return a->n > 0 && bsearch(&x, a->v, a->n, sizeof(*a->v),
	    cmp_i64) != NULL;
}

/* A master's cancellation carries to its overrides. */
static bool
master_cancelled(const struct cal_object *obj, const struct cal_event *ov)
{
	for (size_t i = 0; i < obj->n_events; i++) {
		const struct cal_event *m = &obj->events[i];

		if (!m->has_recurrence_id && m->cancelled &&
		    strcmp(m->uid, ov->uid) == 0)
			return true;
	}
	return false;
}

struct expand_ctx {
	const struct cal_object *obj;
	const struct cal_impl *impl;
	int64_t from, to;
	struct heap *heap;
	size_t ev;
	int64_t dur;
	struct i64v starts;	/* candidate starts of this master */
	struct i64v ends;	/* matching ends (RDATE periods) */
};

static void
candidate(struct expand_ctx *x, int64_t s, int64_t e)
{
	if (!overlaps(s, e, x->from, x->to))
		return;
	/* Per master at most max_instances candidates are useful: the
	 * heap keeps the earliest overall, and this master's later ones
	 * cannot beat its own earlier ones. */
	if (x->starts.n >= 4 * x->obj->limits.max_instances + 16) {
		x->heap->truncated = true;
		return;
	}
	i64v_push(&x->starts, s);
	i64v_push(&x->ends, e);
}

/* ---- rule admission -----------------------------------------------------
 *
 * libical searches inside a single icalrecur_iterator_next() (and inside
 * icalrecur_iterator_new() for BYSETPOS) until it finds a match or
 * reaches its last year, so a rule that can never match, such as
 * "FREQ=HOURLY;BYMONTH=2;BYMONTHDAY=31" or "FREQ=MONTHLY;BYDAY=MO;
 * BYSETPOS=-7", costs seconds to hours per call.  Three defences:
 * sub-daily frequencies and non-Gregorian RSCALEs are not expanded (no
 * calendar client creates them for meetings); BYSETPOS must be within a
 * lower bound of the set size every period is guaranteed to have; and
 * UNTIL is clamped to the window end so a fruitless search stops there.
 */
#define ARR_END ICAL_RECURRENCE_ARRAY_MAX

static size_t
arr_len(const short *a, size_t max)
{
	size_t n = 0;

	while (n < max && a[n] != ARR_END)
		n++;
	return n;
}

/* Lower bound of the number of instances every period of the rule has
 * (0 when a period may be empty or the combination is not understood). */
static long
set_size_floor(const struct icalrecurrencetype *r)
{
	size_t nday = arr_len(r->by_day, ICAL_BY_DAY_SIZE);
	size_t nmd = arr_len(r->by_month_day, ICAL_BY_MONTHDAY_SIZE);
	size_t nyd = arr_len(r->by_year_day, ICAL_BY_YEARDAY_SIZE);
	size_t nwk = arr_len(r->by_week_no, ICAL_BY_WEEKNO_SIZE);
	size_t nmo = arr_len(r->by_month, ICAL_BY_MONTH_SIZE);
	long t = 1, d = 0, plain = 0, ord = 0, md = 0;

	t *= (long)(arr_len(r->by_hour, ICAL_BY_HOUR_SIZE) ?
	    arr_len(r->by_hour, ICAL_BY_HOUR_SIZE) : 1);
	t *= (long)(arr_len(r->by_minute, ICAL_BY_MINUTE_SIZE) ?
	    arr_len(r->by_minute, ICAL_BY_MINUTE_SIZE) : 1);
	t *= (long)(arr_len(r->by_second, ICAL_BY_SECOND_SIZE) ?
	    arr_len(r->by_second, ICAL_BY_SECOND_SIZE) : 1);
	for (size_t i = 0; i < nday; i++) {
		int pos = icalrecurrencetype_day_position(r->by_day[i]);

		if (pos == 0)
			plain++;
		else if (pos >= -4 && pos <= 4)
			ord++;
	}
	for (size_t i = 0; i < nmd; i++)
		if (r->by_month_day[i] >= -28 && r->by_month_day[i] <= 28 &&
		    r->by_month_day[i] != 0)
			md++;
	if (nwk > 0 || nyd > 0)
		return 0;
	switch (r->freq) {
	case ICAL_DAILY_RECURRENCE:
		d = (nday == 0 && nmd == 0) ? 1 : 0;
		break;
	case ICAL_WEEKLY_RECURRENCE:
		d = nday == 0 ? 1 : (ord == 0 ? plain : 0);
		if (nmo > 0 || nmd > 0)
			d = 0;
		break;
	case ICAL_MONTHLY_RECURRENCE:
		if (nday > 0 && nmd > 0)
			d = 0;
		else if (nmd > 0)
			d = md;
		else if (nday > 0)
			d = 4 * plain + ord;
		else
			d = 1;
		break;
	case ICAL_YEARLY_RECURRENCE:
		if (nday > 0 && nmd > 0)
			d = 0;
		else if (nmd > 0)
			d = md * (long)(nmo ? nmo : 12);
		else if (nday > 0)
			d = nmo ? (4 * plain + ord) * (long)nmo : 52 * plain;
		else
			d = nmo ? (long)nmo : 1;
		break;
	default:
		d = 0;
		break;
	}
	return d * t;
}

static bool
rule_ok(const struct icalrecurrencetype *r)
{
	size_t nsp = arr_len(r->by_set_pos, ICAL_BY_SETPOS_SIZE);

	if (r->freq != ICAL_DAILY_RECURRENCE &&
	    r->freq != ICAL_WEEKLY_RECURRENCE &&
	    r->freq != ICAL_MONTHLY_RECURRENCE &&
	    r->freq != ICAL_YEARLY_RECURRENCE)
		return false;
	if (r->interval < 1 || r->interval > 1000)
		return false;
	if (r->rscale != NULL && strcasecmp(r->rscale, "GREGORIAN") != 0)
		return false;
	if (nsp > 0) {
		long floor = set_size_floor(r);

		for (size_t i = 0; i < nsp; i++) {
			long p = r->by_set_pos[i];

			if (p < 0)
				p = -p;

			if (p == 0 || p > floor)
				return false;
		}
	}
	return true;
}

static void
expand_rrule(struct expand_ctx *x, struct icaltimetype dtstart,
    icaltimezone *zone, icalproperty *rp)
{
	const struct cal_event *ev = &x->obj->events[x->ev];
	struct icalrecurrencetype rule = icalproperty_get_rrule(rp);
	icalrecur_iterator *it;
	struct icaltimetype t;
	size_t steps = 0, in_window = 0;

	if (rule.freq == ICAL_NO_RECURRENCE)
		return;
	if (!rule_ok(&rule)) {
		x->heap->truncated = true;	/* not expanded: see above */
		return;
	}
	{
		/* clamp UNTIL to the window end (+2 days for zone offsets) */
		struct icaltimetype lim = icaltime_from_timet_with_zone(
		    (time_t)(x->to + 2 * 86400), 0,
		    icaltimezone_get_utc_timezone());

		if (dtstart.is_date)
			lim.is_date = 1;
		if (icaltime_is_null_time(rule.until) ||
		    icaltime_compare(rule.until, lim) > 0)
			rule.until = lim;
	}
	if ((it = icalrecur_iterator_new(rule, dtstart)) == NULL) {
		icalerror_clear_errno();
		return;
	}
	/* Jump close to the window instead of stepping from a DTSTART
	 * decades back (not possible with COUNT, which counts from it). */
	if (rule.count == 0 && x->from - x->dur - 2 * 86400 > ev->start.utc) {
		struct icaltimetype s = icaltime_from_timet_with_zone(
		    (time_t)(x->from - x->dur - 2 * 86400), dtstart.is_date,
		    zone != NULL ? zone : icaltimezone_get_utc_timezone());

		s.zone = dtstart.zone;
		if (dtstart.is_date)
			s.is_date = 1;
		icalrecur_iterator_set_start(it, s);
	}
	for (;;) {
		struct cal_time ct;

		t = icalrecur_iterator_next(it);
		if (icaltime_is_null_time(t))
			break;
		if (++steps > x->obj->limits.max_iterations) {
			x->heap->truncated = true;
			break;
		}
		ct.utc = cal_local_to_utc(t, zone);
		if (ct.utc >= x->to)
			break;
		if (overlaps(ct.utc, ct.utc + x->dur, x->from, x->to)) {
			candidate(x, ct.utc, ct.utc + x->dur);
			if (++in_window > x->obj->limits.max_instances) {
				x->heap->truncated = true;
				break;
			}
		}
	}
	icalrecur_iterator_free(it);
	icalerror_clear_errno();
}

static void
expand_rdates(struct expand_ctx *x, icalcomponent *c)
{
	for (icalproperty *p = icalcomponent_get_first_property(c,
	    ICAL_RDATE_PROPERTY); p != NULL;
	    p = icalcomponent_get_next_property(c, ICAL_RDATE_PROPERTY)) {
		struct icaldatetimeperiodtype dp = icalproperty_get_rdate(p);
		struct cal_time s, e;

		if (!icaltime_is_null_time(dp.time)) {
			if (!icaltime_is_valid_time(dp.time))
				continue;
			cal_resolve(x->impl, c, p, dp.time, &s, NULL);
			candidate(x, s.utc, s.utc + x->dur);
			continue;
		}
		if (icaltime_is_null_time(dp.period.start) ||
		    !icaltime_is_valid_time(dp.period.start))
			continue;
		cal_resolve(x->impl, c, p, dp.period.start, &s, NULL);
		if (!icaltime_is_null_time(dp.period.end) &&
		    icaltime_is_valid_time(dp.period.end)) {
			cal_resolve(x->impl, c, p, dp.period.end, &e, NULL);
		} else {
			e.utc = s.utc + icaldurationtype_as_int(
			    dp.period.duration);
		}
		if (e.utc < s.utc)
			e.utc = s.utc;
		candidate(x, s.utc, e.utc);
	}
}

static void
expand_master(const struct cal_object *obj, const struct cal_impl *impl,
    size_t idx, int64_t from, int64_t to, struct heap *heap)
{
	const struct cal_event *ev = &obj->events[idx];
	icalcomponent *c = impl->comps[idx];
	icalproperty *dtp = icalcomponent_get_first_property(c,
	    ICAL_DTSTART_PROPERTY);
	struct expand_ctx x = { .obj = obj, .impl = impl, .from = from,
	    .to = to, .heap = heap, .ev = idx,
	    .dur = ev->end.utc - ev->start.utc };
	struct i64v ex = { 0 }, exday = { 0 }, rid = { 0 };
	struct icaltimetype dtstart;
	icaltimezone *zone;
	struct cal_time ct;
	size_t *order;

	dtstart = icalproperty_get_dtstart(dtp);
	cal_resolve(impl, c, dtp, dtstart, &ct, &zone);

	for (icalproperty *p = icalcomponent_get_first_property(c,
	    ICAL_EXDATE_PROPERTY); p != NULL;
	    p = icalcomponent_get_next_property(c, ICAL_EXDATE_PROPERTY)) {
		struct icaltimetype t = icalproperty_get_exdate(p);
		struct cal_time e;

		if (icaltime_is_null_time(t) || !icaltime_is_valid_time(t))
			continue;
		cal_resolve(impl, c, p, t, &e, NULL);
		i64v_push(e.all_day && !ev->start.all_day ? &exday : &ex,
		    e.utc);
	}
	for (size_t i = 0; i < obj->n_events; i++) {
		const struct cal_event *o = &obj->events[i];

		if (o->has_recurrence_id && strcmp(o->uid, ev->uid) == 0)
			i64v_push(&rid, o->recurrence_id.utc);
	}
	if (ex.n > 0)
		qsort(ex.v, ex.n, sizeof(*ex.v), cmp_i64);
	if (rid.n > 0)
		qsort(rid.v, rid.n, sizeof(*rid.v), cmp_i64);

	candidate(&x, ev->start.utc, ev->end.utc);	/* DTSTART itself */
	for (icalproperty *p = icalcomponent_get_first_property(c,
	    ICAL_RRULE_PROPERTY); p != NULL;
	    p = icalcomponent_get_next_property(c, ICAL_RRULE_PROPERTY))
		expand_rrule(&x, dtstart, zone, p);
	expand_rdates(&x, c);

	/* sort candidates by start (indices, ends follow), drop duplicates */
	order = xreallocarray(NULL, x.starts.n + 1, sizeof(*order));
	for (size_t i = 0; i < x.starts.n; i++)
		order[i] = i;
	if (x.starts.n > 0)
		qsort_r(order, x.starts.n, sizeof(*order), cmp_order,
		    x.starts.v);
	for (size_t k = 0; k < x.starts.n; k++) {
		size_t i = order[k];
		int64_t s = x.starts.v[i];
		struct cal_instance in;
		bool dropped = false;

		if (k > 0 && x.starts.v[order[k - 1]] == s)
			continue;
		if (i64v_has(&ex, s) || i64v_has(&rid, s))
			continue;
		for (size_t d = 0; d < exday.n && !dropped; d++)
			if (s >= exday.v[d] && s < exday.v[d] + 86400)
				dropped = true;
		if (dropped)
			continue;
		memset(&in, 0, sizeof(in));
		in.start = s;
		in.end = x.ends.v[i];
		in.recurrence_id = s;
		in.event = idx;
		in.all_day = ev->start.all_day;
		in.cancelled = ev->cancelled;
		heap_push(heap, &in);
	}
	free(order);
	free(x.starts.v);
	free(x.ends.v);
	free(ex.v);
	free(exday.v);
	free(rid.v);
}

int
cal_expand(const struct cal_object *obj, int64_t from, int64_t to,
    struct cal_instance **inst_r, size_t *n_r, bool *truncated_r,
    const char **errstr_r)
{
	const struct cal_impl *impl = obj->impl;
	struct heap heap = { 0 };

	*inst_r = NULL;
	*n_r = 0;
	if (truncated_r != NULL)
		*truncated_r = false;
	if (from >= to) {
		*errstr_r = "empty window";
		return -1;
	}
	heap.max = obj->limits.max_instances;
	heap.v = xreallocarray(NULL, heap.max + 1, sizeof(*heap.v));
	for (size_t i = 0; i < obj->n_events; i++) {
		const struct cal_event *ev = &obj->events[i];

		if (!ev->has_start)
			continue;
		if (ev->has_recurrence_id || !ev->recurs) {
			struct cal_instance in;

			if (!overlaps(ev->start.utc, ev->end.utc, from, to))
				continue;
			memset(&in, 0, sizeof(in));
			in.start = ev->start.utc;
			in.end = ev->end.utc;
			in.recurrence_id = ev->has_recurrence_id ?
			    ev->recurrence_id.utc : ev->start.utc;
			in.event = i;
			in.all_day = ev->start.all_day;
			in.overridden = ev->has_recurrence_id;
			in.cancelled = ev->cancelled ||
			    (ev->has_recurrence_id &&
			    master_cancelled(obj, ev));
			heap_push(&heap, &in);
			continue;
		}
		expand_master(obj, impl, i, from, to, &heap);
	}
	if (heap.n == 0) {
		free(heap.v);
	} else {
		qsort(heap.v, heap.n, sizeof(*heap.v), cmp_inst);
		*inst_r = heap.v;
		*n_r = heap.n;
	}
	if (truncated_r != NULL)
		*truncated_r = heap.truncated;
	icalmemory_free_ring();	/* see cal_parse() */
	return 0;
}
