/* spool_stage.c - see spool_stage.h and docs/spool.md, "Staged writes". */
#include "capture/spool_stage.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "capture/spool.h"
#include "lib/xmalloc.h"

_Static_assert(SPOOL_STAGE_HDR == SPOOL_STAGE_HDR_SIZE,
    "spool.h and spool_stage.h disagree on the stage header's size");

#define STAGE_MAGIC SPOOL_STAGE_MAGIC
#define STAGE_HDR SPOOL_STAGE_HDR
#define STAGE_BLK SPOOL_STAGE_BLK
#define STAGE_IO_MAX (1024 * 1024)	/* largest single write */
/* Largest segment a writer makes: segment_size (<= 4 GiB) and a record. */
#define STAGE_SEG_MAX (8ULL << 30)
#define STAGE_WAKE (1024 * 1024)	/* un-committed bytes worth a wake-up */

/* The I/O side: the thread's state, and recovery's. */
struct stage_io {
	const char *dir;
	const char *id;
	struct spool_stage_hdr *h;
	uint8_t *ring;
	uint64_t size;
	uint64_t d;		/* durable, local copy */
	uint64_t seg_seq, seg_base;
	int bfd, dfd;		/* the segment, plain and O_DIRECT (or -1) */
	bool failed;		/* a write failed: discard to the segment end */
	uint64_t seg_commits;	/* records committed before this segment */
	uint64_t kept;		/* failed: records whole in the file */
	uint64_t counted;	/* failed: records already counted lost */
	struct spool_stage_loss loss;	/* where to count them (not in
					 * recovery: no writer) */
	_Atomic uint64_t untold;	/* and how many the writer has not
					 * been told of */
	/* Recovery (another process, after the writer died): segments may
	 * exist already, and everything is written plain.  The thread:
	 * new segments only, blocks with O_DIRECT. */
	bool recovering;
};

struct spool_stage {
	struct stage_io io;
	char *dir, *id;
	char path[4096];	/* the stage file */
	char link[4096];	/* DIR/<id>.stage, pointing at it */
	void *map;
	size_t map_len;
	int efd;
	pthread_t thread;
	pthread_mutex_t lock;	/* io: the thread's, or a helping producer's */
	bool thread_up;
	bool created;		/* the file is ours to remove */
	_Atomic bool stop;
	uint64_t last_kick;
};

static void
stage_io_close_seg(struct stage_io *io)
{
	if (io->bfd >= 0)
		close(io->bfd);
	if (io->dfd >= 0)
		close(io->dfd);
	io->bfd = io->dfd = -1;
}

/* Opens segment seq for writing, with an O_DIRECT descriptor beside the
 * plain one unless recovering (file systems without it: plain only). */
static int
stage_io_open_seg(struct stage_io *io, uint64_t seq)
{
	char path[4096];

	stage_io_close_seg(io);
	if (spool_segment_path(path, sizeof(path), io->dir, io->id, seq) != 0)
		return -1;
	io->bfd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC |
	    (io->recovering ? 0 : O_EXCL), 0640);
	if (io->bfd < 0)
		return -1;
	if (!io->recovering)
		io->dfd = open(path, O_WRONLY | O_DIRECT | O_CLOEXEC);
	return 0;
}

static uint64_t
min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* Writes n ring bytes at the stream position io->d to the segment. */
static int
stage_io_write(struct stage_io *io, size_t n, bool direct)
{
	const uint8_t *p = io->ring + io->d % io->size;
	off_t off = (off_t)(io->d - io->seg_base);

	while (n > 0) {
		ssize_t k = pwrite(direct ? io->dfd : io->bfd, p, n, off);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && direct && errno == EINVAL) {
			/* the file system refuses O_DIRECT after all */
			close(io->dfd);
			io->dfd = -1;
			direct = false;
			continue;
		}
		if (k <= 0) {
			if (k == 0)
				errno = EIO;
			return -1;
		}
		p += k;
		off += k;
		n -= (size_t)k;
		io->d += (uint64_t)k;
	}
	return 0;
}

/*
 * One step toward the stream position lim (committed up to clim, both
 * capped at the segment's end): how many bytes to write and how.  Blocks
 * go direct once enough have gathered, or when committed bytes wait; a
 * committed tail shorter than a block goes plain, and so does the rest of
 * a block a plain write began, so no block is ever written both ways
 * while its page may be cached.  0: nothing worth writing yet.
 */
static size_t
stage_io_plan(const struct stage_io *io, uint64_t lim, uint64_t clim,
    bool *direct_r)
{
	uint64_t d = io->d, in_blk = (d - io->seg_base) % STAGE_BLK, n = 0;
	uint64_t wrap = io->size - d % io->size;

	*direct_r = false;
	if (lim <= d)
		return 0;
	if (io->dfd < 0) {
		/* plain only: all committed bytes, or a wake-up's worth */
		if (clim > d)
			n = clim - d;
		else if (lim - d >= STAGE_WAKE)
			n = lim - d;
	} else if (in_blk != 0) {
		uint64_t bend = d + (STAGE_BLK - in_blk);

		if (lim >= bend)
			n = bend - d;
		else if (clim > d)
			n = clim - d;
	} else if (lim - d >= STAGE_WAKE) {
		n = (lim - d) & ~(uint64_t)(STAGE_BLK - 1);
		*direct_r = true;
	} else if (clim > d) {
		n = clim - d;
		if (n >= STAGE_BLK) {
			n &= ~(uint64_t)(STAGE_BLK - 1);
			*direct_r = true;
		}
	}
	n = min64(min64(n, STAGE_IO_MAX), wrap);
	return (size_t)n;
}

/* The next segment's turn: the current one is written to its end. */
static int
stage_io_switch(struct stage_io *io, uint64_t seq, uint64_t pos)
{
	io->seg_seq = seq;
	io->seg_base = pos;
	io->d = pos;
	io->failed = false;
	io->kept = io->counted = 0;
	atomic_store(&io->h->seg_seq, seq);
	atomic_store(&io->h->seg_base, pos);
	atomic_store(&io->h->durable, pos);
	return stage_io_open_seg(io, seq);
}

/* Committed records whole in the current segment's file (what a failed
 * write left there), read back as crm-capture would read them. */
static uint64_t
stage_io_kept(const struct stage_io *io)
{
	struct spool_record rec = { 0 };
	struct spool_reader *r;
	char path[4096];
	uint64_t nonce, n = 0;

	if (io->bfd < 0 || spool_segment_path(path, sizeof(path), io->dir,
	    io->id, io->seg_seq) != 0 ||
	    (r = spool_reader_open(path, 0, &nonce)) == NULL)
		return 0;
	while (spool_reader_next(r, true, &rec) == SPOOL_READ_RECORD)
		n++;
	spool_record_clear(&rec);
	spool_reader_close(&r);
	return n;
}

/*
 * Counts what a failed segment lost, given commits, the records committed
 * so far: every one committed into it and not whole in its file, less
 * those counted already.  Called at the failure (the records committed
 * until then), and again when the segment is done (those committed into
 * it after the failure, before the writer moved on).  A record the
 * writer put whole but has not counted yet is not lost either: the
 * second call finds it.
 */
static void
stage_io_count_lost(struct stage_io *io, uint64_t commits)
{
	uint64_t n = commits > io->seg_commits ? commits - io->seg_commits : 0;

	if (!io->failed || io->loss.lost == NULL || n <= io->kept + io->counted)
		return;
	n -= io->kept + io->counted;
	io->counted += n;
	atomic_fetch_add(io->loss.failed, n);
	atomic_fetch_add(io->loss.lost, n);
	atomic_fetch_add(&io->untold, n);
}

/* A write failed: the rest of the segment is discarded from here on. */
static void
stage_io_fail(struct stage_io *io)
{
	int saved = errno;

	io->failed = true;
	io->kept = io->loss.lost != NULL ? stage_io_kept(io) : 0;
	stage_io_count_lost(io, atomic_load(&io->h->commits));
	errno = saved;
}

/* The current segment is done; commits records were committed before
 * the next one. */
static void
stage_io_settle(struct stage_io *io, uint64_t commits)
{
	stage_io_count_lost(io, commits);
	io->seg_commits = commits;
}

/*
 * Where the current segment's bytes end for now: *lim what was put, *clim
 * what is committed, both capped at a waiting rotation.  Returns the next
 * segment's number when the current one is written to its end (time to
 * switch), else 0.  d: the stream position written so far.
 */
static uint64_t
stage_bounds(struct spool_stage_hdr *h, uint64_t d, uint64_t *lim,
    uint64_t *clim)
{
	uint64_t rs = atomic_load(&h->rot_seq);

	*lim = atomic_load(&h->end);
	*clim = atomic_load(&h->commit);
	if (rs != 0) {
		uint64_t from = atomic_load(&h->rot_from);

		if (d >= from)
			return rs;
		*lim = min64(*lim, from);
		*clim = min64(*clim, from);
	}
	return 0;
}

/*
 * Does one unit of work: a write, a segment switch, or a discard after a
 * failure.  all: treat everything put as committed (recovery, and the
 * thread's last pass).  Returns 1 when it did something, 0 when there was
 * nothing to do, -1 when a write failed (errno; the segment's rest is
 * discarded from then on).
 */
static int
stage_io_step(struct stage_io *io, bool all)
{
	struct spool_stage_hdr *h = io->h;
	uint64_t lim, clim, next = stage_bounds(h, io->d, &lim, &clim);
	size_t n;
	bool dio;

	if (next != 0) {
		int rc;

		stage_io_settle(io, atomic_load(&h->rot_commits));
		rc = stage_io_switch(io, next, atomic_load(&h->rot_pos));
		atomic_store(&h->rot_seq, 0);
		if (rc != 0) {
			io->failed = true;	/* no file: nothing kept */
			return -1;
		}
		return 1;
	}
	if (all)
		clim = lim;
	if (io->failed || io->bfd < 0) {
		if (lim <= io->d)
			return 0;
		io->d = lim;
		atomic_store(&h->durable, io->d);
		return 1;
	}
	if ((n = stage_io_plan(io, lim, clim, &dio)) == 0)
		return 0;
	if (stage_io_write(io, n, dio) != 0) {
		stage_io_fail(io);
		atomic_store(&h->durable, io->d);
		return -1;
	}
	atomic_store(&h->durable, io->d);
	return 1;
}

/* ---- the thread -------------------------------------------------------- */

/* Tests: keep every thread from writing, so a kill leaves a full stage. */
static _Atomic bool stage_hold;

void
spool_stage_hold(bool on)
{
	atomic_store(&stage_hold, on);
}

static bool
stage_has_work(struct spool_stage *st)
{
	/* not io->d: a helping producer may be moving it */
	uint64_t d = atomic_load(&st->io.h->durable), lim, clim;

	if (atomic_load(&st->stop) || stage_bounds(st->io.h, d, &lim, &clim))
		return true;
	return clim > d || (lim > d && lim - d >= STAGE_WAKE);
}

static void *
stage_thread(void *arg)
{
	struct spool_stage *st = arg;
	struct stage_io *io = &st->io;

	for (;;) {
		int rc;

		if (atomic_load(&stage_hold) && !atomic_load(&st->stop)) {
			struct timespec ts = { 0, 1000000 };

			nanosleep(&ts, NULL);
			continue;
		}
		pthread_mutex_lock(&st->lock);
		rc = stage_io_step(io, false);
		pthread_mutex_unlock(&st->lock);
		if (rc < 0)
			atomic_fetch_add(&io->h->errors, 1);
		if (rc != 0)
			continue;
		if (atomic_load(&st->stop)) {
			/* close: the producer has put its last byte */
			pthread_mutex_lock(&st->lock);
			while ((rc = stage_io_step(io, true)) != 0)
				if (rc < 0)
					atomic_fetch_add(&io->h->errors, 1);
			stage_io_settle(io, atomic_load(&io->h->commits));
			pthread_mutex_unlock(&st->lock);
			break;
		}
		/* Sleep; the producer kicks after seeing idle set, and we
		 * look once more after setting it, so no kick is missed. */
		atomic_store(&io->h->idle, 1);
		if (!stage_has_work(st)) {
			uint64_t v;

			while (read(st->efd, &v, sizeof(v)) < 0 &&
			    errno == EINTR)
				;
		}
		atomic_store(&io->h->idle, 0);
	}
	return NULL;
}

static void
stage_kick(struct spool_stage *st)
{
	uint64_t one = 1;

	if (atomic_load(&st->io.h->idle) &&
	    write(st->efd, &one, sizeof(one)) < 0) {
		/* the counter cannot overflow at one per kick */
	}
}

/* ---- producer ---------------------------------------------------------- */

uint64_t
spool_stage_room(struct spool_stage *st)
{
	struct spool_stage_hdr *h = st->io.h;
	uint64_t used = atomic_load(&h->end) - atomic_load(&h->durable);

	return used >= st->io.size ? 0 : st->io.size - used;
}

/*
 * The ring is full: the thread is behind by its whole size (on a busy
 * machine it may wait long for a CPU).  Rather than drop a record, the
 * caller writes blocks itself until need bytes fit, as write(2) blocks
 * once the page cache holds too much dirty data.  False if they cannot
 * fit (a write error discards; need larger than the ring).
 */
static bool
stage_help(struct spool_stage *st, uint64_t need)
{
	int rc = 1;

	stage_kick(st);
	pthread_mutex_lock(&st->lock);
	while (need > spool_stage_room(st) && rc != 0)
		if ((rc = stage_io_step(&st->io, false)) < 0)
			atomic_fetch_add(&st->io.h->errors, 1);
	pthread_mutex_unlock(&st->lock);
	return need <= spool_stage_room(st);
}

ssize_t
spool_stage_put(struct spool_stage *st, const struct iovec *iov, int iovcnt)
{
	struct spool_stage_hdr *h = st->io.h;
	uint64_t e = atomic_load_explicit(&h->end, memory_order_relaxed);
	size_t total = 0;

	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	if (total > spool_stage_room(st) && !stage_help(st, total)) {
		errno = ENOBUFS;
		return -1;
	}
	for (int i = 0; i < iovcnt; i++) {
		const uint8_t *p = iov[i].iov_base;
		size_t n = iov[i].iov_len;

		while (n > 0) {
			size_t at = (size_t)(e % st->io.size);
			size_t k = st->io.size - at < n ? st->io.size - at : n;

			memcpy(st->io.ring + at, p, k);
			p += k;
			n -= k;
			e += k;
		}
	}
	atomic_store(&h->end, e);
	if (e - st->last_kick >= STAGE_WAKE) {
		st->last_kick = e;
		stage_kick(st);
	}
	return (ssize_t)total;
}

void
spool_stage_commit(struct spool_stage *st)
{
	atomic_store(&st->io.h->commit, atomic_load(&st->io.h->end));
	stage_kick(st);
}

void
spool_stage_count_record(struct spool_stage *st)
{
	atomic_fetch_add(&st->io.h->commits, 1);
}

bool
spool_stage_can_rotate(struct spool_stage *st)
{
	return atomic_load(&st->io.h->rot_seq) == 0;
}

int
spool_stage_rotate(struct spool_stage *st, uint64_t seq, size_t need)
{
	struct spool_stage_hdr *h = st->io.h;
	uint64_t e = atomic_load(&h->end);
	uint64_t pos = (e + STAGE_BLK - 1) & ~(uint64_t)(STAGE_BLK - 1);

	if (atomic_load(&h->rot_seq) != 0 || seq == 0) {
		errno = EBUSY;
		return -1;
	}
	if (pos - e + need > spool_stage_room(st)) {
		errno = ENOBUFS;
		return -1;
	}
	atomic_store(&h->rot_from, e);
	atomic_store(&h->rot_pos, pos);
	atomic_store(&h->rot_commits, atomic_load(&h->commits));
	atomic_store(&h->end, pos);
	atomic_store(&h->commit, pos);
	atomic_store(&h->rot_seq, seq);
	st->last_kick = pos;
	stage_kick(st);
	return 0;
}

unsigned
spool_stage_take_errors(struct spool_stage *st)
{
	return atomic_exchange(&st->io.h->errors, 0);
}

uint64_t
spool_stage_take_lost(struct spool_stage *st)
{
	/* a load first: called for every record, and almost always 0 */
	if (atomic_load_explicit(&st->io.untold, memory_order_relaxed) == 0)
		return 0;
	return atomic_exchange(&st->io.untold, 0);
}



void
spool_stage_wait(struct spool_stage *st)
{
	struct spool_stage_hdr *h = st->io.h;

	stage_kick(st);
	while (atomic_load(&h->durable) < atomic_load(&h->commit) ||
	    atomic_load(&h->rot_seq) != 0) {
		struct timespec ts = { 0, 200000 };

		stage_kick(st);
		nanosleep(&ts, NULL);
	}
}

static void
stage_unmap(struct spool_stage *st)
{
	if (st->map != NULL && st->map != MAP_FAILED)
		munmap(st->map, st->map_len);
	st->map = NULL;
}

struct spool_stage *
spool_stage_open(const char *dir, const char *id, const char *stage_dir,
    uint64_t size, uint64_t first_seq, struct spool_stage_loss loss,
    const char **errstr_r)
{
	struct spool_stage *st;
	char tmp[4096 + 8];
	struct stat sb;
	int fd = -1;

	if (size < SPOOL_STAGE_MIN || size > SPOOL_STAGE_MAX ||
	    size % SPOOL_STAGE_MIN != 0) {
		*errstr_r = "stage size must be 4 MiB to 4 GiB, a multiple of 4 MiB";
		errno = EINVAL;
		return NULL;
	}
	if (stat(dir, &sb) != 0) {
		*errstr_r = "cannot stat the spool directory";
		return NULL;
	}
	st = xcalloc(1, sizeof(*st));
	st->dir = xstrdup(dir);
	st->id = xstrdup(id);
	st->efd = -1;
	pthread_mutex_init(&st->lock, NULL);
	st->io.dir = st->dir;
	st->io.id = st->id;
	st->io.bfd = st->io.dfd = -1;
	st->io.size = size;
	st->io.loss = loss;
	/* One stage per writer of each spool directory. */
	if ((size_t)snprintf(st->path, sizeof(st->path),
	    "%s/crm-%s-%llx-%llx.stage", stage_dir, id,
	    (unsigned long long)sb.st_dev, (unsigned long long)sb.st_ino) >=
	    sizeof(st->path) ||
	    (size_t)snprintf(st->link, sizeof(st->link), "%s/%s.stage", dir,
	    id) >= sizeof(st->link)) {
		*errstr_r = "stage path too long";
		errno = ENAMETOOLONG;
		goto fail;
	}
	if ((fd = open(st->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) < 0) {
		*errstr_r = "cannot create the stage file";
		goto fail;
	}
	st->created = true;
	st->map_len = STAGE_HDR + (size_t)size;
	/* Every page is reserved now, not on first touch: a ring page that a
	 * full tmpfs cannot supply would raise SIGBUS in the relay thread
	 * and take the worker's sessions with it.  A stage that does not fit
	 * is refused here (ENOSPC) and the writer writes its own segments. */
	if ((errno = posix_fallocate(fd, 0, (off_t)st->map_len)) != 0) {
		*errstr_r = "cannot reserve the stage's space";
		goto fail;
	}
	st->map = mmap(NULL, st->map_len, PROT_READ | PROT_WRITE, MAP_SHARED,
	    fd, 0);
	if (st->map == MAP_FAILED) {
		*errstr_r = "cannot map the stage file";
		goto fail;
	}
	close(fd);
	fd = -1;
	st->io.h = st->map;
	st->io.ring = (uint8_t *)st->map + STAGE_HDR;
	st->io.h->size = size;
	atomic_store(&st->io.h->seg_seq, first_seq);
	atomic_store(&st->io.h->magic, STAGE_MAGIC);
	/* The link makes the stage findable from the spool directory; it
	 * appears whole (rename) or not at all. */
	snprintf(tmp, sizeof(tmp), "%s.new", st->link);
	(void)unlink(tmp);
	if (symlink(st->path, tmp) != 0 || rename(tmp, st->link) != 0) {
		*errstr_r = "cannot link the stage into the spool directory";
		goto fail;
	}
	if (stage_io_switch(&st->io, first_seq, 0) != 0) {
		*errstr_r = "cannot create a spool segment";
		goto fail;
	}
	if ((st->efd = eventfd(0, EFD_CLOEXEC)) < 0) {
		*errstr_r = "cannot create an eventfd";
		goto fail;
	}
	if ((errno = pthread_create(&st->thread, NULL, stage_thread, st))
	    != 0) {
		*errstr_r = "cannot start the stage thread";
		goto fail;
	}
	st->thread_up = true;
	return st;
fail:;
	int saved = errno;

	if (fd >= 0)
		close(fd);
	spool_stage_close(&st);
	errno = saved;
	return NULL;
}

uint64_t
spool_stage_close(struct spool_stage **stp)
{
	struct spool_stage *st = *stp;
	uint64_t untold;

	if (st == NULL)
		return 0;
	if (st->thread_up) {
		uint64_t one = 1;

		atomic_store(&st->stop, true);
		if (write(st->efd, &one, sizeof(one)) < 0) {
			/* the thread is awake already */
		}
		pthread_join(st->thread, NULL);
	}
	stage_io_close_seg(&st->io);
	untold = atomic_exchange(&st->io.untold, 0);
	if (st->efd >= 0)
		close(st->efd);
	/* Everything is in the segments (or lost to a counted write error):
	 * the stage goes, link first. */
	if (st->map != NULL || st->created) {
		(void)unlink(st->link);
		(void)unlink(st->path);
	}
	stage_unmap(st);
	pthread_mutex_destroy(&st->lock);
	free(st->dir);
	free(st->id);
	x_free(stp);
	return untold;
}

/* ---- recovery ---------------------------------------------------------- */

/* Whether a stage header of a file of len bytes is one the writer could
 * have left: every position in order and within the ring, so recovery
 * writes at most the ring's size, where the writer would have. */
static bool
stage_hdr_ok(struct spool_stage_hdr *h, uint64_t len)
{
	uint64_t size = h->size, end = atomic_load(&h->end);
	uint64_t commit = atomic_load(&h->commit);
	uint64_t d = atomic_load(&h->durable), seq = atomic_load(&h->seg_seq);
	uint64_t base = atomic_load(&h->seg_base);
	uint64_t rs = atomic_load(&h->rot_seq);
	uint64_t from = atomic_load(&h->rot_from), pos = atomic_load(&h->rot_pos);

	if (atomic_load(&h->magic) != STAGE_MAGIC || size < SPOOL_STAGE_MIN ||
	    size > SPOOL_STAGE_MAX || size % SPOOL_STAGE_MIN != 0 ||
	    len != STAGE_HDR + size)
		return false;
	if (seq == 0 || seq == UINT64_MAX || base % STAGE_BLK != 0 ||
	    base > d || d > end || end - d > size || commit > end ||
	    end - base > STAGE_SEG_MAX)
		return false;
	if (rs != 0 && (rs != seq + 1 || from < d || from > pos ||
	    pos - from >= STAGE_BLK || pos % STAGE_BLK != 0 || pos > end))
		return false;
	return true;
}

int
spool_stage_recover(const char *dir, const char *id)
{
	char link[4096], path[4096];
	struct stage_io io = { .dir = dir, .id = id, .bfd = -1, .dfd = -1,
	    .recovering = true };
	struct stat sb;
	struct spool_stage_hdr *h;
	void *map;
	ssize_t n;
	int fd, rc = 0;

	if ((size_t)snprintf(link, sizeof(link), "%s/%s.stage", dir, id) >=
	    sizeof(link)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((n = readlink(link, path, sizeof(path) - 1)) < 0)
		return errno == ENOENT ? 0 : -1;
	path[n] = '\0';
	if ((fd = open(path, O_RDWR | O_CLOEXEC)) < 0) {
		if (errno != ENOENT)
			return -1;
		/* the stage is gone (a reboot emptied tmpfs): nothing to do */
		(void)unlink(link);
		return 0;
	}
	if (fstat(fd, &sb) != 0 || (size_t)sb.st_size < STAGE_HDR) {
		close(fd);
		(void)unlink(link);
		(void)unlink(path);
		return 0;
	}
	map = mmap(NULL, (size_t)sb.st_size, PROT_READ | PROT_WRITE,
	    MAP_SHARED, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return -1;
	h = map;
	if (!stage_hdr_ok(h, (uint64_t)sb.st_size)) {
		/* Not a stage this code wrote, or damaged: set aside for a
		 * look, never written into a segment. */
		char bad[4096 + 16];

		munmap(map, (size_t)sb.st_size);
		snprintf(bad, sizeof(bad), "%s.corrupt", path);
		(void)rename(path, bad);
		(void)unlink(link);
		return 0;
	}
	io.h = h;
	io.ring = (uint8_t *)map + STAGE_HDR;
	io.size = h->size;
	io.d = atomic_load(&h->durable);
	io.seg_seq = atomic_load(&h->seg_seq);
	io.seg_base = atomic_load(&h->seg_base);
	if (io.d < atomic_load(&h->end) &&
	    stage_io_open_seg(&io, io.seg_seq) != 0)
		rc = -1;
	else
		while ((rc = stage_io_step(&io, true)) > 0)
			;
	stage_io_close_seg(&io);
	munmap(map, (size_t)sb.st_size);
	if (rc != 0)
		return -1;
	(void)unlink(link);
	(void)unlink(path);
	return 1;
}
