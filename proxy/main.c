/*
 * main.c - crm-proxy's parent process.
 *
 * It reads the configuration, loads certificates, binds the listeners, forks
 * the workers and keeps them running.  It never reads a byte from the
 * network (STYLE 1): a parser bug can take down a worker, which the parent
 * replaces, never the parent.
 *
 *   SIGHUP   reload: check the new configuration; if it is good, start new
 *            workers with it and let the old ones drain their sessions.  A
 *            bad file is reported (file:line) and the old one stays.
 *   SIGTERM  stop: workers say BYE and exit; the parent waits, then exits.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pwd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "lib/conf.h"
#include "lib/log.h"
#include "lib/net.h"
#include "lib/tls.h"
#include "lib/xmalloc.h"
#include "proxy/caldav_tap.h"
#include "capture/spool.h"
#include "proxy/config.h"
#include "proxy/limits.h"
#include "proxy/tap_metrics.h"
#include "proxy/worker.h"

#define DEFAULT_CONFIG "/etc/crm-proxy/crm-proxy.conf"
#define VERSION "0.1.0"

#define NSIGNALS 4

struct child {
	pid_t pid;
	unsigned generation;
	time_t started;
};

static struct {
	struct event_base *base;
	struct proxy_conf *conf;
	int fds[CONFIG_MAX_LISTENERS];
	unsigned generation;
	struct child children[LIMITS_SLOTS];
	bool stopping, debug;
	struct event *sigs[NSIGNALS];
	unsigned restarts_recent;
	time_t restart_window;
	struct event *metrics_ev;
	struct event *cert_ev;		/* the daily certificate expiry check */
	struct spool_shm *shm;
} parent;

/*
 * Capture: the spool directory belongs to the workers' user, so the
 * writers they open after dropping privileges can create segments, and
 * spool.shm exists before any of them maps it.  The parent reads only the
 * shared counters, for the metrics file.
 */
static void
capture_prepare(const struct proxy_conf *conf)
{
	const struct capture_conf *cc = &conf->capture;
	struct passwd *pw = NULL;
	char path[4096];

	if (!cc->enabled || cc->spool_dir == NULL)
		return;
	if (mkdir(cc->spool_dir, 0750) != 0 && errno != EEXIST)
		log_warn("capture: mkdir %s", cc->spool_dir);
	if (geteuid() == 0 && conf->user != NULL &&
	    (pw = getpwnam(conf->user)) != NULL &&
	    chown(cc->spool_dir, pw->pw_uid, pw->pw_gid) != 0)
		log_warn("capture: chown %s", cc->spool_dir);
	if (parent.shm == NULL)
		parent.shm = spool_shm_open(cc->spool_dir);
	if (parent.shm == NULL) {
		log_warn("capture: %s/spool.shm", cc->spool_dir);
		return;
	}
	snprintf(path, sizeof(path), "%s/spool.shm", cc->spool_dir);
	if (pw != NULL && chown(path, pw->pw_uid, pw->pw_gid) != 0)
		log_warn("capture: chown %s", path);
}

/*
 * The stages every writer may open, against the room left in stage_dir.
 * Short of room is a warning, not an error: a writer whose stage does not
 * fit writes its segments itself (slower, still captured).  At start and
 * with --check only; during a reload the old workers' stages still count.
 * Returns true, with the message in msg, when the room is short.
 */
static bool
capture_stage_short(const struct proxy_conf *conf, char *msg, size_t len)
{
	const struct capture_conf *cc = &conf->capture;
	uint64_t need, room;
	struct statvfs sv;

	if (!cc->enabled || cc->spool_dir == NULL || cc->stage_dir == NULL ||
	    statvfs(cc->stage_dir, &sv) != 0)
		return false;
	need = (uint64_t)conf->workers * cc->writers_max *
	    (cc->stage_size + SPOOL_STAGE_HDR_SIZE);
	room = (uint64_t)sv.f_bavail * sv.f_frsize;
	if (need <= room)
		return false;
	snprintf(msg, len, "capture: stage_dir %s has %llu MiB free; %u "
	    "workers x %u writers x %llu MiB of stage may need %llu MiB; "
	    "a writer that finds no room writes its segments directly",
	    cc->stage_dir, (unsigned long long)(room >> 20), conf->workers,
	    cc->writers_max, (unsigned long long)(cc->stage_size >> 20),
	    (unsigned long long)(need >> 20));
	return true;
}

/* A listener's certificate this close to its end is reported at start,
 * on reload, by --check, and once a day. */
#define CERT_WARN_DAYS 30

/*
 * One line per listener whose certificate has expired or expires within
 * CERT_WARN_DAYS, on stderr (--check) or in the log.  Returns how many
 * have expired.  The proxy still serves an expired certificate: a client
 * that lets its user accept it keeps working, and mail stops for nobody
 * who could still read it.
 */
static unsigned
cert_expiry_report(const struct proxy_conf *conf, bool to_stderr)
{
	unsigned expired = 0;

	for (unsigned i = 0; i < conf->nlisteners; i++) {
		const struct listen_conf *lc = &conf->listeners[i];
		char when[64], msg[CONF_ERR_MAX + 256];
		long long left, days;

		if (lc->ssl_ctx == NULL || tls_server_ctx_expiry(lc->ssl_ctx,
		    &left, when, sizeof(when)) != 0)
			continue;
		days = (left + 43200) / 86400;
		if (left <= 0) {
			expired++;
			snprintf(msg, sizeof(msg), "%s:%d: [listen %s] "
			    "certificate %s expired on %s: clients refuse it; "
			    "install a new one, then SIGHUP", conf->path,
			    lc->line, lc->name, lc->cert, when);
		} else if (left < CERT_WARN_DAYS * 86400LL) {
			snprintf(msg, sizeof(msg), "%s:%d: [listen %s] "
			    "certificate %s expires in %lld day%s (%s): renew "
			    "it, then SIGHUP", conf->path, lc->line, lc->name,
			    lc->cert, days, days == 1 ? "" : "s", when);
		} else {
			continue;
		}
		if (to_stderr)
			fprintf(stderr, "crm-proxy: %s: %s\n", left <= 0 ?
			    "error" : "warning", msg);
		else
			log_warnx("%s", msg);
	}
	return expired;
}

static void
cert_expiry_daily(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	(void)cert_expiry_report(parent.conf, false);
}

static void
capture_metrics(evutil_socket_t fd, short what, void *arg)
{
	const struct capture_conf *cc = &parent.conf->capture;
	struct spool_counters c;

	(void)fd;
	(void)what;
	(void)arg;
	if (cc->metrics_file == NULL)
		return;
	if (parent.shm != NULL)
		spool_shm_counters(parent.shm, &c);
	if (tap_metrics_write(cc->metrics_file, parent.shm != NULL ? &c :
	    NULL) != 0)
		log_warn("capture: metrics file %s", cc->metrics_file);
}

static void
capture_metrics_start(void)
{
	const struct capture_conf *cc = &parent.conf->capture;
	struct timeval tv = { (time_t)cc->metrics_interval, 0 };

	if (parent.metrics_ev != NULL)
		event_free(parent.metrics_ev);
	parent.metrics_ev = NULL;
	if (cc->metrics_file == NULL)
		return;
	parent.metrics_ev = event_new(parent.base, -1, EV_PERSIST,
	    capture_metrics, NULL);
	event_add(parent.metrics_ev, &tv);
	capture_metrics(-1, 0, NULL);
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: crm-proxy [-c FILE] [-F] [-d] [--check] [--help] "
	    "[--version]\n"
	    "\n"
	    "Transparent IMAP and CalDAV proxy for CRM capture.\n"
	    "\n"
	    "  -c, --config FILE  configuration (default %s)\n"
	    "  -F, --foreground   stay in the foreground (the default; for "
	    "service managers)\n"
	    "  -d, --debug        log at debug level, whatever the file says\n"
	    "      --check        validate the configuration and its TLS "
	    "files, then exit\n"
	    "  -h, --help         this text\n"
	    "  -V, --version      print the version\n"
	    "\n"
	    "Signals: HUP reloads the configuration without dropping "
	    "sessions;\nTERM and INT stop. See crm-proxy(8).\n",
	    DEFAULT_CONFIG);
}

/* New fds for conf's listeners, reusing old ones bound to the same
 * address.  Returns 0, or -1 (nothing changed) when a bind fails. */
static int
bind_all(const struct proxy_conf *conf, const struct proxy_conf *old,
    const int *old_fds, int *fds)
{
	for (unsigned i = 0; i < conf->nlisteners; i++) {
		const struct listen_conf *lc = &conf->listeners[i];

		fds[i] = -1;
		for (unsigned j = 0; old != NULL && j < old->nlisteners; j++)
			if (strcmp(old->listeners[j].address,
			    lc->address) == 0)
				fds[i] = dup(old_fds[j]);
		if (fds[i] < 0 &&
		    (fds[i] = net_listen(&lc->ss, lc->sslen, 1024)) < 0) {
			log_warn("%s:%d: [listen %s] cannot listen on %s",
			    conf->path, lc->line, lc->name, lc->address);
			while (i-- > 0)
				close(fds[i]);
			return -1;
		}
	}
	return 0;
}

static int
free_slot(void)
{
	for (unsigned i = 0; i < LIMITS_SLOTS; i++)
		if (parent.children[i].pid == 0)
			return (int)i;
	return -1;
}

static void
spawn_worker(unsigned slot)
{
	pid_t pid;

	limits_slot_reset(slot);
	if ((pid = fork()) < 0) {
		log_warn("fork");
		return;
	}
	if (pid == 0) {
		/* The worker runs its own loop; the parent's (and its signal
		 * handlers) must not linger in the child.  event_reinit()
		 * first: the epoll instance is shared across fork, and
		 * deleting events from it here would delete the parent's. */
		event_reinit(parent.base);
		for (unsigned i = 0; i < NSIGNALS; i++)
			event_free(parent.sigs[i]);
		if (parent.metrics_ev != NULL)
			event_free(parent.metrics_ev);
		parent.metrics_ev = NULL;
		if (parent.cert_ev != NULL)
			event_free(parent.cert_ev);
		parent.cert_ev = NULL;
		spool_shm_close(&parent.shm);
		event_base_free(parent.base);
		parent.base = NULL;
		worker_main(parent.conf, parent.fds, slot);
	}
	parent.children[slot] = (struct child){
		.pid = pid,
		.generation = parent.generation,
		.started = time(NULL),
	};
	log_debug("worker %ld started in slot %u (generation %u)", (long)pid,
	    slot, parent.generation);
}

static void
spawn_workers(void)
{
	for (unsigned n = 0; n < parent.conf->workers; n++) {
		int slot = free_slot();

		if (slot < 0) {
			log_warnx("no free worker slot: too many draining "
			    "workers");
			return;
		}
		spawn_worker((unsigned)slot);
	}
}

static void
signal_generation(int sig, bool old_only)
{
	for (unsigned i = 0; i < LIMITS_SLOTS; i++) {
		struct child *c = &parent.children[i];

		if (c->pid > 0 && (!old_only ||
		    c->generation != parent.generation))
			kill(c->pid, sig);
	}
}

static void
reload(void)
{
	char err[CONF_ERR_MAX];
	struct proxy_conf *conf;
	int fds[CONFIG_MAX_LISTENERS];

	log_info("reloading %s", parent.conf->path);
	if ((conf = config_load(parent.conf->path, err)) == NULL ||
	    config_load_tls(conf, err) != 0) {
		log_warnx("reload failed, keeping the running configuration: "
		    "%s", err);
		config_free(&conf);
		return;
	}
	if (bind_all(conf, parent.conf, parent.fds, fds) != 0) {
		log_warnx("reload failed, keeping the running configuration");
		config_free(&conf);
		return;
	}
	for (unsigned i = 0; i < parent.conf->nlisteners; i++)
		close(parent.fds[i]);
	config_free(&parent.conf);
	parent.conf = conf;
	memcpy(parent.fds, fds, sizeof(fds));
	log_set_level(parent.debug ? LOG_LEVEL_DEBUG : conf->log_level);
	parent.generation++;
	spool_shm_close(&parent.shm);
	capture_prepare(conf);
	spawn_workers();
	capture_metrics_start();
	(void)cert_expiry_report(conf, false);
	/* Old workers finish their sessions on the old settings. */
	signal_generation(SIGUSR1, true);
	log_info("reloaded: %u listeners, %u upstreams, %u routes",
	    conf->nlisteners, conf->nupstreams, conf->nroutes);
}

static bool
children_left(void)
{
	for (unsigned i = 0; i < LIMITS_SLOTS; i++)
		if (parent.children[i].pid > 0)
			return true;
	return false;
}

static void
reap(void)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (unsigned i = 0; i < LIMITS_SLOTS; i++) {
			struct child *c = &parent.children[i];
			bool current;

			if (c->pid != pid)
				continue;
			current = c->generation == parent.generation;
			c->pid = 0;
			limits_slot_reset(i);
			if (WIFSIGNALED(status) || (WIFEXITED(status) &&
			    WEXITSTATUS(status) != 0)) {
				log_warnx("worker %ld %s %d", (long)pid,
				    WIFSIGNALED(status) ? "killed by signal" :
				    "exited with status",
				    WIFSIGNALED(status) ? WTERMSIG(status) :
				    WEXITSTATUS(status));
			} else {
				log_debug("worker %ld exited", (long)pid);
			}
			if (!current || parent.stopping)
				break;
			/* A current worker died: replace it, but stop a
			 * crash loop from eating the machine. */
			if (time(NULL) - parent.restart_window > 60) {
				parent.restart_window = time(NULL);
				parent.restarts_recent = 0;
			}
			if (++parent.restarts_recent > 20) {
				log_warnx("workers keep dying; not restarting "
				    "for a minute");
				break;
			}
			spawn_worker(i);
			break;
		}
	}
	if (parent.stopping && !children_left())
		event_base_loopexit(parent.base, NULL);
}

static void
parent_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	(void)arg;
	switch (sig) {
	case SIGHUP:
		if (!parent.stopping)
			reload();
		break;
	case SIGCHLD:
		reap();
		break;
	case SIGTERM:
	case SIGINT:
		if (parent.stopping)
			break;
		log_info("stopping");
		parent.stopping = true;
		signal_generation(SIGTERM, false);
		if (!children_left())
			event_base_loopexit(parent.base, NULL);
		break;
	}
}

static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'F' },
		{ "debug", no_argument, NULL, 'd' },
		{ "check", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static const int signums[] = { SIGHUP, SIGCHLD, SIGTERM, SIGINT };
	const char *path = DEFAULT_CONFIG;
	bool check = false, debug = false;
	char err[CONF_ERR_MAX];
	int c;

	while ((c = getopt_long(argc, argv, "c:FdhV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'F':
			break;
		case 'd':
			debug = parent.debug = true;
			break;
		case 'k':
			check = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("crm-proxy %s\n", VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	log_init("crm-proxy", false);
	if ((parent.conf = config_load(path, err)) == NULL ||
	    config_load_tls(parent.conf, err) != 0) {
		fprintf(stderr, "crm-proxy: %s\n", err);
		return 1;
	}
	if (check) {
		printf("%s: OK (%u listeners, %u upstreams, %u routes)\n", path,
		    parent.conf->nlisteners, parent.conf->nupstreams,
		    parent.conf->nroutes);
		if (capture_stage_short(parent.conf, err, sizeof(err)))
			fprintf(stderr, "crm-proxy: warning: %s\n", err);
		if (cert_expiry_report(parent.conf, true) > 0) {
			config_free(&parent.conf);
			return 1;
		}
		config_free(&parent.conf);
		return 0;
	}
	log_init("crm-proxy", parent.conf->syslog);
	log_set_level(debug ? LOG_LEVEL_DEBUG : parent.conf->log_level);
	raise_fd_limit();
	signal(SIGPIPE, SIG_IGN);
	if (limits_init() != 0)
		fatal("cannot map the shared limits region");
	/* Sized once: a reload keeps the table (and what it remembers). */
	if (caldav_tap_seen_init(parent.conf->caldav.seen_entries) != 0)
		fatal("cannot map the shared CalDAV seen table");
	if (tap_metrics_init() != 0)
		fatal("cannot map the shared capture counters");
	capture_prepare(parent.conf);
	if (capture_stage_short(parent.conf, err, sizeof(err)))
		log_warnx("%s", err);
	if (bind_all(parent.conf, NULL, NULL, parent.fds) != 0)
		return 1;
	if ((parent.base = event_base_new()) == NULL)
		fatalx("cannot create the event loop");
	for (unsigned i = 0; i < NSIGNALS; i++) {
		parent.sigs[i] = evsignal_new(parent.base, signums[i],
		    parent_signal, NULL);
		event_add(parent.sigs[i], NULL);
	}
	spawn_workers();
	capture_metrics_start();
	(void)cert_expiry_report(parent.conf, false);
	parent.cert_ev = event_new(parent.base, -1, EV_PERSIST,
	    cert_expiry_daily, NULL);
	event_add(parent.cert_ev, &(struct timeval){ 86400, 0 });
	log_info("started: %u workers, %u listeners (%s)",
	    parent.conf->workers, parent.conf->nlisteners, path);
	event_base_dispatch(parent.base);
	log_info("stopped");
	capture_metrics(-1, 0, NULL);
	if (parent.metrics_ev != NULL)
		event_free(parent.metrics_ev);
	if (parent.cert_ev != NULL)
		event_free(parent.cert_ev);
	spool_shm_close(&parent.shm);
	for (unsigned i = 0; i < parent.conf->nlisteners; i++)
		close(parent.fds[i]);
	config_free(&parent.conf);
	for (unsigned i = 0; i < NSIGNALS; i++)
		event_free(parent.sigs[i]);
	event_base_free(parent.base);
	return 0;
}
