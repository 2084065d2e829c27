/*
 * imapbench - a bounded IMAP load generator for `make bench`.
 *
 * One process, one epoll loop, non-blocking sockets (optionally implicit TLS
 * through OpenSSL).  It drives a fixed script per connection and measures
 * one thing per run:
 *
 *   sessions  connect, greeting, LOGIN, SELECT, FETCH 1 BODY.PEEK[], LOGOUT,
 *             again and again on -c slots for -t seconds
 *   bulk      -c connections log in, EXAMINE the bulk mailbox, wait for each
 *             other, then UID FETCH 1:* BODY.PEEK[] (-r times); counts the
 *             literal payload bytes against wall time
 *   noop      -c connections log in and wait for each other, then each sends
 *             -n NOOPs one at a time; round-trip percentiles
 *   idle      opens -c logged-in connections (at most --ramp in setup at a
 *             time), prints "READY ..." and holds them; on SIGUSR1 it sends a
 *             NOOP on every held connection, prints the RESULT and exits
 *
 * The single machine-readable line is "RESULT key=value ...", on stdout.
 * Every run is bounded: --max-time (default 300 s) aborts with exit 3.
 * The response reader understands exactly what it needs: lines, literals
 * ({n} at the end of a line; the bytes are skipped, not stored) and the tag
 * of the one command in flight.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "lib/xmalloc.h"

#define RBUF_SMALL   (16 * 1024)
#define RBUF_BULK    (256 * 1024)
#define WBUF_SIZE    512
#define SAMPLES_MAX  (4u * 1024 * 1024)
#define ERRORS_SHOWN 5

enum bench_mode {
	MODE_SESSIONS,
	MODE_BULK,
	MODE_NOOP,
	MODE_IDLE,
};

static const char *const mode_names[] = {
	[MODE_SESSIONS] = "sessions",
	[MODE_BULK] = "bulk",
	[MODE_NOOP] = "noop",
	[MODE_IDLE] = "idle",
};

enum conn_state {
	CONN_FREE,
	CONN_CONNECTING,
	CONN_HANDSHAKE,
	CONN_GREETING,
	CONN_LOGIN,
	CONN_SELECT,
	CONN_READY,
	CONN_FETCH,
	CONN_NOOP,
	CONN_LOGOUT,
	CONN_HELD,
	CONN_CHECK,
	CONN_DONE,
};

static const char *const conn_state_names[] = {
	[CONN_FREE] = "FREE",
	[CONN_CONNECTING] = "CONNECTING",
	[CONN_HANDSHAKE] = "HANDSHAKE",
	[CONN_GREETING] = "GREETING",
	[CONN_LOGIN] = "LOGIN",
	[CONN_SELECT] = "SELECT",
	[CONN_READY] = "READY",
	[CONN_FETCH] = "FETCH",
	[CONN_NOOP] = "NOOP",
	[CONN_LOGOUT] = "LOGOUT",
	[CONN_HELD] = "HELD",
	[CONN_CHECK] = "CHECK",
	[CONN_DONE] = "DONE",
};

struct conn {
	unsigned int id;
	uint32_t gen;		/* bumped per socket: stale events are ignored */
	int fd;
	SSL *ssl;
	enum conn_state state;

	char *rbuf;
	size_t rlen, rcap;
	uint64_t lit_left;	/* literal bytes still to skip */
	bool cont;		/* next line continues a response after a literal */

	char wbuf[WBUF_SIZE];
	size_t wlen, woff;

	char tag[16];
	unsigned int seq;	/* tag counter */
	unsigned int done_cmds;	/* NOOPs or FETCH rounds completed */
	uint64_t t_session, t_cmd;
};

struct bench {
	enum bench_mode mode;
	const char *host, *port, *user, *pass, *mailbox;
	unsigned int conns, count, repeat, ramp;
	double seconds, max_time, hold;
	bool tls;
	int verbose;

	struct sockaddr_storage addr;
	socklen_t addrlen;
	SSL_CTX *ssl_ctx;
	int epfd;
	struct conn *c;

	uint64_t t_start, t_phase, t_end, deadline;
	bool phase_started;
	unsigned int launched, ready, finished, failed, held, checked;
	unsigned int setup_failed;	/* idle: failed before being held */
	uint64_t sessions, errors, bytes;
	uint64_t *samples;
	size_t nsamples, samples_cap;
};

static volatile sig_atomic_t got_usr1, got_term;

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double
ns_to_s(uint64_t ns)
{
	return (double)ns / 1e9;
}

static void
on_signal(int sig)
{
	if (sig == SIGUSR1)
		got_usr1 = 1;
	else
		got_term = 1;
}

static void
conn_set_state(struct bench *b, struct conn *c, enum conn_state st)
{
	if (b->verbose > 1)
		fprintf(stderr, "conn %u: %s -> %s\n", c->id,
		    conn_state_names[c->state], conn_state_names[st]);
	c->state = st;
}

static void
sample_add(struct bench *b, uint64_t ns)
{
	if (b->nsamples == b->samples_cap) {
		if (b->samples_cap >= SAMPLES_MAX)
			return;
		b->samples_cap = b->samples_cap ? b->samples_cap * 2 : 4096;
		b->samples = xreallocarray(b->samples, b->samples_cap,
		    sizeof(*b->samples));
	}
	b->samples[b->nsamples++] = ns;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile in milliseconds; 0 when there are no samples. */
static double
percentile_ms(const struct bench *b, double pct)
{
	size_t i;

	if (b->nsamples == 0)
		return 0;
	i = (size_t)(pct / 100.0 * (double)b->nsamples);
	if (i >= b->nsamples)
		i = b->nsamples - 1;
	return (double)b->samples[i] / 1e6;
}

/* ---- connection I/O ---------------------------------------------------- */

#define IO_AGAIN (-2)

static ssize_t
conn_io_read(struct conn *c, char *buf, size_t len)
{
	ssize_t n;

	if (c->ssl != NULL) {
		int r = SSL_read(c->ssl, buf, len > INT32_MAX ? INT32_MAX :
		    (int)len);

		if (r > 0)
			return r;
		switch (SSL_get_error(c->ssl, r)) {
		case SSL_ERROR_WANT_READ:
		case SSL_ERROR_WANT_WRITE:
			return IO_AGAIN;
		case SSL_ERROR_ZERO_RETURN:
			return 0;
		default:
			/* A peer that closes without close_notify is an EOF
			 * for our purposes (after LOGOUT that is normal). */
			if (ERR_peek_error() == 0)
				return 0;
			return -1;
		}
	}
	n = read(c->fd, buf, len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return IO_AGAIN;
	return n;
}

static ssize_t
conn_io_write(struct conn *c, const char *buf, size_t len)
{
	ssize_t n;

	if (c->ssl != NULL) {
		int r = SSL_write(c->ssl, buf, (int)len);

		if (r > 0)
			return r;
		switch (SSL_get_error(c->ssl, r)) {
		case SSL_ERROR_WANT_READ:
		case SSL_ERROR_WANT_WRITE:
			return IO_AGAIN;
		default:
			return -1;
		}
	}
	n = send(c->fd, buf, len, MSG_NOSIGNAL);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return IO_AGAIN;
	return n;
}

static void conn_fail(struct bench *b, struct conn *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
conn_close(struct conn *c)
{
	if (c->ssl != NULL) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	c->rlen = 0;
	c->lit_left = 0;
	c->cont = false;
	c->wlen = c->woff = 0;
}

/* Returns 0 when everything queued went out or will on the next event. */
static int
conn_flush(struct bench *b, struct conn *c)
{
	while (c->woff < c->wlen) {
		ssize_t n = conn_io_write(c, c->wbuf + c->woff,
		    c->wlen - c->woff);

		if (n == IO_AGAIN)
			return 0;
		if (n <= 0) {
			conn_fail(b, c, "write: %s", strerror(errno));
			return -1;
		}
		c->woff += (size_t)n;
	}
	c->wlen = c->woff = 0;
	return 0;
}

static int conn_send(struct bench *b, struct conn *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sends one tagged command; fmt is the part after the tag, without CRLF. */
static int
conn_send(struct bench *b, struct conn *c, const char *fmt, ...)
{
	va_list ap;
	int n, m;

	if (c->wlen != 0) {
		conn_fail(b, c, "command while a previous one is unsent");
		return -1;
	}
	snprintf(c->tag, sizeof(c->tag), "b%u", ++c->seq);
	n = snprintf(c->wbuf, sizeof(c->wbuf), "%s ", c->tag);
	va_start(ap, fmt);
	m = vsnprintf(c->wbuf + n, sizeof(c->wbuf) - (size_t)n - 2, fmt, ap);
	va_end(ap);
	if (m < 0 || (size_t)(n + m) >= sizeof(c->wbuf) - 2) {
		conn_fail(b, c, "command too long");
		return -1;
	}
	memcpy(c->wbuf + n + m, "\r\n", 2);
	c->wlen = (size_t)(n + m + 2);
	c->woff = 0;
	c->t_cmd = now_ns();
	return conn_flush(b, c);
}

/* ---- the script --------------------------------------------------------- */

static void bench_connect(struct bench *b, struct conn *c);
static void bench_maybe_start_phase(struct bench *b);

static void
conn_finish(struct bench *b, struct conn *c)
{
	conn_close(c);
	conn_set_state(b, c, CONN_DONE);
	b->finished++;
}

static void
conn_fail(struct bench *b, struct conn *c, const char *fmt, ...)
{
	enum conn_state st = c->state;
	va_list ap;

	b->errors++;
	if (b->errors <= ERRORS_SHOWN || b->verbose) {
		fprintf(stderr, "imapbench: conn %u (%s): ", c->id,
		    conn_state_names[st]);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	conn_close(c);
	if (b->mode == MODE_SESSIONS) {
		/* the main loop reconnects it (no recursion on a refusing
		 * server) or retires it once the run is over */
		conn_set_state(b, c, CONN_FREE);
		return;
	}
	conn_set_state(b, c, CONN_DONE);
	b->failed++;
	if (st <= CONN_LOGIN)
		b->setup_failed++;
	if (b->mode == MODE_BULK || b->mode == MODE_NOOP)
		bench_maybe_start_phase(b);
}

static int
conn_login(struct bench *b, struct conn *c)
{
	conn_set_state(b, c, CONN_LOGIN);
	return conn_send(b, c, "LOGIN \"%s\" \"%s\"", b->user, b->pass);
}

/* A tagged reply to the command in flight. */
static int
conn_tagged(struct bench *b, struct conn *c, bool ok, const char *line,
    size_t len)
{
	uint64_t t = now_ns();

	if (!ok) {
		conn_fail(b, c, "%.*s", (int)(len > 200 ? 200 : len - 2),
		    line);
		return 1;
	}
	switch (c->state) {
	case CONN_LOGIN:
		if (b->mode == MODE_IDLE) {
			conn_set_state(b, c, CONN_HELD);
			b->held++;
			return 0;
		}
		if (b->mode == MODE_NOOP) {
			conn_set_state(b, c, CONN_READY);
			b->ready++;
			bench_maybe_start_phase(b);
			return 0;
		}
		conn_set_state(b, c, CONN_SELECT);
		return conn_send(b, c, "%s \"%s\"",
		    b->mode == MODE_BULK ? "EXAMINE" : "SELECT", b->mailbox);
	case CONN_SELECT:
		if (b->mode == MODE_SESSIONS) {
			conn_set_state(b, c, CONN_FETCH);
			return conn_send(b, c, "FETCH 1 BODY.PEEK[]");
		}
		conn_set_state(b, c, CONN_READY);
		b->ready++;
		bench_maybe_start_phase(b);
		return 0;
	case CONN_FETCH:
		if (b->mode == MODE_SESSIONS) {
			conn_set_state(b, c, CONN_LOGOUT);
			return conn_send(b, c, "LOGOUT");
		}
		if (++c->done_cmds < b->repeat)
			return conn_send(b, c, "UID FETCH 1:* BODY.PEEK[]");
		conn_set_state(b, c, CONN_LOGOUT);
		b->t_end = t;
		return conn_send(b, c, "LOGOUT");
	case CONN_NOOP:
		sample_add(b, t - c->t_cmd);
		if (++c->done_cmds < b->count && !got_term)
			return conn_send(b, c, "NOOP");
		b->t_end = t;
		conn_set_state(b, c, CONN_LOGOUT);
		return conn_send(b, c, "LOGOUT");
	case CONN_LOGOUT:
		if (b->mode == MODE_SESSIONS) {
			sample_add(b, t - c->t_session);
			b->sessions++;
			b->t_end = t;
			conn_close(c);
			if (t < b->deadline && !got_term)
				bench_connect(b, c);
			else
				conn_finish(b, c);
			return 1;
		}
		conn_finish(b, c);
		return 1;
	case CONN_CHECK:
		b->checked++;
		conn_finish(b, c);
		return 1;
	default:
		conn_fail(b, c, "unexpected tagged reply");
		return 1;
	}
}

/*
 * One CRLF-terminated line (or the piece of a response between literals).
 * Returns 0 to go on parsing, 1 when the connection was closed or reset,
 * -1 on failure (already reported).
 */
static int
conn_line(struct bench *b, struct conn *c, const char *line, size_t len)
{
	bool cont = c->cont;
	size_t taglen;

	c->cont = false;
	if (len >= 4 && line[len - 2] == '\r' && line[len - 3] == '}') {
		const char *p = line + len - 4;
		uint64_t n = 0, mul = 1;

		if (*p == '+' || *p == '-')
			p--;
		for (; p > line && *p >= '0' && *p <= '9'; p--) {
			n += (uint64_t)(*p - '0') * mul;
			mul *= 10;
		}
		if (*p == '{' && mul > 1 && mul <= 1000000000000ull) {
			c->lit_left = n;
			c->cont = true;
		}
	}
	if (cont)
		return 0;
	if (line[0] == '*') {
		if (c->state == CONN_GREETING) {
			if (len < 5 || strncmp(line, "* OK", 4) != 0) {
				conn_fail(b, c, "greeting: %.*s",
				    (int)(len > 200 ? 200 : len), line);
				return 1;
			}
			return conn_login(b, c) < 0 ? 1 : 0;
		}
		if (len >= 5 && strncmp(line, "* BYE", 5) == 0 &&
		    c->state != CONN_LOGOUT) {
			conn_fail(b, c, "%.*s", (int)(len - 2), line);
			return 1;
		}
		return 0;
	}
	taglen = strlen(c->tag);
	if (c->state == CONN_GREETING || len < taglen + 4 ||
	    memcmp(line, c->tag, taglen) != 0 || line[taglen] != ' ') {
		conn_fail(b, c, "unexpected: %.*s",
		    (int)(len > 200 ? 200 : len), line);
		return 1;
	}
	return conn_tagged(b, c,
	    memcmp(line + taglen + 1, "OK", 2) == 0, line, len);
}

/* Consumes what is in rbuf; literal bytes are counted and skipped. */
static int
conn_parse(struct bench *b, struct conn *c)
{
	char *p = c->rbuf, *end = c->rbuf + c->rlen;

	while (p < end) {
		char *nl;
		int r;

		if (c->lit_left > 0) {
			size_t n = (size_t)(end - p);

			if (n > c->lit_left)
				n = (size_t)c->lit_left;
			c->lit_left -= n;
			b->bytes += n;
			p += n;
			continue;
		}
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			break;
		r = conn_line(b, c, p, (size_t)(nl + 1 - p));
		if (r != 0)
			return r;
		p = nl + 1;
	}
	c->rlen = (size_t)(end - p);
	if (c->rlen > 0 && p != c->rbuf)
		memmove(c->rbuf, p, c->rlen);
	return 0;
}

static void
conn_event(struct bench *b, struct conn *c, uint32_t events)
{
	if (c->state == CONN_CONNECTING) {
		int err = 0;
		socklen_t elen = sizeof(err);

		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
			err = errno;
		if (err != 0) {
			conn_fail(b, c, "connect: %s", strerror(err));
			return;
		}
		conn_set_state(b, c, b->tls ? CONN_HANDSHAKE : CONN_GREETING);
	}
	if (c->state == CONN_HANDSHAKE) {
		int r = SSL_connect(c->ssl);

		if (r != 1) {
			int e = SSL_get_error(c->ssl, r);

			if (e == SSL_ERROR_WANT_READ ||
			    e == SSL_ERROR_WANT_WRITE)
				return;
			conn_fail(b, c, "TLS handshake: %s",
			    ERR_reason_error_string(ERR_get_error()));
			return;
		}
		conn_set_state(b, c, CONN_GREETING);
	}
	if (c->wlen > 0 && conn_flush(b, c) < 0)
		return;
	for (;;) {
		ssize_t n;

		if (c->rlen == c->rcap) {
			conn_fail(b, c, "response line over %zu bytes",
			    c->rcap);
			return;
		}
		n = conn_io_read(c, c->rbuf + c->rlen, c->rcap - c->rlen);
		if (n == IO_AGAIN)
			return;
		if (n == 0) {
			conn_fail(b, c, "connection closed by server");
			return;
		}
		if (n < 0) {
			conn_fail(b, c, "read: %s", c->ssl ?
			    ERR_reason_error_string(ERR_get_error()) :
			    strerror(errno));
			return;
		}
		c->rlen += (size_t)n;
		if (conn_parse(b, c) != 0)
			return;
	}
}

static void
bench_connect(struct bench *b, struct conn *c)
{
	struct epoll_event ev;
	int one = 1;

	conn_close(c);
	c->seq = 0;
	c->done_cmds = 0;
	c->tag[0] = '\0';
	c->t_session = now_ns();
	c->gen++;
	conn_set_state(b, c, CONN_CONNECTING);
	c->fd = socket(b->addr.ss_family,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		conn_fail(b, c, "socket: %s", strerror(errno));
		return;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (b->tls) {
		c->ssl = SSL_new(b->ssl_ctx);
		if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
			conn_fail(b, c, "SSL_new failed");
			return;
		}
		SSL_set_tlsext_host_name(c->ssl, "localhost");
	}
	ev.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP;
	ev.data.u64 = (uint64_t)c->gen << 32 | c->id;
	if (epoll_ctl(b->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		conn_fail(b, c, "epoll_ctl: %s", strerror(errno));
		return;
	}
	if (connect(c->fd, (struct sockaddr *)&b->addr, b->addrlen) < 0 &&
	    errno != EINPROGRESS) {
		conn_fail(b, c, "connect: %s", strerror(errno));
		return;
	}
}

/* bulk/noop: once every connection is ready (or failed), start together. */
static void
bench_maybe_start_phase(struct bench *b)
{
	if (b->phase_started || b->ready + b->failed < b->conns)
		return;
	b->phase_started = true;
	b->t_phase = now_ns();
	for (unsigned int i = 0; i < b->conns; i++) {
		struct conn *c = &b->c[i];

		if (c->state != CONN_READY)
			continue;
		if (b->mode == MODE_BULK) {
			conn_set_state(b, c, CONN_FETCH);
			conn_send(b, c, "UID FETCH 1:* BODY.PEEK[]");
		} else {
			conn_set_state(b, c, CONN_NOOP);
			conn_send(b, c, "NOOP");
		}
	}
}

static void
bench_check_held(struct bench *b)
{
	for (unsigned int i = 0; i < b->conns; i++) {
		struct conn *c = &b->c[i];

		if (c->state != CONN_HELD)
			continue;
		conn_set_state(b, c, CONN_CHECK);
		conn_send(b, c, "NOOP");
	}
}

/* ---- setup and report --------------------------------------------------- */

static int
raise_nofile(unsigned int conns)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)conns + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -1;
	if (rl.rlim_cur >= want)
		return 0;
	if (rl.rlim_max < want) {
		rl.rlim_max = want;	/* works as root */
	}
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
		fprintf(stderr, "imapbench: cannot raise RLIMIT_NOFILE to "
		    "%llu: %s\n", (unsigned long long)want, strerror(errno));
		return -1;
	}
	return 0;
}

static void
report(struct bench *b, const char *status)
{
	uint64_t end = b->t_end ? b->t_end : now_ns();
	double el;

	if (b->nsamples > 0)
		qsort(b->samples, b->nsamples, sizeof(*b->samples), cmp_u64);

	printf("RESULT mode=%s status=%s conns=%u errors=%" PRIu64,
	    mode_names[b->mode], status, b->conns, b->errors);
	switch (b->mode) {
	case MODE_SESSIONS:
		el = ns_to_s(end - b->t_start);
		printf(" secs=%.3f sessions=%" PRIu64 " rate=%.1f"
		    " p50_ms=%.3f p99_ms=%.3f", el, b->sessions,
		    el > 0 ? (double)b->sessions / el : 0,
		    percentile_ms(b, 50), percentile_ms(b, 99));
		break;
	case MODE_BULK:
		el = b->phase_started ? ns_to_s(end - b->t_phase) : 0;
		printf(" secs=%.3f bytes=%" PRIu64 " mb_per_s=%.1f", el,
		    b->bytes, el > 0 ? (double)b->bytes / 1e6 / el : 0);
		break;
	case MODE_NOOP:
		el = b->phase_started ? ns_to_s(end - b->t_phase) : 0;
		printf(" secs=%.3f noops=%zu p50_ms=%.4f p99_ms=%.4f",
		    el, b->nsamples, percentile_ms(b, 50),
		    percentile_ms(b, 99));
		break;
	case MODE_IDLE:
		printf(" held=%u checked=%u", b->held, b->checked);
		break;
	}
	putchar('\n');
	fflush(stdout);
}

static int
resolve(struct bench *b)
{
	struct addrinfo hints, *res;
	int r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	r = getaddrinfo(b->host, b->port, &hints, &res);
	if (r != 0) {
		fprintf(stderr, "imapbench: %s:%s: %s\n", b->host, b->port,
		    gai_strerror(r));
		return -1;
	}
	memcpy(&b->addr, res->ai_addr, res->ai_addrlen);
	b->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static void
usage(FILE *f)
{
	fprintf(f,
"usage: imapbench MODE -p PORT [options]\n"
"MODE:  sessions | bulk | noop | idle\n"
"  -H, --host HOST       target host (127.0.0.1)\n"
"  -p, --port PORT       target port (required)\n"
"  -u, --user USER       login user (alice)\n"
"  -w, --pass PASS       password (alicepw)\n"
"  -c, --conns N         concurrent connections (sessions 8, bulk 4,\n"
"                        noop 1, idle 1000)\n"
"  -t, --time SECS       sessions: how long to keep starting sessions (5)\n"
"  -n, --count N         noop: NOOPs per connection (5000)\n"
"  -m, --mailbox NAME    mailbox (sessions INBOX, bulk \"bulk\")\n"
"  -r, --repeat N        bulk: whole-mailbox fetches per connection (1)\n"
"      --ramp N          idle: connections in setup at once (100)\n"
"      --hold SECS       idle: give up holding after SECS (300)\n"
"      --tls             implicit TLS (certificate not verified)\n"
"      --max-time SECS   hard limit for the whole run (300); exit 3\n"
"  -v, --verbose         report every error (twice: state changes)\n"
"  -h, --help\n"
"Prints one line \"RESULT mode=... key=value ...\" on stdout.  idle prints\n"
"\"READY held=N failed=N\" once set up, then holds until SIGUSR1 (check\n"
"every connection with a NOOP, report, exit) or SIGTERM (exit).\n"
"Exit: 0 run complete (see errors=), 1 setup failure, 2 usage, 3 timeout.\n");
}

static int
parse_uint(const char *s, unsigned int max, unsigned int *out_r)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v == 0 || v > max)
		return -1;
	*out_r = (unsigned int)v;
	return 0;
}

static int
parse_secs(const char *s, double *out_r)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v > 0) || v > 86400)
		return -1;
	*out_r = v;
	return 0;
}

static int
parse_args(struct bench *b, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },
		{ "user", required_argument, NULL, 'u' },
		{ "pass", required_argument, NULL, 'w' },
		{ "conns", required_argument, NULL, 'c' },
		{ "time", required_argument, NULL, 't' },
		{ "count", required_argument, NULL, 'n' },
		{ "mailbox", required_argument, NULL, 'm' },
		{ "repeat", required_argument, NULL, 'r' },
		{ "ramp", required_argument, NULL, 'R' },
		{ "hold", required_argument, NULL, 'D' },
		{ "tls", no_argument, NULL, 'T' },
		{ "max-time", required_argument, NULL, 'M' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch, m;

	b->host = "127.0.0.1";
	b->user = "alice";
	b->pass = "alicepw";
	b->seconds = 5;
	b->count = 5000;
	b->repeat = 1;
	b->ramp = 100;
	b->hold = 300;
	b->max_time = 300;
	if (argc >= 2 && (strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0)) {
		usage(stdout);
		exit(0);
	}
	if (argc < 2) {
		usage(stderr);
		return -1;
	}
	for (m = 0; m <= MODE_IDLE; m++)
		if (strcmp(argv[1], mode_names[m]) == 0)
			break;
	if (m > MODE_IDLE) {
		fprintf(stderr, "imapbench: unknown mode '%s'\n", argv[1]);
		return -1;
	}
	b->mode = (enum bench_mode)m;
	b->conns = b->mode == MODE_SESSIONS ? 8 : b->mode == MODE_BULK ? 4 :
	    b->mode == MODE_NOOP ? 1 : 1000;
	b->mailbox = b->mode == MODE_BULK ? "bulk" : "INBOX";
	optind = 2;
	while ((ch = getopt_long(argc, argv, "H:p:u:w:c:t:n:m:r:vh", opts,
	    NULL)) != -1) {
		int bad = 0;

		switch (ch) {
		case 'H': b->host = optarg; break;
		case 'p': b->port = optarg; break;
		case 'u': b->user = optarg; break;
		case 'w': b->pass = optarg; break;
		case 'm': b->mailbox = optarg; break;
		case 'c': bad = parse_uint(optarg, 100000, &b->conns); break;
		case 'n': bad = parse_uint(optarg, 10000000, &b->count); break;
		case 'r': bad = parse_uint(optarg, 1000, &b->repeat); break;
		case 'R': bad = parse_uint(optarg, 100000, &b->ramp); break;
		case 't': bad = parse_secs(optarg, &b->seconds); break;
		case 'D': bad = parse_secs(optarg, &b->hold); break;
		case 'M': bad = parse_secs(optarg, &b->max_time); break;
		case 'T': b->tls = true; break;
		case 'v': b->verbose++; break;
		case 'h': usage(stdout); exit(0);
		default: return -1;
		}
		if (bad) {
			fprintf(stderr, "imapbench: bad value '%s'\n", optarg);
			return -1;
		}
	}
	if (optind != argc || b->port == NULL) {
		usage(stderr);
		return -1;
	}
	/* quoted strings: no quotes, backslashes or line breaks */
	if (strpbrk(b->user, "\"\\\r\n") || strpbrk(b->pass, "\"\\\r\n") ||
	    strpbrk(b->mailbox, "\"\\\r\n")) {
		fprintf(stderr, "imapbench: user, password and mailbox must "
		    "not contain quotes, backslashes or line breaks\n");
		return -1;
	}
	return 0;
}

static bool
bench_done(const struct bench *b)
{
	return b->finished + b->failed >= b->conns;
}

/* Starts what the ramp allows (idle) or restarts failed slots (sessions). */
static void
bench_top_up(struct bench *b)
{
	if (b->mode == MODE_IDLE) {
		while (b->launched < b->conns && b->launched - b->held -
		    b->setup_failed < b->ramp)
			bench_connect(b, &b->c[b->launched++]);
		return;
	}
	if (b->mode != MODE_SESSIONS)
		return;
	for (unsigned int i = 0; i < b->conns; i++) {
		struct conn *c = &b->c[i];

		if (c->state != CONN_FREE)
			continue;
		if (now_ns() < b->deadline && !got_term) {
			bench_connect(b, c);
		} else {
			conn_set_state(b, c, CONN_DONE);
			b->failed++;
		}
	}
}

int
main(int argc, char **argv)
{
	struct bench bench, *b = &bench;
	struct epoll_event evs[256];
	struct sigaction sa;
	bool ready_printed = false;
	uint64_t hard_deadline, hold_deadline = 0, check_deadline = 0;
	size_t rcap;

	memset(b, 0, sizeof(*b));
	if (parse_args(b, argc, argv) < 0)
		return 2;
	if (resolve(b) < 0 || raise_nofile(b->conns) < 0)
		return 1;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (b->tls) {
		b->ssl_ctx = SSL_CTX_new(TLS_client_method());
		if (b->ssl_ctx == NULL)
			return 1;
		SSL_CTX_set_min_proto_version(b->ssl_ctx, TLS1_2_VERSION);
		SSL_CTX_set_verify(b->ssl_ctx, SSL_VERIFY_NONE, NULL);
		SSL_CTX_set_mode(b->ssl_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
		    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
		    SSL_MODE_RELEASE_BUFFERS);
	}
	b->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (b->epfd < 0) {
		perror("imapbench: epoll_create1");
		return 1;
	}
	rcap = b->mode == MODE_BULK ? RBUF_BULK : RBUF_SMALL;
	b->c = xcalloc(b->conns, sizeof(*b->c));
	for (unsigned int i = 0; i < b->conns; i++) {
		b->c[i].id = i;
		b->c[i].fd = -1;
		b->c[i].rcap = rcap;
		b->c[i].rbuf = xmalloc(rcap);
	}

	b->t_start = now_ns();
	b->deadline = b->t_start + (uint64_t)(b->seconds * 1e9);
	hard_deadline = b->t_start + (uint64_t)(b->max_time * 1e9);
	if (b->mode != MODE_IDLE) {
		b->launched = b->conns;
		for (unsigned int i = 0; i < b->conns; i++)
			bench_connect(b, &b->c[i]);
	}

	for (;;) {
		uint64_t t = now_ns();
		int n;

		bench_top_up(b);
		if (t > hard_deadline) {
			fprintf(stderr, "imapbench: --max-time %.0f s reached\n",
			    b->max_time);
			report(b, "timeout");
			return 3;
		}
		if (b->mode == MODE_IDLE) {
			if (!ready_printed &&
			    b->held + b->setup_failed >= b->conns) {
				printf("READY held=%u failed=%u secs=%.3f\n",
				    b->held, b->failed,
				    ns_to_s(t - b->t_start));
				fflush(stdout);
				ready_printed = true;
				hold_deadline = t + (uint64_t)(b->hold * 1e9);
			}
			if (got_term || (ready_printed && t > hold_deadline)) {
				report(b, got_term ? "stopped" : "hold-expired");
				return 0;
			}
			if (got_usr1 && check_deadline == 0) {
				check_deadline = t + 30 * 1000000000ull;
				bench_check_held(b);
			}
			if (check_deadline != 0 &&
			    (bench_done(b) || t > check_deadline)) {
				report(b, "ok");
				return 0;
			}
		} else if (bench_done(b)) {
			report(b, b->finished > 0 || b->sessions > 0 ?
			    "ok" : "failed");
			return 0;
		} else if (got_term) {
			report(b, "stopped");
			return 0;
		}
		n = epoll_wait(b->epfd, evs, (int)(sizeof(evs) / sizeof(evs[0])),
		    50);
		if (n < 0 && errno != EINTR) {
			perror("imapbench: epoll_wait");
			return 1;
		}
		for (int i = 0; i < n; i++) {
			uint64_t u = evs[i].data.u64;
			struct conn *c = &b->c[(uint32_t)u];

			if (c->gen != (uint32_t)(u >> 32) || c->fd < 0 ||
			    c->state == CONN_DONE)
				continue;
			conn_event(b, c, evs[i].events);
		}
	}
}
