/*
 * worker.h - one worker process: one event loop, its listeners and
 * sessions.  Workers share nothing but the connection-count region
 * (limits.h).
 */
#ifndef CRM_PROXY_WORKER_H
#define CRM_PROXY_WORKER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "proxy/config.h"

struct event_base;
struct evdns_base;
struct session;
struct caldav_session;
struct spool_writer;
struct tap_spool;

struct worker {
	struct event_base *base;
	struct evdns_base *dns;
	const struct proxy_conf *conf;
	struct event *listeners[CONFIG_MAX_LISTENERS];	/* accept events */
	int listen_fds[CONFIG_MAX_LISTENERS];
	struct event *accept_retry;	/* listeners paused after EMFILE */
	int64_t defer_since, defer_last;	/* giving way, in us */
	TAILQ_HEAD(, session) sessions;
	TAILQ_HEAD(, caldav_session) caldav_sessions;	/* caldav.c */
	unsigned nsessions;
	uint64_t next_id;
	long pid;			/* for session ids, read once */
	unsigned slot;
	bool draining;
	/* The capture spool ([capture] spool_dir), NULL without one.  One
	 * writer per worker; taps write through it and never wait. */
	struct spool_writer *spool;
	struct tap_spool *tap_spool;	/* capture on: this worker's writers */
};

/* Runs a worker on the inherited listening sockets fds[i] (one per
 * conf->listeners[i]); never returns. */
void worker_main(const struct proxy_conf *conf, const int *fds,
    unsigned slot) __attribute__((noreturn));

/* Called by session.c and caldav.c when a session is created and when it
 * is freed: the count is published for spreading connections. */
void worker_session_new(struct worker *w);
void worker_session_gone(struct worker *w);

#endif
