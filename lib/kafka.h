/*
 * kafka.h - librdkafka glue the Kafka daemons share: settings applied with
 * file-style errors, the consumer settings of a commit-after-processing
 * daemon, and the callbacks that report through lib/log.h.
 *
 * Daemon code, like lib/log.c: its callbacks log, and they run on the
 * daemon's own thread (from rd_kafka_poll() / rd_kafka_consumer_poll()).
 */
#ifndef CRM_KAFKA_H
#define CRM_KAFKA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "lib/kafka_conf.h"

/* One setting; -1 with "kafka setting NAME=VALUE: why" in err
 * (CONF_ERR_MAX bytes). */
int kafka_set(rd_kafka_conf_t *kc, const char *name, const char *value,
    char *err);
/* The rdkafka.* pass-through settings, applied last so they win. */
int kafka_set_props(rd_kafka_conf_t *kc, const struct kafka_conf *c,
    char *err);

struct kafka_offsets;

/*
 * The consumer of a daemon that stores an offset only once its record is
 * done and commits them itself: no auto commit, earliest on a new group,
 * committed reads only, the group timing from c, fetches up to fetch_max
 * bytes; error, commit and log callbacks set, kafka_rebalance_cb() with o
 * as its opaque (o is initialized here), and subscribed to
 * topics[0..ntopics).  NULL with a reason in err.
 */
rd_kafka_t *kafka_consumer_new(const struct kafka_conf *c,
    const char *client_id, const char *fetch_max, struct kafka_offsets *o,
    char *const *topics, size_t ntopics, char *err);

/*
 * The producer that a consumer daemon writes its few records with
 * (calendar records, dead letters): idempotent, acks=all, lz4, sent at
 * once, records up to message_max bytes; error and log callbacks set,
 * delivery reports to dr_cb with opaque.  NULL with a reason in err.
 */
rd_kafka_t *kafka_side_producer_new(const struct kafka_conf *c,
    const char *client_id, const char *message_max,
    void (*dr_cb)(rd_kafka_t *, const rd_kafka_message_t *, void *),
    void *opaque, char *err);

/* Logs a client error; a fatal one (idempotent producer) ends the
 * daemon. */
void kafka_error_cb(rd_kafka_t *rk, int err, const char *reason,
    void *opaque);
/* Logs a failed background commit. */
void kafka_commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
    rd_kafka_topic_partition_list_t *offsets, void *opaque);
/* librdkafka's own log lines, at our levels. */
void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac,
    const char *buf);

/*
 * The offsets a commit-after-processing consumer has stored and not yet
 * committed.  The daemon counts each stored offset, commits when
 * kafka_offsets_due() says so, and at stop; the rebalance callback below
 * commits them on an orderly revoke.
 */
struct kafka_offsets {
	rd_kafka_t *rk;
	unsigned interval_ms;	/* [kafka] commit_interval_ms */
	unsigned stored;	/* since the last commit */
	uint64_t last_ms;	/* CLOCK_MONOTONIC of the last commit */
};

void kafka_offsets_init(struct kafka_offsets *o, rd_kafka_t *rk,
    unsigned interval_ms);
/* Something stored and the interval since the last commit passed. */
bool kafka_offsets_due(const struct kafka_offsets *o, uint64_t now_ms);
/* Commits now (async: in the background), resets the count. */
void kafka_offsets_commit(struct kafka_offsets *o, bool async,
    const char *why);

/*
 * The rebalance callback of such a consumer, its opaque a struct
 * kafka_offsets: logs, assigns or revokes (eager or cooperative), and on
 * an orderly revoke commits the stored offsets first -- never on a lost
 * assignment, whose records go to the new owner.  librdkafka calls it
 * from the consumer poll, between records.
 */
void kafka_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
    rd_kafka_topic_partition_list_t *parts, void *opaque);

#endif
