/*
 * worker.c - a worker process: drops privileges, accepts on the inherited
 * listeners and runs sessions in one event loop.
 *
 * Signals from the parent:
 *   SIGUSR1  drain: stop accepting, exit when the last session ends (reload)
 *   SIGTERM  shut down now: BYE to every client where it is safe, exit
 */
#include "proxy/worker.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "capture/spool.h"
#include "lib/log.h"
#include "proxy/caldav.h"
#include "proxy/caldav_tap.h"
#include "proxy/limits.h"
#include "proxy/session.h"
#include "proxy/tap_session.h"

static void
worker_drop_privileges(const struct proxy_conf *conf)
{
	struct passwd *pw;

	if (geteuid() != 0)
		return;
	if (conf->user == NULL) {
		log_warnx("running as root: set [proxy] user to drop "
		    "privileges");
		return;
	}
	if ((pw = getpwnam(conf->user)) == NULL)
		fatalx("unknown user \"%s\" in [proxy] user", conf->user);
	if (setgroups(1, &pw->pw_gid) != 0 ||
	    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) != 0 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) != 0)
		fatal("cannot drop privileges to %s", conf->user);
	/* The worker parses network input: it must never gain privileges
	 * back through an exec. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		fatal("prctl(PR_SET_NO_NEW_PRIVS)");
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		fatal("prctl(PR_SET_DUMPABLE)");
}

/* One worker per process: the listener callbacks find it here. */
static struct worker worker;

/* Takes one connection from listener i, if one is waiting. */
static void
worker_accept_one(struct worker *w, unsigned i)
{
	const struct listen_conf *lc = &w->conf->listeners[i];
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd;

	fd = accept4(w->listen_fds[i], (struct sockaddr *)&ss, &len,
	    SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		switch (errno) {
		case EAGAIN:
#if EAGAIN != EWOULDBLOCK
		case EWOULDBLOCK:
#endif
		case EINTR:
		case ECONNABORTED:
		case EPROTO:
			return;	/* another worker took it, or it went away */
		default:
			/* EMFILE and friends: the connection stays queued and
			 * the socket stays readable; pause accepting for a
			 * moment instead of spinning on it. */
			log_warn("accept on %s (%s); pausing accepts for "
			    "100 ms", lc->name, lc->address);
			for (unsigned j = 0; j < CONFIG_MAX_LISTENERS; j++)
				if (w->listeners[j] != NULL)
					event_del(w->listeners[j]);
			event_add(w->accept_retry,
			    &(struct timeval){ 0, 100000 });
			return;
		}
	}
	if (w->draining) {
		close(fd);
		return;
	}
	if (lc->protocol == LISTEN_CALDAV)
		caldav_accept(w, lc, fd, (struct sockaddr *)&ss, len);
	else
		session_accept(w, lc, fd, (struct sockaddr *)&ss, len);
}

/*
 * Every worker watches the shared listening sockets and the kernel wakes
 * them all for each connection.  A worker takes one connection per wakeup
 * (libevent's listener accepts until EAGAIN, and the first to wake would
 * take a whole burst), and leaves it to a worker that serves fewer
 * sessions: that one was woken by the same connection and takes it within
 * microseconds.  Four clients thus land two and two on two workers instead
 * of wherever the race goes.  The socket stays readable until then, so the
 * deferring worker is woken again at once; it gives way for at most
 * WORKER_DEFER_USEC (the lighter worker may be busy) and then takes the
 * connection itself.  Meanwhile it yields the CPU at each wakeup: on a busy
 * machine the lighter worker may be waiting for this very CPU, and without
 * the yield four connections still came out three and one.  A fixed pause
 * instead would take the deferring worker out of the race for a whole
 * timer tick, in which its peer takes every connection.
 */
#define WORKER_DEFER_USEC 500

static void
worker_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct worker *w = &worker;
	unsigned i = (unsigned)((const struct listen_conf *)arg -
	    w->conf->listeners);
	struct timespec now;
	int64_t us;

	(void)lfd;
	(void)what;
	if (limits_load_peer_lighter(w->nsessions) &&
	    clock_gettime(CLOCK_MONOTONIC, &now) == 0) {
		us = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
		/* Giving way wakes this worker every few microseconds; a
		 * longer gap means the socket went quiet in between, and
		 * this is a new connection. */
		if (w->defer_since == 0 ||
		    us - w->defer_last > WORKER_DEFER_USEC)
			w->defer_since = us;
		w->defer_last = us;
		if (us - w->defer_since < WORKER_DEFER_USEC) {
			sched_yield();
			return;
		}
	}
	w->defer_since = 0;
	worker_accept_one(w, i);
}

static void
worker_accept_resume(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	(void)fd;
	(void)what;
	if (w->draining)
		return;
	for (unsigned i = 0; i < CONFIG_MAX_LISTENERS; i++)
		if (w->listeners[i] != NULL)
			event_add(w->listeners[i], NULL);
}

static void
worker_stop_listening(struct worker *w)
{
	for (unsigned i = 0; i < CONFIG_MAX_LISTENERS; i++) {
		if (w->listeners[i] != NULL) {
			event_free(w->listeners[i]);
			w->listeners[i] = NULL;
			close(w->listen_fds[i]);
		}
	}
	if (w->accept_retry != NULL) {
		event_free(w->accept_retry);
		w->accept_retry = NULL;
	}
	limits_load_publish(LIMITS_LOAD_NONE);
}

/* The session count, while this worker accepts. */
static void
worker_publish_load(struct worker *w)
{
	if (!w->draining)
		limits_load_publish(w->nsessions);
}

void
worker_session_new(struct worker *w)
{
	w->nsessions++;
	worker_publish_load(w);
}

void
worker_session_gone(struct worker *w)
{
	w->nsessions--;
	worker_publish_load(w);
	if (w->draining && w->nsessions == 0)
		event_base_loopexit(w->base, NULL);
}

static void
worker_signal(evutil_socket_t sig, short what, void *arg)
{
	struct worker *w = arg;
	struct session *s, *next;

	(void)what;
	if (sig == SIGUSR1) {
		log_info("draining: %u sessions left", w->nsessions);
		w->draining = true;
		worker_stop_listening(w);
		if (w->nsessions == 0)
			event_base_loopexit(w->base, NULL);
		return;
	}
	log_info("shutting down: closing %u sessions", w->nsessions);
	w->draining = true;
	worker_stop_listening(w);
	for (s = TAILQ_FIRST(&w->sessions); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		session_shutdown(s);
	}
	caldav_shutdown_all(w);
	if (w->nsessions == 0) {
		event_base_loopexit(w->base, NULL);
	} else {
		/* Last words get one second to leave. */
		struct timeval tv = { 1, 0 };

		event_base_loopexit(w->base, &tv);
	}
}

/*
 * The writer id is the slot: a restarted worker takes its slot's id back
 * (docs/spool.md).  Failing to open costs capture, never mail: logged, and
 * the worker serves without a tap.
 */
static void
worker_open_spool(struct worker *w)
{
	const struct capture_conf *c = &w->conf->capture;
	struct spool_limits lim = {
		.segment_size = 64ULL << 20,
		.spool_max = c->spool_max,
		.payload_max = c->payload_max,
	};
	const char *errstr = "";
	char id[SPOOL_WRITER_ID_MAX + 1];

	if (c->spool_dir == NULL || !c->enabled)
		return;
	snprintf(id, sizeof(id), "w%u", w->slot);
	w->spool = spool_writer_open(c->spool_dir, id, &lim, &errstr);
	if (w->spool == NULL)
		log_warn("capture off: spool %s (writer %s): %s", c->spool_dir,
		    id, errstr);
}

void
worker_main(const struct proxy_conf *conf, const int *fds, unsigned slot)
{
	struct worker *w = &worker;
	struct event *sigs[3];
	static const int signums[] = { SIGTERM, SIGINT, SIGUSR1 };

	memset(w, 0, sizeof(*w));
	w->conf = conf;
	w->slot = slot;
	w->pid = (long)getpid();
	TAILQ_INIT(&w->sessions);
	TAILQ_INIT(&w->caldav_sessions);
	limits_set_slot(slot);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	if ((w->base = event_base_new()) == NULL)
		fatalx("cannot create the event loop");
	/* Resolver set up before dropping privileges: it reads
	 * /etc/resolv.conf. */
	if ((w->dns = evdns_base_new(w->base,
	    EVDNS_BASE_INITIALIZE_NAMESERVERS)) == NULL)
		w->dns = evdns_base_new(w->base, 0);
	/* Before the drop: the counter file and lock may belong to the
	 * spool's owner (docs/spool.md); later segments are created by
	 * the unprivileged user, so the directory must be writable by it. */
	worker_open_spool(w);
	caldav_tap_worker_init(conf, slot);	/* its own writer, cal<slot> */
	worker_drop_privileges(conf);
	tap_worker_init(w);
	/* A worker outliving its parent would hold the ports forever.  Set
	 * after the credential change, which clears it. */
	prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
	if (getppid() == 1)
		_exit(0);
	for (unsigned i = 0; i < 3; i++) {
		sigs[i] = evsignal_new(w->base, signums[i], worker_signal, w);
		event_add(sigs[i], NULL);
	}
	w->accept_retry = evtimer_new(w->base, worker_accept_resume, w);
	if (w->accept_retry == NULL)
		fatalx("cannot create the accept timer");
	for (unsigned i = 0; i < conf->nlisteners; i++) {
		w->listen_fds[i] = fds[i];
		w->listeners[i] = event_new(w->base, fds[i], EV_READ |
		    EV_PERSIST, worker_accept, (void *)&conf->listeners[i]);
		if (w->listeners[i] == NULL ||
		    event_add(w->listeners[i], NULL) != 0)
			fatal("listener %s", conf->listeners[i].name);
	}
	limits_load_publish(0);
	log_debug("worker slot %u ready, %u listeners", slot,
	    conf->nlisteners);
	event_base_dispatch(w->base);
	log_debug("worker slot %u exiting", slot);
	/* Free everything so leak checkers see a clean exit. */
	while (!TAILQ_EMPTY(&w->sessions))
		session_destroy(TAILQ_FIRST(&w->sessions));
	caldav_destroy_all(w);
	caldav_tap_worker_fini();
	worker_stop_listening(w);
	spool_writer_close(&w->spool);
	tap_worker_fini(w);
	for (unsigned i = 0; i < 3; i++)
		event_free(sigs[i]);
	evdns_base_free(w->dns, 0);
	event_base_free(w->base);
	config_free((struct proxy_conf **)&w->conf);
	exit(0);
}
