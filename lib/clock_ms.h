/*
 * clock_ms.h - milliseconds from the two clocks every daemon reads: the
 * monotonic one for timeouts, rates and durations, the wall clock for
 * what is recorded (observed-at, begin_ms, metrics timestamps).
 */
#ifndef CRM_CLOCK_MS_H
#define CRM_CLOCK_MS_H

#include <stdint.h>
#include <time.h>

static inline uint64_t
clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Since an unspecified start; never steps back. */
static inline uint64_t
mono_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

/* Unix time in ms. */
static inline uint64_t
wall_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}

#endif
