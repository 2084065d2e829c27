/* producer.c - see producer.h. */
#include "capture/producer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "capture/event.h"
#include "lib/kafka.h"
#include "lib/log.h"
#include "lib/xmalloc.h"

/* The topics the proxy's taps write (docs/events.md). */
static const char *const producer_topics[] = {
	EVENT_TOPIC_MAIL, EVENT_TOPIC_MAIL_SEEN, EVENT_TOPIC_CALENDAR,
};
#define PRODUCER_NTOPICS \
	(sizeof(producer_topics) / sizeof(producer_topics[0]))

struct producer {
	rd_kafka_t *rk;
	rd_kafka_topic_t *topics[PRODUCER_NTOPICS];
	producer_delivery_cb *cb;
	char fatal[512];
	bool fatal_set;
	rd_kafka_resp_err_t last_err;	/* for logging each change once */
};

static void
producer_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *arg)
{
	struct producer *p = arg;

	(void)rk;
	p->cb(m->_private, m->err == RD_KAFKA_RESP_ERR_NO_ERROR,
	    m->err == RD_KAFKA_RESP_ERR_NO_ERROR ? "" :
	    rd_kafka_err2str(m->err));
}

static void
producer_error(rd_kafka_t *rk, int err, const char *reason, void *arg)
{
	struct producer *p = arg;
	char buf[512];

	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		rd_kafka_fatal_error(rk, buf, sizeof(buf));
		snprintf(p->fatal, sizeof(p->fatal), "%s", buf);
		p->fatal_set = true;
		log_warnx("kafka: fatal error: %s", buf);
		return;
	}
	/* An outage makes librdkafka repeat itself every few seconds; say
	 * it once per kind, the metrics show how long it lasts. */
	if (err == (int)p->last_err) {
		log_debug("kafka: %s", reason);
		return;
	}
	p->last_err = (rd_kafka_resp_err_t)err;
	log_warnx("kafka: %s: %s", rd_kafka_err2name(
	    (rd_kafka_resp_err_t)err), reason);
}

/* The librdkafka configuration for conf; NULL with a message in err. */
static rd_kafka_conf_t *
producer_conf(const struct capture_conf *conf, char *err)
{
	rd_kafka_conf_t *kc = rd_kafka_conf_new();
	char v[64];
	uint64_t qkb;
	int rc = 0;

	rc |= kafka_set(kc, "bootstrap.servers", conf->kafka.brokers, err);
	rc |= kafka_set(kc, "client.id", "crm-capture", err);
	/* Idempotence implies acks=all and bounded in-flight requests;
	 * librdkafka's internal retries then never reorder or duplicate. */
	rc |= kafka_set(kc, "enable.idempotence", "true", err);
	rc |= kafka_set(kc, "acks", "all", err);
	rc |= kafka_set(kc, "compression.type", conf->compression, err);
	snprintf(v, sizeof(v), "%llu", (unsigned long long)conf->message_max);
	rc |= kafka_set(kc, "message.max.bytes", v, err);
	snprintf(v, sizeof(v), "%u", conf->linger_ms);
	rc |= kafka_set(kc, "linger.ms", v, err);
	snprintf(v, sizeof(v), "%u", conf->delivery_timeout_ms);
	rc |= kafka_set(kc, "message.timeout.ms", v, err);
	/* Our own in-flight bound is the real one; librdkafka's queue just
	 * has to hold it plus one largest message. */
	qkb = (conf->inflight_max_bytes + conf->message_max) / 1024 + 1;
	if (qkb > 2097151)
		qkb = 2097151;
	snprintf(v, sizeof(v), "%llu", (unsigned long long)qkb);
	rc |= kafka_set(kc, "queue.buffering.max.kbytes", v, err);
	snprintf(v, sizeof(v), "%u", conf->inflight_max_records + 1000);
	rc |= kafka_set(kc, "queue.buffering.max.messages", v, err);
	if (rc == 0)
		rc = kafka_set_props(kc, &conf->kafka, err);
	if (rc != 0) {
		rd_kafka_conf_destroy(kc);
		return NULL;
	}
	return kc;
}

int
producer_check(const struct capture_conf *conf, char *err)
{
	rd_kafka_conf_t *kc = producer_conf(conf, err);

	if (kc == NULL)
		return -1;
	rd_kafka_conf_destroy(kc);
	return 0;
}

struct producer *
producer_new(const struct capture_conf *conf, producer_delivery_cb *cb,
    char *err)
{
	rd_kafka_conf_t *kc = producer_conf(conf, err);
	struct producer *p;
	char e[512];

	if (kc == NULL)
		return NULL;
	p = xcalloc(1, sizeof(*p));
	p->cb = cb;
	rd_kafka_conf_set_dr_msg_cb(kc, producer_dr);
	rd_kafka_conf_set_error_cb(kc, producer_error);
	rd_kafka_conf_set_log_cb(kc, kafka_log_cb);
	rd_kafka_conf_set_opaque(kc, p);
	if ((p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, e, sizeof(e))) ==
	    NULL) {
		snprintf(err, CONF_ERR_MAX, "kafka producer: %s", e);
		rd_kafka_conf_destroy(kc);
		free(p);
		return NULL;
	}
	/* Known topics are looked up now, while nothing waits.  A record
	 * for a topic librdkafka has not seen yet sits in its queue until
	 * the topic's metadata arrives, which its periodic topic scan asks
	 * for: up to a second added to the first record of each topic. */
	for (size_t i = 0; i < PRODUCER_NTOPICS; i++)
		p->topics[i] = rd_kafka_topic_new(p->rk, producer_topics[i],
		    NULL);
	return p;
}

void
producer_free(struct producer **pp)
{
	if (*pp == NULL)
		return;
	for (size_t i = 0; i < PRODUCER_NTOPICS; i++)
		if ((*pp)->topics[i] != NULL)
			rd_kafka_topic_destroy((*pp)->topics[i]);
	rd_kafka_destroy((*pp)->rk);
	x_free(pp);
}

enum producer_send_result
producer_send(struct producer *p, struct spool_record *rec, const char *idkey,
    void *opaque, const char **errstr_r)
{
	rd_kafka_headers_t *hdrs = rd_kafka_headers_new(rec->nheaders + 1);
	rd_kafka_resp_err_t err;
	bool own = rec->payload_len > 0;
	/* The V_ macros cast their argument unparenthesised: plain names. */
	const void *key = rec->key_len > 0 ? rec->key : NULL;
	void *value = own ? rec->payload : NULL;
	int flags = own ? RD_KAFKA_MSG_F_FREE : 0;

	for (size_t i = 0; i < rec->nheaders; i++)
		rd_kafka_header_add(hdrs, rec->headers[i].name, -1,
		    rec->headers[i].value, (ssize_t)rec->headers[i].value_len);
	if (idkey != NULL)
		rd_kafka_header_add(hdrs, "idempotency-key", -1, idkey, -1);
	/* The payload moves to librdkafka (no copy of a 30 MB message);
	 * it frees it with free(3) once delivered. */
	err = rd_kafka_producev(p->rk,
	    RD_KAFKA_V_TOPIC(rec->topic),
	    RD_KAFKA_V_KEY(key, rec->key_len),
	    RD_KAFKA_V_VALUE(value, rec->payload_len),
	    RD_KAFKA_V_MSGFLAGS(flags),
	    RD_KAFKA_V_HEADERS(hdrs),
	    RD_KAFKA_V_OPAQUE(opaque),
	    RD_KAFKA_V_END);
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		if (own)
			rec->payload = NULL;
		return PRODUCER_SENT;
	}
	rd_kafka_headers_destroy(hdrs);
	if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
		return PRODUCER_QUEUE_FULL;
	*errstr_r = rd_kafka_err2str(err);
	return PRODUCER_REJECTED;
}

void
producer_poll(struct producer *p, int timeout_ms)
{
	rd_kafka_poll(p->rk, timeout_ms);
}

int
producer_outstanding(struct producer *p)
{
	return rd_kafka_outq_len(p->rk);
}

const char *
producer_fatal(struct producer *p)
{
	return p->fatal_set ? p->fatal : NULL;
}
