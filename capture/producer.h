/*
 * producer.h - crm-capture's Kafka producer: the only code, with
 * producer.c, that includes rdkafka.h.
 *
 * Idempotent (acks=all, librdkafka retries without duplicating), compressed,
 * limits raised for whole large messages (docs/events.md).  Every record
 * handed over comes back exactly once through the delivery callback, from
 * producer_poll() on the caller's thread.
 */
#ifndef CRM_PRODUCER_H
#define CRM_PRODUCER_H

#include <stddef.h>

#include "capture/capture_conf.h"
#include "capture/spool.h"

/* ok: Kafka acknowledged it (acks=all); else errstr says why. */
typedef void producer_delivery_cb(void *opaque, bool ok, const char *errstr);

struct producer;

/* Returns NULL with a message in err (CONF_ERR_MAX) for bad settings. */
struct producer *producer_new(const struct capture_conf *conf,
    producer_delivery_cb *cb, char *err);
void producer_free(struct producer **pp);
/* Checks the settings without connecting (--check).  0, or -1 + err. */
int producer_check(const struct capture_conf *conf, char *err);

enum producer_send_result {
	PRODUCER_SENT,		/* the callback will report it */
	PRODUCER_QUEUE_FULL,	/* poll, then try again */
	PRODUCER_REJECTED,	/* refused outright (errstr_r): no callback */
};

/*
 * Hands rec to librdkafka with its headers, plus an idempotency-key header
 * when idkey is not NULL.  On PRODUCER_SENT the payload is librdkafka's
 * (rec->payload set to NULL).
 */
enum producer_send_result producer_send(struct producer *p,
    struct spool_record *rec, const char *idkey, void *opaque,
    const char **errstr_r);

/* Serves delivery reports and errors for up to timeout_ms. */
void producer_poll(struct producer *p, int timeout_ms);
/* Records handed over and not yet reported. */
int producer_outstanding(struct producer *p);
/* A fatal (idempotence) error, or NULL.  Then the producer is unusable. */
const char *producer_fatal(struct producer *p);

#endif
