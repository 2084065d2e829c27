/*
 * spool_stage.h - the staged spool writer's I/O half (docs/spool.md,
 * "Staged writes").  Internal to capture/spool.c.
 *
 * A writer in staged mode does not write its segments itself: it copies
 * each write into a ring in a shared, file-backed mapping (the stage, best
 * on tmpfs) and a thread of its own moves the ring's bytes into the
 * segment files, whole 4 KiB blocks with O_DIRECT and the tails of
 * committed records with plain write(2).  The relay thread then pays one
 * copy into memory it keeps reusing; the page cache and the file system's
 * per-page work stay off its CPU.  The stage outlives the process, so a
 * record whose commit returned survives kill -9: whoever next holds the
 * writer's lock (the restarted writer, or crm-capture) writes what the
 * thread had not (spool_stage_recover).
 *
 * The stream: every byte the writer emits gets a position; a segment
 * begins at a position that is a multiple of the block size (the gap
 * before it is padding that goes nowhere), so the ring's blocks and the
 * file's blocks line up for O_DIRECT.
 */
#ifndef CRM_SPOOL_STAGE_H
#define CRM_SPOOL_STAGE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <stdatomic.h>

#define SPOOL_STAGE_MIN (4 * 1024 * 1024)
#define SPOOL_STAGE_MAX (4ULL << 30)
#define SPOOL_STAGE_MAGIC 0x3147545352435243ULL	/* "CRCRSTG1" */
#define SPOOL_STAGE_HDR 4096	/* header page; the ring follows */
#define SPOOL_STAGE_BLK 4096	/* O_DIRECT unit, and segment alignment */

/*
 * The stage file: this header at offset 0, the ring at SPOOL_STAGE_HDR.
 * Written by the producer: end, commit, commits, rot_*; by the thread:
 * durable, seg_seq, seg_base, errors.  Stream positions are
 * absolute; the ring holds [durable, end) at position % size.  Host byte
 * order: a stage never leaves its machine.  Fields are only ever added at
 * the end (a stage left by an older build reads zeros there).
 */
struct spool_stage_hdr {
	_Atomic uint64_t magic;
	uint64_t size;
	_Atomic uint64_t end;		/* bytes put */
	_Atomic uint64_t commit;	/* whole records end here */
	_Atomic uint64_t durable;	/* bytes in segment files */
	_Atomic uint64_t seg_seq;	/* segment the thread writes */
	_Atomic uint64_t seg_base;	/* its position 0 in the stream */
	_Atomic uint64_t rot_seq;	/* next segment, 0: none waiting */
	_Atomic uint64_t rot_from;	/* where the current one ends */
	_Atomic uint64_t rot_pos;	/* where the next one begins */
	_Atomic uint32_t idle;		/* the thread sleeps on the eventfd */
	_Atomic uint32_t errors;
	_Atomic uint64_t commits;	/* records committed, all segments */
	_Atomic uint64_t rot_commits;	/* of them, before the waiting one */
};

/* Where the thread counts committed records a write error lost: both
 * counters get each one (the writer's shared counters). */
struct spool_stage_loss {
	_Atomic uint64_t *failed;
	_Atomic uint64_t *lost;
};

struct spool_stage;

/*
 * Creates the stage for writer id of dir in stage_dir (size bytes of
 * ring, a multiple of 4 MiB), makes segment first_seq and starts the
 * thread.  The caller holds the writer's lock and has run
 * spool_stage_recover.  A write error's lost records are counted in loss:
 * those committed before it at once (the segment's file is read back to
 * see which are whole), those committed into the segment after it once
 * the writer has moved on (or at close).  NULL with *errstr_r and errno
 * on failure.
 */
struct spool_stage *spool_stage_open(const char *dir, const char *id,
    const char *stage_dir, uint64_t size, uint64_t first_seq,
    struct spool_stage_loss loss, const char **errstr_r);
/* Waits for the thread to write everything, stops it, removes the stage.
 * Returns the records lost after commit that spool_stage_take_lost() has
 * not yet returned (those of a write error while closing among them). */
uint64_t spool_stage_close(struct spool_stage **stp);

/* Appends all of iov to the stream and returns its length, or appends
 * nothing: -1 with errno ENOBUFS when the ring cannot take it even after
 * the caller wrote blocks itself. */
ssize_t spool_stage_put(struct spool_stage *st, const struct iovec *iov,
    int iovcnt);
/* Everything put so far ends whole records: the thread may write it out
 * to the byte, a partial block included. */
void spool_stage_commit(struct spool_stage *st);
/* Counts one more record committed (call before spool_stage_commit), so
 * a write error can say how many committed records it lost. */
void spool_stage_count_record(struct spool_stage *st);
/* Bytes the ring can take now. */
uint64_t spool_stage_room(struct spool_stage *st);
/* Whether a new segment can begin now (one waiting is the limit). */
bool spool_stage_can_rotate(struct spool_stage *st);
/* The next put begins segment seq; room for need bytes after the padding
 * is checked first: -1 with errno ENOBUFS, nothing changed. */
int spool_stage_rotate(struct spool_stage *st, uint64_t seq, size_t need);
/* Write errors the thread met since the last call (each lost the rest of
 * its segment: the next record should begin a new one). */
unsigned spool_stage_take_errors(struct spool_stage *st);
/* Committed records lost to write errors since the last call (counted in
 * the loss counters already). */
uint64_t spool_stage_take_lost(struct spool_stage *st);
/* Waits until every committed byte is in its segment file. */
void spool_stage_wait(struct spool_stage *st);

/*
 * Writes what the stage of writer id (DIR/<id>.stage) still holds into its
 * segments and removes it.  The caller holds the writer's lock.  Returns
 * 1 (written out), 0 (no stage), -1 on error (errno; the stage is kept).
 */
int spool_stage_recover(const char *dir, const char *id);

/* Tests only: on, no stage thread writes (a producer whose ring is full
 * still does), so a kill -9 leaves the stage holding records. */
void spool_stage_hold(bool on);

#endif
