/*
 * spool.c - the spool writer and the shared counter file.  See spool.h and
 * docs/spool.md.
 *
 * The writer runs inside the proxy's event loop, so it must never wait:
 * plain write(2) into the page cache, no fsync (crm-capture group-commits
 * those), no locks taken per record.  It does start writeback early and
 * hands clean pages back (spool_write_behind()), so a spool that grows by
 * gigabytes keeps recycling a few megabytes of page cache instead of
 * claiming memory the machine has not touched for a while.  What survives a kill -9 of the proxy
 * is exactly what write(2) returned for; the trailer is written last, in
 * the same write(2) as the record's final bytes, so a record is either
 * complete or visibly incomplete.
 *
 * With a stage (spool_stage.h) the same bytes go into a shared ring
 * instead, and the stage's thread writes the segments.
 */
#include "capture/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "capture/crc32c.h"
#include "capture/spool_format.h"
#include "capture/spool_stage.h"
#include "lib/clock_ms.h"
#include "lib/xmalloc.h"

/* Staged: ring room a rotation needs (seal, padding, segment header). */
#define SPOOL_STAGE_ROTATE_ROOM (SPOOL_REC_HDR_LEN + 4096 + SPOOL_SEG_HDR_LEN)

/* Payload bytes gathered before a write(2); larger appends go straight
 * from the caller's buffer. */
#define SPOOL_WBUF_FLUSH (64 * 1024)
/* Worst case held at once: record header and meta, one buffered chunk,
 * then the end mark, trailer, commit meta and crc + end magic. */
#define SPOOL_WBUF_SIZE (SPOOL_REC_HDR_LEN + SPOOL_META_MAX + 4 + \
	SPOOL_WBUF_FLUSH + 4 + SPOOL_TRL_LEN + SPOOL_META_MAX + 8)

/*
 * Write-behind: every SPOOL_WB_WINDOW bytes the writer asks the kernel to
 * start writing the window out (sync_file_range, no wait), and windows
 * more than SPOOL_WB_LAG behind the end are dropped from the page cache
 * once cachestat(2) reports them clean.  So a writer holds about
 * SPOOL_WB_LAG of page cache plus what the disk has not taken yet.
 *
 * Why: page cache pages for new data come from free memory, and on
 * virtual machines whose balloon reports free pages to the host, memory
 * that has sat free costs the host a fault to hand back; writing gigabytes
 * then costs about ten times the CPU of rewriting pages just freed
 * (docs/bench.md, "The capture tap").  Dropping clean pages keeps the
 * writer on recently freed memory.  crm-capture reads what it ships soon
 * after it is written, so the lag keeps that in memory; a reader that has
 * fallen further behind reads from disk.
 */
#define SPOOL_WB_WINDOW (1024 * 1024)
#define SPOOL_WB_LAG (8 * 1024 * 1024)

#define SPOOL_SHM_NAME "spool.shm"
#define SPOOL_SHM_SIZE 4096
#define SPOOL_SHM_MAGIC 0x314d48534d5243ULL	/* "CRMSHM1" */

/* The shared counters.  Lock-free 64-bit atomics are address-free on the
 * targets we build for, so they work across processes in a MAP_SHARED
 * page.  A zero page is a valid, empty state. */
struct spool_shm_data {
	_Atomic uint64_t magic;
	_Atomic uint64_t bytes_written;
	_Atomic uint64_t bytes_released;
	_Atomic uint64_t records_committed;
	_Atomic uint64_t records_aborted;
	_Atomic uint64_t records_dropped;
	_Atomic uint64_t records_failed;
	_Atomic uint64_t records_acked;
	_Atomic uint64_t records_lost;	/* of records_failed, after commit */
};

struct spool_shm {
	struct spool_shm_data *d;
};

enum spool_wstate {
	SPOOL_W_IDLE,
	SPOOL_W_OPEN,
	SPOOL_W_FAILED,		/* open record abandoned; waits for commit */
};

struct spool_writer {
	char *dir;
	char id[SPOOL_WRITER_ID_MAX + 1];
	struct spool_limits lim;
	struct spool_shm *shm;
	int lock_fd;
	int fd;			/* current segment, -1 before the first */
	bool need_rotate;	/* after a write error: never append there */
	uint64_t seg_seq;
	uint64_t seg_size;
	uint64_t rec_seq;
	uint64_t wb_started;	/* writeback asked for up to here */
	uint64_t wb_dropped;	/* page cache dropped up to here */
	/* The segment before this one, while its tail is still in the
	 * page cache waiting for the disk: dropped as it comes clean. */
	int prev_fd;
	uint64_t prev_size;
	uint64_t prev_dropped;
	uint64_t wb_page;	/* the page size, a power of two */
	/* Staged mode: the segments are written by the stage's thread; fd
	 * stays -1 and nothing here touches the files. */
	struct spool_stage *stage;
	bool wb_no_cachestat;	/* kernel without cachestat(2) */
	char stage_error[160];	/* why a stage asked for is not there */

	enum spool_wstate state;
	enum spool_status fail_status;
	unsigned nbegin_headers;
	uint32_t crc;		/* over header, meta, payload so far */
	uint64_t payload_len;
	uint64_t flushed;	/* bytes of this record already written */
	uint8_t *buf;
	size_t buf_len;
	size_t chunk_at;	/* offset of the open chunk's length, or 0 */
};

/* ---- shared counters ----------------------------------------------- */

struct spool_shm *
spool_shm_open(const char *dir)
{
	char path[4096];
	struct spool_shm *shm;
	struct stat st;
	uint64_t zero = 0;
	void *p;
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir,
	    SPOOL_SHM_NAME) >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640)) < 0)
		return NULL;
	if (fstat(fd, &st) != 0) {
		close(fd);
		return NULL;
	}
	if (st.st_size != 0 && st.st_size != SPOOL_SHM_SIZE) {
		close(fd);
		errno = EINVAL;
		return NULL;
	}
	/* The block is allocated now, not on the first store through the
	 * mapping: on a full disk that store would raise SIGBUS in the relay.
	 * Two openers may race to size it; sizing or allocating the same
	 * range never clears what the other already counted.  (Not
	 * posix_fallocate(3): where the file system cannot, its emulation
	 * writes zero bytes, which could race with a counter.) */
	if ((st.st_size == 0 && ftruncate(fd, SPOOL_SHM_SIZE) != 0) ||
	    (fallocate(fd, 0, 0, SPOOL_SHM_SIZE) != 0 &&
	    errno != EOPNOTSUPP)) {
		close(fd);
		return NULL;
	}
	p = mmap(NULL, SPOOL_SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
	    0);
	close(fd);
	if (p == MAP_FAILED)
		return NULL;
	shm = xcalloc(1, sizeof(*shm));
	shm->d = p;
	atomic_compare_exchange_strong(&shm->d->magic, &zero,
	    SPOOL_SHM_MAGIC);
	if (atomic_load(&shm->d->magic) != SPOOL_SHM_MAGIC) {
		spool_shm_close(&shm);
		errno = EINVAL;
		return NULL;
	}
	return shm;
}

void
spool_shm_close(struct spool_shm **shmp)
{
	if (*shmp == NULL)
		return;
	munmap((*shmp)->d, SPOOL_SHM_SIZE);
	x_free(shmp);
}

void
spool_shm_counters(const struct spool_shm *shm, struct spool_counters *c_r)
{
	struct spool_shm_data *d = shm->d;

	c_r->bytes_written = atomic_load(&d->bytes_written);
	c_r->bytes_released = atomic_load(&d->bytes_released);
	c_r->records_committed = atomic_load(&d->records_committed);
	c_r->records_aborted = atomic_load(&d->records_aborted);
	c_r->records_dropped = atomic_load(&d->records_dropped);
	c_r->records_failed = atomic_load(&d->records_failed);
	c_r->records_acked = atomic_load(&d->records_acked);
	c_r->records_lost = atomic_load(&d->records_lost);
}

void
spool_shm_release(struct spool_shm *shm, uint64_t n)
{
	atomic_fetch_add_explicit(&shm->d->bytes_released, n,
	    memory_order_relaxed);
}

void
spool_shm_acked(struct spool_shm *shm, uint64_t n)
{
	atomic_fetch_add_explicit(&shm->d->records_acked, n,
	    memory_order_relaxed);
}

void
spool_shm_reconcile(struct spool_shm *shm, uint64_t on_disk)
{
	uint64_t w = atomic_load(&shm->d->bytes_written);

	if (w < on_disk) {
		/* Segments older than the counter file: count them as
		 * written so usage is right. */
		atomic_fetch_add(&shm->d->bytes_written, on_disk - w);
		w = on_disk;
	}
	atomic_store(&shm->d->bytes_released, w - on_disk);
}

static uint64_t
spool_shm_usage(const struct spool_shm *shm)
{
	uint64_t rel = atomic_load_explicit(&shm->d->bytes_released,
	    memory_order_relaxed);
	uint64_t wr = atomic_load_explicit(&shm->d->bytes_written,
	    memory_order_relaxed);

	return wr > rel ? wr - rel : 0;
}

/* ---- names ----------------------------------------------------------- */

static bool
spool_writer_id_ok(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > SPOOL_WRITER_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return true;
}

int
spool_segment_path(char *buf, size_t len, const char *dir, const char *id,
    uint64_t seq)
{
	if ((size_t)snprintf(buf, len, "%s/%s.%016llx.seg", dir, id,
	    (unsigned long long)seq) >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

bool
spool_segment_name_parse(const char *name, char *writer_r, uint64_t *seq_r)
{
	const char *dot = strchr(name, '.');
	uint64_t seq = 0;
	size_t idlen;

	if (dot == NULL || (idlen = (size_t)(dot - name)) == 0 ||
	    idlen > SPOOL_WRITER_ID_MAX || strlen(dot) != 1 + 16 + 4 ||
	    strcmp(dot + 17, ".seg") != 0)
		return false;
	for (int i = 1; i <= 16; i++) {
		char c = dot[i];
		unsigned v;

		if (c >= '0' && c <= '9')
			v = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = (unsigned)(c - 'a' + 10);
		else
			return false;
		seq = seq << 4 | v;
	}
	memcpy(writer_r, name, idlen);
	writer_r[idlen] = '\0';
	if (!spool_writer_id_ok(writer_r))
		return false;
	*seq_r = seq;
	return true;
}

/* ---- writing ---------------------------------------------------------- */

/* cachestat(2), Linux 6.5; glibc 2.36 has no wrapper. */
#if defined(__x86_64__) || defined(__aarch64__)
#define SPOOL_SYS_CACHESTAT 451
#endif

struct spool_cachestat_range {
	uint64_t off;
	uint64_t len;
};

struct spool_cachestat {
	uint64_t nr_cache;
	uint64_t nr_dirty;
	uint64_t nr_writeback;
	uint64_t nr_evicted;
	uint64_t nr_recently_evicted;
};

/* True when [off, off+len) of fd has no page waiting for the disk, so
 * POSIX_FADV_DONTNEED frees all of it.  Without cachestat(2) the answer is
 * always true: the drop then frees what is clean and leaves the rest to
 * the segment's deletion. */
static bool
spool_range_clean(struct spool_writer *w, int fd, uint64_t off, uint64_t len)
{
#ifdef SPOOL_SYS_CACHESTAT
	struct spool_cachestat_range r = { off, len };
	struct spool_cachestat c;

	if (!w->wb_no_cachestat) {
		if (syscall(SPOOL_SYS_CACHESTAT, fd, &r, &c, 0) == 0)
			return c.nr_dirty == 0 && c.nr_writeback == 0;
		w->wb_no_cachestat = true;
	}
#else
	(void)w;
	(void)fd;
	(void)off;
	(void)len;
#endif
	return true;
}

/* Drops whole windows of fd from *dropped up to end while they are clean;
 * returns true once everything up to end is dropped. */
static bool
spool_drop_clean(struct spool_writer *w, int fd, uint64_t *dropped,
    uint64_t end)
{
	while (*dropped < end) {
		uint64_t n = end - *dropped;

		if (n > SPOOL_WB_WINDOW)
			n = SPOOL_WB_WINDOW;
		if (!spool_range_clean(w, fd, *dropped, n))
			return false;
		(void)posix_fadvise(fd, (off_t)*dropped, (off_t)n,
		    POSIX_FADV_DONTNEED);
		*dropped += n;
	}
	return true;
}

/* Asks the kernel to start writing [wb_started, end) of the current
 * segment; does not wait for the I/O. */
static void
spool_start_writeback(struct spool_writer *w, uint64_t end)
{
	(void)sync_file_range(w->fd, (off_t)w->wb_started,
	    (off_t)(end - w->wb_started), SYNC_FILE_RANGE_WRITE);
	w->wb_started = end;
}

/* See SPOOL_WB_WINDOW.  Neither call waits for the disk; both are hints,
 * so their errors change nothing about the record being written. */
static void
spool_write_behind(struct spool_writer *w)
{
	/* Only whole pages: a page under writeback is skipped by the next
	 * SYNC_FILE_RANGE_WRITE, so a partial page started now and dirtied
	 * again by the next append would stay dirty until the kernel's own
	 * flusher came by, tens of seconds later. */
	uint64_t end = w->seg_size & ~(w->wb_page - 1);

	if (end - w->wb_started < SPOOL_WB_WINDOW)
		return;
	spool_start_writeback(w, end);
	if (w->prev_fd >= 0 &&
	    spool_drop_clean(w, w->prev_fd, &w->prev_dropped, w->prev_size)) {
		close(w->prev_fd);
		w->prev_fd = -1;
	}
	if (w->seg_size > SPOOL_WB_LAG)
		(void)spool_drop_clean(w, w->fd, &w->wb_dropped,
		    (w->seg_size - SPOOL_WB_LAG) & ~(uint64_t)(SPOOL_WB_WINDOW - 1));
}

/* A finished segment keeps being dropped as the disk takes its tail (all
 * of it now: nothing more is appended); one older still waiting is left
 * to its deletion. */
static void
spool_segment_retire(struct spool_writer *w)
{
	if (w->fd < 0)
		return;
	if (w->prev_fd >= 0)
		close(w->prev_fd);
	spool_start_writeback(w, w->seg_size);
	w->prev_fd = w->fd;
	w->prev_size = w->seg_size;
	w->prev_dropped = w->wb_dropped;
	w->fd = -1;
}

/* Writes all of iov to the segment, counting what reached the file. */
static int
spool_writev_all(struct spool_writer *w, struct iovec *iov, int iovcnt)
{
	if (w->stage != NULL) {
		ssize_t k = spool_stage_put(w->stage, iov, iovcnt);
		uint64_t n = (uint64_t)k;

		if (k < 0)
			return -1;
		w->seg_size += n;
		w->flushed += n;
		atomic_fetch_add_explicit(&w->shm->d->bytes_written, n,
		    memory_order_relaxed);
		return 0;
	}
	while (iovcnt > 0) {
		ssize_t n = writev(w->fd, iov, iovcnt);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		w->seg_size += (uint64_t)n;
		w->flushed += (uint64_t)n;
		atomic_fetch_add_explicit(&w->shm->d->bytes_written,
		    (uint64_t)n, memory_order_relaxed);
		while (iovcnt > 0 && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			iovcnt--;
		}
		if (iovcnt > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	spool_write_behind(w);
	return 0;
}

static void
spool_close_chunk(struct spool_writer *w)
{
	if (w->chunk_at == 0)
		return;
	spool_put32(w->buf + w->chunk_at - 4,
	    (uint32_t)(w->buf_len - w->chunk_at));
	w->chunk_at = 0;
}

static int
spool_flush(struct spool_writer *w)
{
	struct iovec iov;
	int rc;

	spool_close_chunk(w);
	if (w->buf_len == 0)
		return 0;
	iov.iov_base = w->buf;
	iov.iov_len = w->buf_len;
	rc = spool_writev_all(w, &iov, 1);
	w->buf_len = 0;
	return rc;
}

static void
spool_segment_header(struct spool_writer *w, uint8_t hdr[SPOOL_SEG_HDR_LEN])
{
	uint64_t nonce;

	memset(hdr, 0, SPOOL_SEG_HDR_LEN);
	/* The nonce ties crm-capture's saved offsets to this file, not to a
	 * later file that might reuse the name. */
	if (getrandom(&nonce, sizeof(nonce), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(nonce))
		nonce = wall_ms() ^ ((uint64_t)getpid() << 40) ^
		    w->seg_seq;
	memcpy(hdr, SPOOL_SEG_MAGIC, 8);
	spool_put32(hdr + 8, SPOOL_VERSION);
	spool_put64(hdr + 16, nonce);
	spool_put32(hdr + 28, crc32c(0, hdr, 28));
}

/* Staged: the next segment begins in the stream (first: the one the
 * stage opened with, seg_seq already). */
static int
spool_segment_staged(struct spool_writer *w, bool first)
{
	uint8_t hdr[SPOOL_SEG_HDR_LEN];
	struct iovec iov = { hdr, sizeof(hdr) };

	if (!first &&
	    spool_stage_rotate(w->stage, w->seg_seq + 1, sizeof(hdr)) != 0)
		return -1;
	if (!first)
		w->seg_seq++;
	spool_segment_header(w, hdr);
	w->seg_size = 0;
	w->need_rotate = false;
	if (spool_writev_all(w, &iov, 1) != 0) {
		w->need_rotate = true;
		return -1;
	}
	spool_stage_commit(w->stage);
	return 0;
}

static int
spool_segment_create(struct spool_writer *w)
{
	uint8_t hdr[SPOOL_SEG_HDR_LEN];
	struct iovec iov = { hdr, sizeof(hdr) };
	char path[4096];
	int fd;

	if (w->stage != NULL)
		return spool_segment_staged(w, false);
	w->seg_seq++;
	if (spool_segment_path(path, sizeof(path), w->dir, w->id,
	    w->seg_seq) != 0)
		return -1;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC,
	    0640);
	if (fd < 0)
		return -1;
	spool_segment_header(w, hdr);
	spool_segment_retire(w);
	w->fd = fd;
	w->seg_size = 0;
	w->wb_started = 0;
	w->wb_dropped = 0;
	w->need_rotate = false;
	if (spool_writev_all(w, &iov, 1) != 0) {
		w->need_rotate = true;
		return -1;
	}
	return 0;
}

/* Staged: what was put so far ends whole records. */
static void
spool_whole(struct spool_writer *w)
{
	if (w->stage != NULL)
		spool_stage_commit(w->stage);
}

/* A seal tells crm-capture this segment is complete: once shipped it can
 * go, without waiting for this writer's next segment. */
static void
spool_segment_seal(struct spool_writer *w)
{
	uint8_t hdr[SPOOL_REC_HDR_LEN] = { 0 };
	struct iovec iov = { hdr, sizeof(hdr) };

	if ((w->fd < 0 && w->stage == NULL) || w->need_rotate)
		return;
	memcpy(hdr, SPOOL_REC_MAGIC, 4);
	hdr[4] = SPOOL_VERSION;
	hdr[5] = SPOOL_REC_SEAL;
	spool_put64(hdr + 12, w->rec_seq);
	spool_put64(hdr + 20, wall_ms());
	spool_put32(hdr + 28, crc32c(0, hdr, 28));
	(void)spool_writev_all(w, &iov, 1);
	spool_whole(w);
}

static uint64_t
spool_scan_max_seq(const char *dir, const char *id)
{
	char wid[SPOOL_WRITER_ID_MAX + 1];
	struct dirent *de;
	uint64_t max = 0, seq;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (spool_segment_name_parse(de->d_name, wid, &seq) &&
		    strcmp(wid, id) == 0 && seq > max)
			max = seq;
	closedir(d);
	return max;
}

static int
spool_lock(const char *dir, const char *id, int tries)
{
	char path[4096];
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s.lock", dir, id) >=
	    sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640)) < 0)
		return -1;
	/* crm-capture probes the lock (shared, non-blocking) to learn that
	 * a writer is gone; a writer retries briefly (tries x 1 ms) so a
	 * probe never fails a start. */
	for (int i = 0; i < tries; i++) {
		struct timespec ts = { 0, 1000000 };

		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return fd;
		if (errno != EWOULDBLOCK && errno != EINTR)
			break;
		if (i + 1 < tries)
			nanosleep(&ts, NULL);
	}
	int saved = errno;

	close(fd);
	errno = saved;
	return -1;
}

struct spool_writer *
spool_writer_open(const char *dir, const char *writer_id,
    const struct spool_limits *limits, const char **errstr_r)
{
	struct spool_writer *w;

	if (!spool_writer_id_ok(writer_id)) {
		*errstr_r = "writer id must be 1-32 of [A-Za-z0-9_-]";
		errno = EINVAL;
		return NULL;
	}
	if (limits->payload_max == 0 ||
	    limits->payload_max > SPOOL_PAYLOAD_MAX ||
	    limits->segment_size == 0) {
		*errstr_r = "bad spool limits";
		errno = EINVAL;
		return NULL;
	}
	if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
		*errstr_r = "cannot create the spool directory";
		return NULL;
	}
	w = xcalloc(1, sizeof(*w));
	w->dir = xstrdup(dir);
	memcpy(w->id, writer_id, strlen(writer_id) + 1);
	w->lim = *limits;
	w->fd = -1;
	w->prev_fd = -1;
	w->wb_page = (uint64_t)sysconf(_SC_PAGESIZE);
	if (w->wb_page == 0 || (w->wb_page & (w->wb_page - 1)) != 0)
		w->wb_page = 4096;
	w->lock_fd = -1;
	if ((w->shm = spool_shm_open(dir)) == NULL) {
		*errstr_r = "cannot map the spool counter file";
		goto fail;
	}
	if ((w->lock_fd = spool_lock(dir, writer_id, 200)) < 0) {
		*errstr_r = "writer id is locked by another process";
		goto fail;
	}
	/* A staged writer killed before its thread caught up left the rest
	 * in its stage: into the segments with it, before counting them. */
	if (spool_stage_recover(dir, writer_id) < 0) {
		*errstr_r = "cannot recover the writer's stage";
		goto fail;
	}
	w->seg_seq = spool_scan_max_seq(dir, writer_id);
	w->buf = xmalloc(SPOOL_WBUF_SIZE);
	if (limits->stage_dir != NULL && limits->stage_dir[0] != '\0') {
		const char *why = "?";
		struct spool_stage_loss loss = {
			&w->shm->d->records_failed, &w->shm->d->records_lost
		};

		w->stage = spool_stage_open(dir, writer_id, limits->stage_dir,
		    limits->stage_size, w->seg_seq + 1, loss, &why);
		if (w->stage != NULL) {
			w->seg_seq++;
			if (spool_segment_staged(w, true) != 0) {
				*errstr_r = "cannot stage a segment header";
				goto fail;
			}
			return w;
		}
		/* Capture matters more than the cheaper path: without its
		 * stage (tmpfs full, say) the writer writes its own
		 * segments, and says why once.  A failed stage may have made
		 * an empty segment: number after it. */
		snprintf(w->stage_error, sizeof(w->stage_error), "%s: %s",
		    why, strerror(errno));
		w->seg_seq = spool_scan_max_seq(dir, writer_id);
	}
	if (spool_segment_create(w) != 0) {
		*errstr_r = "cannot create a spool segment";
		goto fail;
	}
	return w;
fail:;
	int saved = errno;

	spool_writer_close(&w);
	errno = saved;
	return NULL;
}

int
spool_writer_recover(const char *dir, const char *id)
{
	char path[4096];
	struct stat sb;
	int fd, rc;

	if (!spool_writer_id_ok(id) || (size_t)snprintf(path, sizeof(path),
	    "%s/%s.stage", dir, id) >= sizeof(path)) {
		errno = EINVAL;
		return -1;
	}
	if (lstat(path, &sb) != 0)
		return errno == ENOENT ? 0 : -1;
	if ((fd = spool_lock(dir, id, 1)) < 0)
		return errno == EWOULDBLOCK ? 1 : -1;
	if ((rc = spool_stage_recover(dir, id)) > 0)
		rc = 2;
	int saved = errno;

	close(fd);
	errno = saved;
	return rc;
}

void
spool_writer_sync(struct spool_writer *w)
{
	if (w->stage != NULL)
		spool_stage_wait(w->stage);
}

const char *
spool_writer_stage_error(const struct spool_writer *w)
{
	return w->stage_error[0] != '\0' ? w->stage_error : NULL;
}

uint64_t
spool_writer_take_lost(struct spool_writer *w)
{
	return w->stage != NULL ? spool_stage_take_lost(w->stage) : 0;
}

uint64_t
spool_writer_close(struct spool_writer **wp)
{
	struct spool_writer *w = *wp;
	uint64_t untold;

	if (w == NULL)
		return 0;
	if (w->state != SPOOL_W_IDLE)
		spool_record_abort(w);
	spool_segment_seal(w);
	untold = spool_stage_close(&w->stage);
	if (w->fd >= 0)
		close(w->fd);
	if (w->prev_fd >= 0)
		close(w->prev_fd);
	if (w->lock_fd >= 0)
		close(w->lock_fd);
	spool_shm_close(&w->shm);
	free(w->buf);
	free(w->dir);
	x_free(wp);
	return untold;
}

/* ---- metadata encoding ---------------------------------------------- */

static bool
spool_topic_ok(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n > SPOOL_TOPIC_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = t[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '-' ||
		    c == '.'))
			return false;
	}
	return true;
}

/* Appends nhdrs headers (count byte first) at out; returns bytes used or
 * 0 when they are invalid or do not fit in room. */
static size_t
spool_encode_headers(uint8_t *out, size_t room,
    const struct spool_header *hdrs, size_t nhdrs)
{
	size_t n = 1;

	if (room < 1 || nhdrs > SPOOL_HEADERS_MAX)
		return 0;
	out[0] = (uint8_t)nhdrs;
	for (size_t i = 0; i < nhdrs; i++) {
		size_t nl = hdrs[i].name != NULL ? strlen(hdrs[i].name) : 0;
		size_t vl = hdrs[i].value_len;

		if (nl == 0 || nl > SPOOL_HEADER_NAME_MAX ||
		    vl > SPOOL_HEADER_VALUE_MAX ||
		    (vl > 0 && hdrs[i].value == NULL))
			return 0;
		for (size_t k = 0; k < nl; k++)
			if (hdrs[i].name[k] <= ' ' || hdrs[i].name[k] > '~')
				return 0;
		if (room - n < 1 + nl + 2 + vl)
			return 0;
		out[n++] = (uint8_t)nl;
		memcpy(out + n, hdrs[i].name, nl);
		n += nl;
		spool_put16(out + n, (uint16_t)vl);
		n += 2;
		if (vl > 0)
			memcpy(out + n, hdrs[i].value, vl);
		n += vl;
	}
	return n;
}

enum spool_status
spool_record_begin(struct spool_writer *w, const char *topic, const void *key,
    size_t key_len, const struct spool_header *hdrs, size_t nhdrs)
{
	uint8_t *h = w->buf, *meta = w->buf + SPOOL_REC_HDR_LEN;
	size_t tl, mlen, hl;

	if (w->state != SPOOL_W_IDLE || topic == NULL ||
	    !spool_topic_ok(topic) || key_len > SPOOL_KEY_MAX ||
	    (key_len > 0 && key == NULL) || nhdrs > SPOOL_HEADERS_MAX)
		return SPOOL_INVALID;
	if (w->lim.spool_max != 0 &&
	    spool_shm_usage(w->shm) >= w->lim.spool_max) {
		atomic_fetch_add(&w->shm->d->records_dropped, 1);
		return SPOOL_FULL;
	}
	if (w->stage != NULL && spool_stage_take_errors(w->stage) > 0) {
		/* The thread lost the rest of a segment to a write error
		 * (and counted the records): begin a new one. */
		w->need_rotate = true;
	}
	if (w->need_rotate || w->seg_size >= w->lim.segment_size) {
		if (w->stage != NULL && (!spool_stage_can_rotate(w->stage) ||
		    spool_stage_room(w->stage) < SPOOL_STAGE_ROTATE_ROOM)) {
			/* The thread has not reached the last rotation yet, or
			 * the ring is full: carry on in this segment, or, if
			 * it cannot take more, drop the record. */
			if (w->need_rotate) {
				atomic_fetch_add(&w->shm->d->records_dropped, 1);
				return SPOOL_FULL;
			}
		} else {
			spool_segment_seal(w);
			if (spool_segment_create(w) != 0) {
				atomic_fetch_add(&w->shm->d->records_failed, 1);
				return SPOOL_IO_ERROR;
			}
		}
	}
	tl = strlen(topic);
	mlen = 0;
	meta[mlen++] = (uint8_t)tl;
	memcpy(meta + mlen, topic, tl);
	mlen += tl;
	spool_put16(meta + mlen, (uint16_t)key_len);
	mlen += 2;
	if (key_len > 0)
		memcpy(meta + mlen, key, key_len);
	mlen += key_len;
	if ((hl = spool_encode_headers(meta + mlen, SPOOL_META_MAX - mlen,
	    hdrs, nhdrs)) == 0)
		return SPOOL_INVALID;
	mlen += hl;

	memset(h, 0, SPOOL_REC_HDR_LEN);
	memcpy(h, SPOOL_REC_MAGIC, 4);
	h[4] = SPOOL_VERSION;
	h[5] = SPOOL_REC_DATA;
	spool_put32(h + 8, (uint32_t)mlen);
	spool_put64(h + 12, w->rec_seq);
	spool_put64(h + 20, wall_ms());
	spool_put32(h + 28, crc32c(crc32c(0, h, 28), meta, mlen));
	w->crc = crc32c(0, h, SPOOL_REC_HDR_LEN + mlen);
	w->buf_len = SPOOL_REC_HDR_LEN + mlen;
	w->chunk_at = 0;
	w->payload_len = 0;
	w->flushed = 0;
	w->nbegin_headers = (unsigned)nhdrs;
	w->state = SPOOL_W_OPEN;
	return SPOOL_OK;
}

/* Ends the open record on disk as aborted, or drops it unwritten. */
static void
spool_abandon(struct spool_writer *w, enum spool_status why)
{
	uint8_t t[4 + SPOOL_TRL_LEN + 8] = { 0 };
	struct iovec iov = { t, sizeof(t) };
	uint32_t crc;

	spool_close_chunk(w);
	if (w->flushed == 0) {
		/* Nothing reached the file: the record never existed. */
		w->buf_len = 0;
	} else if (!w->need_rotate) {
		if (spool_flush(w) == 0) {
			t[4] = SPOOL_ST_ABORTED;
			spool_put64(t + 4 + 8, w->payload_len);
			crc = crc32c(w->crc, t + 4, SPOOL_TRL_LEN);
			spool_put32(t + 4 + SPOOL_TRL_LEN, crc);
			memcpy(t + 4 + SPOOL_TRL_LEN + 4, SPOOL_END_MAGIC, 4);
			if (spool_writev_all(w, &iov, 1) != 0)
				w->need_rotate = true;
		} else {
			w->need_rotate = true;
		}
	}
	w->buf_len = 0;
	w->state = why == SPOOL_OK ? SPOOL_W_IDLE : SPOOL_W_FAILED;
	w->fail_status = why;
	spool_whole(w);
}

static enum spool_status
spool_io_failed(struct spool_writer *w)
{
	/* A partial write may have left half a chunk: never append to this
	 * segment again; the reader treats the tail as torn. */
	bool full = w->stage != NULL && errno == ENOBUFS;

	w->need_rotate = true;
	w->buf_len = 0;
	w->chunk_at = 0;
	w->state = SPOOL_W_FAILED;
	/* A full stage (the disk behind by the whole ring) drops the
	 * record, as a full spool does. */
	w->fail_status = full ? SPOOL_FULL : SPOOL_IO_ERROR;
	atomic_fetch_add(full ? &w->shm->d->records_dropped :
	    &w->shm->d->records_failed, 1);
	return w->fail_status;
}

enum spool_status
spool_record_append(struct spool_writer *w, const void *data, size_t len)
{
	const uint8_t *p = data;

	if (w->state == SPOOL_W_FAILED)
		return w->fail_status;
	if (w->state != SPOOL_W_OPEN || (len > 0 && data == NULL))
		return SPOOL_INVALID;
	if (len > w->lim.payload_max - w->payload_len) {
		atomic_fetch_add(&w->shm->d->records_dropped, 1);
		spool_abandon(w, SPOOL_TOO_BIG);
		return SPOOL_TOO_BIG;
	}
	w->crc = crc32c(w->crc, p, len);
	w->payload_len += len;
	/* Large appends, and every append of a staged writer (a copy into
	 * buf would only precede the copy into the ring), are chunks of
	 * their own. */
	if (len >= SPOOL_WBUF_FLUSH || (w->stage != NULL && len > 0)) {
		if (spool_flush(w) != 0)
			return spool_io_failed(w);
		while (len > 0) {
			size_t n = len > SPOOL_CHUNK_MAX ? SPOOL_CHUNK_MAX : len;
			uint8_t ch[4];
			struct iovec iov[2] = { { ch, 4 }, { (void *)p, n } };

			spool_put32(ch, (uint32_t)n);
			if (spool_writev_all(w, iov, 2) != 0)
				return spool_io_failed(w);
			p += n;
			len -= n;
		}
		return SPOOL_OK;
	}
	if (w->chunk_at != 0 &&
	    w->buf_len - w->chunk_at + len > SPOOL_WBUF_FLUSH) {
		if (spool_flush(w) != 0)
			return spool_io_failed(w);
	}
	if (len == 0)
		return SPOOL_OK;
	if (w->chunk_at == 0) {
		w->buf_len += 4;
		w->chunk_at = w->buf_len;
	}
	memcpy(w->buf + w->buf_len, p, len);
	w->buf_len += len;
	return SPOOL_OK;
}

enum spool_status
spool_record_commit(struct spool_writer *w, const struct spool_header *hdrs,
    size_t nhdrs)
{
	uint8_t *t;
	size_t ml;
	uint32_t crc;

	if (w->state == SPOOL_W_FAILED) {
		w->state = SPOOL_W_IDLE;
		return w->fail_status;
	}
	if (w->state != SPOOL_W_OPEN)
		return SPOOL_INVALID;
	spool_close_chunk(w);
	if (nhdrs > SPOOL_HEADERS_MAX - w->nbegin_headers) {
		spool_abandon(w, SPOOL_INVALID);
		w->state = SPOOL_W_IDLE;
		atomic_fetch_add(&w->shm->d->records_aborted, 1);
		return SPOOL_INVALID;
	}
	/* Room is reserved in buf for the end mark, trailer and meta2. */
	t = w->buf + w->buf_len;
	spool_put32(t, 0);
	t += 4;
	memset(t, 0, SPOOL_TRL_LEN);
	if ((ml = spool_encode_headers(t + SPOOL_TRL_LEN, SPOOL_META_MAX,
	    hdrs, nhdrs)) == 0) {
		spool_abandon(w, SPOOL_INVALID);
		w->state = SPOOL_W_IDLE;
		atomic_fetch_add(&w->shm->d->records_aborted, 1);
		return SPOOL_INVALID;
	}
	t[0] = SPOOL_ST_COMMITTED;
	spool_put32(t + 4, (uint32_t)ml);
	spool_put64(t + 8, w->payload_len);
	crc = crc32c(w->crc, t, SPOOL_TRL_LEN + ml);
	spool_put32(t + SPOOL_TRL_LEN + ml, crc);
	memcpy(t + SPOOL_TRL_LEN + ml + 4, SPOOL_END_MAGIC, 4);
	w->buf_len += 4 + SPOOL_TRL_LEN + ml + 8;
	if (spool_flush(w) != 0) {
		enum spool_status st = spool_io_failed(w);

		w->state = SPOOL_W_IDLE;
		return st;
	}
	if (w->stage != NULL)
		spool_stage_count_record(w->stage);
	spool_whole(w);
	w->state = SPOOL_W_IDLE;
	w->rec_seq++;
	atomic_fetch_add(&w->shm->d->records_committed, 1);
	return SPOOL_OK;
}

void
spool_record_abort(struct spool_writer *w)
{
	if (w->state == SPOOL_W_OPEN) {
		spool_abandon(w, SPOOL_OK);
		atomic_fetch_add(&w->shm->d->records_aborted, 1);
	}
	w->state = SPOOL_W_IDLE;
}

bool
spool_record_is_open(const struct spool_writer *w)
{
	return w->state != SPOOL_W_IDLE;
}

uint64_t
spool_writer_usage(const struct spool_writer *w)
{
	return spool_shm_usage(w->shm);
}

void
spool_writer_counters(const struct spool_writer *w,
    struct spool_counters *c_r)
{
	spool_shm_counters(w->shm, c_r);
}
