/* kafka.c - see kafka.h. */
#include "lib/kafka.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lib/clock_ms.h"
#include "lib/conf.h"
#include "lib/log.h"

int
kafka_set(rd_kafka_conf_t *kc, const char *name, const char *value,
    char *err)
{
	char e[256];

	if (rd_kafka_conf_set(kc, name, value, e, sizeof(e)) !=
	    RD_KAFKA_CONF_OK) {
		snprintf(err, CONF_ERR_MAX, "kafka setting %s=%s: %s", name,
		    value, e);
		return -1;
	}
	return 0;
}

int
kafka_set_props(rd_kafka_conf_t *kc, const struct kafka_conf *c, char *err)
{
	for (unsigned i = 0; i < c->nprops; i++)
		if (kafka_set(kc, c->prop_names[i], c->prop_values[i],
		    err) != 0)
			return -1;
	return 0;
}

static rd_kafka_conf_t *
kafka_consumer_conf(const struct kafka_conf *c, const char *client_id,
    const char *fetch_max, char *err)
{
	rd_kafka_conf_t *kc = rd_kafka_conf_new();
	char session[32], heartbeat[32], poll[32];
	int rc = 0;

	snprintf(session, sizeof(session), "%u", c->session_timeout * 1000);
	snprintf(heartbeat, sizeof(heartbeat), "%u",
	    c->session_timeout * 1000 / 4);
	snprintf(poll, sizeof(poll), "%u", c->max_poll_interval * 1000);
	rc |= kafka_set(kc, "bootstrap.servers", c->brokers, err);
	rc |= kafka_set(kc, "group.id", c->group_id, err);
	rc |= kafka_set(kc, "client.id", client_id, err);
	/* Offsets are stored by hand once a record is done, and committed
	 * by the daemon: never ahead of its work. */
	rc |= kafka_set(kc, "enable.auto.commit", "false", err);
	rc |= kafka_set(kc, "enable.auto.offset.store", "false", err);
	rc |= kafka_set(kc, "auto.offset.reset", "earliest", err);
	rc |= kafka_set(kc, "enable.partition.eof", "false", err);
	rc |= kafka_set(kc, "isolation.level", "read_committed", err);
	rc |= kafka_set(kc, "fetch.message.max.bytes", fetch_max, err);
	rc |= kafka_set(kc, "receive.message.max.bytes", "140000000", err);
	rc |= kafka_set(kc, "session.timeout.ms", session, err);
	rc |= kafka_set(kc, "heartbeat.interval.ms", heartbeat, err);
	rc |= kafka_set(kc, "max.poll.interval.ms", poll, err);
	if (rc == 0)
		rc = kafka_set_props(kc, c, err);
	if (rc != 0) {
		rd_kafka_conf_destroy(kc);
		return NULL;
	}
	rd_kafka_conf_set_error_cb(kc, kafka_error_cb);
	rd_kafka_conf_set_offset_commit_cb(kc, kafka_commit_cb);
	rd_kafka_conf_set_log_cb(kc, kafka_log_cb);
	return kc;
}

static rd_kafka_conf_t *
kafka_side_producer_conf(const struct kafka_conf *c, const char *client_id,
    const char *message_max, char *err)
{
	rd_kafka_conf_t *kc = rd_kafka_conf_new();
	int rc = 0;

	rc |= kafka_set(kc, "bootstrap.servers", c->brokers, err);
	rc |= kafka_set(kc, "client.id", client_id, err);
	rc |= kafka_set(kc, "enable.idempotence", "true", err);
	rc |= kafka_set(kc, "acks", "all", err);
	rc |= kafka_set(kc, "message.max.bytes", message_max, err);
	rc |= kafka_set(kc, "compression.codec", "lz4", err);
	rc |= kafka_set(kc, "linger.ms", "0", err);
	if (rc != 0) {
		rd_kafka_conf_destroy(kc);
		return NULL;
	}
	rd_kafka_conf_set_error_cb(kc, kafka_error_cb);
	rd_kafka_conf_set_log_cb(kc, kafka_log_cb);
	return kc;
}

/* rd_kafka_new(), which leaves kc to the caller when it fails. */
static rd_kafka_t *
kafka_new(rd_kafka_type_t type, rd_kafka_conf_t *kc, const char *what,
    char *err)
{
	char why[512];
	rd_kafka_t *rk = rd_kafka_new(type, kc, why, sizeof(why));

	if (rk == NULL) {
		rd_kafka_conf_destroy(kc);
		snprintf(err, CONF_ERR_MAX, "kafka %s: %s", what, why);
	}
	return rk;
}

rd_kafka_t *
kafka_consumer_new(const struct kafka_conf *c, const char *client_id,
    const char *fetch_max, struct kafka_offsets *o, char *const *topics,
    size_t ntopics, char *err)
{
	rd_kafka_topic_partition_list_t *l;
	rd_kafka_conf_t *kc;
	rd_kafka_resp_err_t rc;
	rd_kafka_t *rk;

	if ((kc = kafka_consumer_conf(c, client_id, fetch_max, err)) == NULL)
		return NULL;
	rd_kafka_conf_set_opaque(kc, o);
	rd_kafka_conf_set_rebalance_cb(kc, kafka_rebalance_cb);
	if ((rk = kafka_new(RD_KAFKA_CONSUMER, kc, "consumer", err)) == NULL)
		return NULL;
	rd_kafka_poll_set_consumer(rk);
	kafka_offsets_init(o, rk, c->commit_interval_ms);
	l = rd_kafka_topic_partition_list_new((int)ntopics);
	for (size_t i = 0; i < ntopics; i++)
		rd_kafka_topic_partition_list_add(l, topics[i],
		    RD_KAFKA_PARTITION_UA);
	rc = rd_kafka_subscribe(rk, l);
	rd_kafka_topic_partition_list_destroy(l);
	if (rc != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(err, CONF_ERR_MAX, "kafka subscribe to %s%s: %s",
		    ntopics > 0 ? topics[0] : "(none)",
		    ntopics > 1 ? " and more" : "", rd_kafka_err2str(rc));
		rd_kafka_destroy(rk);
		o->rk = NULL;
		return NULL;
	}
	return rk;
}

rd_kafka_t *
kafka_side_producer_new(const struct kafka_conf *c, const char *client_id,
    const char *message_max,
    void (*dr_cb)(rd_kafka_t *, const rd_kafka_message_t *, void *),
    void *opaque, char *err)
{
	rd_kafka_conf_t *kc;

	if ((kc = kafka_side_producer_conf(c, client_id, message_max,
	    err)) == NULL)
		return NULL;
	rd_kafka_conf_set_opaque(kc, opaque);
	rd_kafka_conf_set_dr_msg_cb(kc, dr_cb);
	return kafka_new(RD_KAFKA_PRODUCER, kc, "producer", err);
}

void
kafka_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	char buf[512];

	(void)opaque;
	if (err == RD_KAFKA_RESP_ERR__FATAL &&
	    rd_kafka_fatal_error(rk, buf, sizeof(buf)) !=
	    RD_KAFKA_RESP_ERR_NO_ERROR)
		fatalx("kafka: fatal: %s", buf);
	log_warnx("kafka: %s: %s", rd_kafka_err2name(err), reason);
}

void
kafka_commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
    rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
	(void)rk;
	(void)offsets;
	(void)opaque;
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR &&
	    err != RD_KAFKA_RESP_ERR__NO_OFFSET)
		log_warnx("offset commit failed: %s", rd_kafka_err2str(err));
}

void
kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac,
    const char *buf)
{
	(void)rk;
	/* librdkafka's syslog levels: 0-3 error, 4 warning, 5-6 info. */
	if (level <= 4)
		log_warnx("kafka: %s: %s", fac, buf);
	else if (level <= 6)
		log_info("kafka: %s: %s", fac, buf);
	else
		log_debug("kafka: %s: %s", fac, buf);
}

void
kafka_offsets_init(struct kafka_offsets *o, rd_kafka_t *rk,
    unsigned interval_ms)
{
	o->rk = rk;
	o->interval_ms = interval_ms;
	o->stored = 0;
	o->last_ms = mono_ms();
}

bool
kafka_offsets_due(const struct kafka_offsets *o, uint64_t now_ms)
{
	return o->stored > 0 && now_ms - o->last_ms >= o->interval_ms;
}

void
kafka_offsets_commit(struct kafka_offsets *o, bool async, const char *why)
{
	rd_kafka_resp_err_t e = rd_kafka_commit(o->rk, NULL, async ? 1 : 0);

	/* async: the outcome comes to kafka_commit_cb */
	if (async)
		;
	else if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
		log_debug("offsets committed (%s)", why);
	else if (e != RD_KAFKA_RESP_ERR__NO_OFFSET)
		log_warnx("offset commit failed (%s): %s", why,
		    rd_kafka_err2str(e));
	o->stored = 0;
	o->last_ms = mono_ms();
}

static void
kafka_parts_str(const rd_kafka_topic_partition_list_t *l, char *buf,
    size_t size)
{
	size_t o = 0;

	buf[0] = '\0';
	for (int i = 0; i < l->cnt && o < size; i++) {
		int n = snprintf(buf + o, size - o, "%s%s[%" PRId32 "]",
		    i ? " " : "", l->elems[i].topic, l->elems[i].partition);

		if (n < 0)
			break;
		o += (size_t)n;
	}
}

void
kafka_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
    rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct kafka_offsets *o = opaque;
	bool coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
	rd_kafka_error_t *e = NULL;
	char buf[1024];

	kafka_parts_str(parts, buf, sizeof(buf));
	switch (err) {
	case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
		log_info("partitions assigned: %s", buf);
		if (coop)
			e = rd_kafka_incremental_assign(rk, parts);
		else
			rd_kafka_assign(rk, parts);
		break;
	case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
		if (rd_kafka_assignment_lost(rk))
			log_warnx("partitions lost: %s (records since the last "
			    "commit will be replayed by their new owner)", buf);
		else {
			log_info("partitions revoked: %s", buf);
			kafka_offsets_commit(o, false, "revoke");
		}
		if (coop)
			e = rd_kafka_incremental_unassign(rk, parts);
		else
			rd_kafka_assign(rk, NULL);
		break;
	default:
		log_warnx("rebalance error: %s", rd_kafka_err2str(err));
		rd_kafka_assign(rk, NULL);
		break;
	}
	if (e != NULL) {
		log_warnx("rebalance: %s", rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
	}
}
