/*
 * shipper.h - moves complete spool records to Kafka and acknowledges them.
 *
 * Per segment it keeps the offset below which everything is acknowledged
 * by Kafka or skipped (aborted, corrupt, torn), persists those offsets
 * atomically in DIR/crm-capture.acks, and deletes a segment once it is
 * final and acknowledged to its end.  docs/spool.md has the guarantees.
 */
#ifndef CRM_SHIPPER_H
#define CRM_SHIPPER_H

#include <stdbool.h>
#include <stdint.h>

#include "capture/capture_conf.h"

struct shipper_stats {
	uint64_t records_read;
	uint64_t records_published;	/* handed to the producer */
	uint64_t records_acked;
	uint64_t delivery_failures;
	uint64_t records_aborted;
	uint64_t records_corrupt;
	uint64_t corrupt_bytes;
	uint64_t records_torn;
	uint64_t torn_bytes;
	uint64_t segments_deleted;
	uint64_t inflight_records;
	uint64_t inflight_bytes;
	uint64_t oldest_unacked_ms;	/* begin time; 0: none */
	unsigned segments;
	/* From spool.shm (all writers). */
	uint64_t spool_bytes;
	uint64_t spooled_total;		/* records committed by writers */
	uint64_t dropped_total;
	uint64_t write_failed_total;
	uint64_t acked_total;		/* across crm-capture restarts */
};

struct shipper;

/* Opens the spool (creating it if needed), loads saved offsets and
 * starts the producer.  NULL with a message in err (CONF_ERR_MAX). */
struct shipper *shipper_new(const struct capture_conf *conf, char *err);

/*
 * One pass: find segments, read what is new, fsync it (group commit),
 * produce it, serve delivery reports for up to wait_ms, save offsets when
 * due, delete finished segments.  Returns 0, or -1 on a fatal producer
 * error (offsets are saved first; the caller exits and is restarted).
 */
int shipper_run(struct shipper *s, int wait_ms);

/* Shutdown: stops reading, waits up to timeout_s for outstanding delivery
 * reports, saves offsets.  Returns records still unreported. */
int shipper_drain(struct shipper *s, unsigned timeout_s);

void shipper_stats(struct shipper *s, struct shipper_stats *st_r);
void shipper_free(struct shipper **sp);

#endif
