/*
 * spool.h - the durable capture spool: append-only, checksummed segment
 * files that the proxy's workers write and crm-capture ships to Kafka.
 *
 * Byte layout, guarantees and failure behaviour: docs/spool.md.
 *
 * Writers (one per worker process, each with its own writer id) append
 * records with plain write(2) as message bytes stream in; they never fsync
 * and never wait on crm-capture.  A record exists only once its trailer
 * (length + CRC-32C) is written: a record cut short by a crash, or aborted,
 * is skipped by the reader and never published.
 *
 * The reader (crm-capture, tests, fuzzers) walks a segment from an offset
 * and returns complete records, skipping and counting corrupt ones.
 *
 * This file and its .c files include no libevent, OpenSSL or rdkafka
 * headers: they link into the proxy, unit tests and fuzz targets alike.
 * Nothing here logs or exits (STYLE 17); errors are returned.
 */
#ifndef CRM_SPOOL_H
#define CRM_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Hard bounds, checked before any allocation on both sides. */
#define SPOOL_WRITER_ID_MAX 32		/* [A-Za-z0-9_-], 1..32 */
#define SPOOL_TOPIC_MAX 249		/* Kafka's own limit */
#define SPOOL_KEY_MAX 1024
#define SPOOL_HEADERS_MAX 64		/* per record: begin + commit */
#define SPOOL_HEADER_NAME_MAX 128
#define SPOOL_HEADER_VALUE_MAX 8192
#define SPOOL_META_MAX (64 * 1024)	/* encoded topic+key+headers */
#define SPOOL_PAYLOAD_MAX (64ULL * 1024 * 1024)
#define SPOOL_CHUNK_MAX (1024 * 1024)
#define SPOOL_STAGE_HDR_SIZE 4096	/* a stage file's header page */

/* One Kafka header: name is a NUL-terminated printable-ASCII token, value
 * any bytes (value_len may be 0). */
struct spool_header {
	const char *name;
	const void *value;
	size_t value_len;
};

struct spool_limits {
	/* Start a new segment once the current one holds this many bytes
	 * (checked at record_begin, so a record is never split). */
	uint64_t segment_size;
	/* Refuse new records while the whole spool directory holds at least
	 * this many bytes (all writers; see spool_usage()). 0: no limit. */
	uint64_t spool_max;
	/* Largest payload accepted per record, <= SPOOL_PAYLOAD_MAX. */
	uint64_t payload_max;
	/* Staged writes (docs/spool.md): a ring of stage_size bytes in a file
	 * under stage_dir (tmpfs) and a thread that writes the segments.
	 * The file takes stage_size + SPOOL_STAGE_HDR_SIZE bytes there.
	 * NULL: the writer writes them itself. */
	const char *stage_dir;
	uint64_t stage_size;
};

enum spool_status {
	SPOOL_OK = 0,
	SPOOL_FULL,		/* spool over spool_max: record dropped */
	SPOOL_TOO_BIG,		/* payload over payload_max: record dropped */
	SPOOL_INVALID,		/* bad topic/key/header, or call out of order */
	SPOOL_IO_ERROR,		/* write(2) failed (errno kept): record lost */
};

/* Counters shared by every writer and crm-capture through DIR/spool.shm.
 * All values are totals since the spool directory was created. */
struct spool_counters {
	uint64_t bytes_written;		/* segment bytes, all writers */
	uint64_t bytes_released;	/* bytes of deleted (shipped) segments */
	uint64_t records_committed;
	uint64_t records_aborted;
	uint64_t records_dropped;	/* refused: spool full or too big */
	uint64_t records_failed;	/* lost to a write error */
	uint64_t records_acked;		/* crm-capture: Kafka acknowledged */
	uint64_t records_lost;		/* of records_failed: lost after
					 * their commit (staged writers) */
};

struct spool_writer;

/*
 * Opens writer writer_id on spool directory dir (created if missing, mode
 * 0750).  Takes an exclusive lock on DIR/<writer_id>.lock for the writer's
 * lifetime, so two processes never share a writer id (returns NULL, errno
 * EWOULDBLOCK), and starts a new segment numbered after any the id left
 * behind, so a torn tail from a crash is never appended to.  Call it in the
 * process that will write (after fork): the lock belongs to the open file.
 * Returns NULL with errno set and a static message in *errstr_r.
 */
struct spool_writer *spool_writer_open(const char *dir, const char *writer_id,
    const struct spool_limits *limits, const char **errstr_r);

/*
 * Seals the current segment (a clean end crm-capture can delete once it is
 * shipped), releases the lock and frees *wp; sets *wp to NULL.  A record
 * still open is aborted first.  NULL-safe.  Returns the records a staged
 * writer lost after their commit that spool_writer_take_lost() has not
 * returned, a write error while its ring is written out included (0 for
 * a plain writer).
 */
uint64_t spool_writer_close(struct spool_writer **wp);

/*
 * For crm-capture: if writer id of dir is not running and left a stage
 * (it was killed), writes what the stage held into its segments, holding
 * the writer's lock meanwhile.  Returns 2 (written out), 0 (nothing to
 * do), 1 (the writer is running), -1 on error (errno).
 */
int spool_writer_recover(const char *dir, const char *id);

/* Staged writer: waits until every committed record is in its segment
 * file (tests, and anyone who must read the files at once).  A plain
 * writer has nothing to wait for. */
void spool_writer_sync(struct spool_writer *w);

/* Why the stage asked for in the limits could not be made ("cannot
 * reserve the stage's space: No space left on device"); the writer then
 * writes its segments itself, as a plain one.  NULL when it is staged or
 * no stage was asked for.  Valid while w is open. */
const char *spool_writer_stage_error(const struct spool_writer *w);

/* Staged writer: committed records its thread lost to write errors since
 * the last call (they are counted in records_failed and records_lost
 * already; this is for the writer's owner to log them).  Plain: 0, its
 * failures are SPOOL_IO_ERROR returns. */
uint64_t spool_writer_take_lost(struct spool_writer *w);

/*
 * Starts a record for Kafka topic `topic` with key key/key_len and the
 * headers known now.  Everything is copied: the caller's buffers may go
 * away after the call.  Returns SPOOL_OK; SPOOL_FULL when the spool is over
 * its limit (the drop is counted in spool.shm; the caller should count and
 * alarm too, and carry on relaying); SPOOL_INVALID for a bad argument or a
 * record already open; SPOOL_IO_ERROR when the segment cannot be written.
 */
enum spool_status spool_record_begin(struct spool_writer *w, const char *topic,
    const void *key, size_t key_len, const struct spool_header *hdrs,
    size_t nhdrs);

/*
 * Appends len payload bytes to the open record (call as bytes stream in;
 * small appends are coalesced into 64 KiB writes).  On SPOOL_TOO_BIG or
 * SPOOL_IO_ERROR the record is already abandoned (aborted on disk when
 * possible): later appends return the same status and commit fails.
 */
enum spool_status spool_record_append(struct spool_writer *w, const void *data,
    size_t len);

/*
 * Completes the record, adding headers only known at the end (APPENDUID's
 * UID, the idempotency key from a content hash).  Returns SPOOL_OK once the
 * trailer is written: from then on the record survives a kill -9 of the
 * writer (page cache) and crm-capture will ship it.  Any other status: the
 * record is lost and counted.  No record is open afterwards either way.
 */
enum spool_status spool_record_commit(struct spool_writer *w,
    const struct spool_header *hdrs, size_t nhdrs);

/* Abandons the open record: it reads as aborted, is never published.
 * Harmless when no record is open. */
void spool_record_abort(struct spool_writer *w);

/* True between a successful record_begin and commit/abort. */
bool spool_record_is_open(const struct spool_writer *w);

/*
 * Bytes held by the spool directory right now, from the shared counters
 * (one atomic load each; no syscall).  Cheap enough to call per record.
 */
uint64_t spool_writer_usage(const struct spool_writer *w);

/* Snapshot of the shared counters (all writers). */
void spool_writer_counters(const struct spool_writer *w,
    struct spool_counters *c_r);

/*
 * The shared counter file, for crm-capture: DIR/spool.shm, created when
 * missing.  Returns NULL with errno set.
 */
struct spool_shm;
struct spool_shm *spool_shm_open(const char *dir);
void spool_shm_close(struct spool_shm **shmp);
void spool_shm_counters(const struct spool_shm *shm,
    struct spool_counters *c_r);
/* crm-capture: n bytes of segments deleted / n records acknowledged. */
void spool_shm_release(struct spool_shm *shm, uint64_t n);
void spool_shm_acked(struct spool_shm *shm, uint64_t n);
/*
 * crm-capture at start-up: makes usage (written - released) equal the bytes
 * actually on disk, correcting drift left by segments removed by hand.
 * Writers appending meanwhile can make it off by what they write during
 * the call; the next start corrects that too.
 */
void spool_shm_reconcile(struct spool_shm *shm, uint64_t on_disk);

/*
 * Segment file names: "<writer_id>.<seq as 16 hex digits>.seg".  Returns
 * true and the parts when name is one.  writer_r needs
 * SPOOL_WRITER_ID_MAX + 1 bytes.
 */
/* DIR/<id>.<seq, 16 hex>.seg into buf; -1 (ENAMETOOLONG) if it does not
 * fit. */
int spool_segment_path(char *buf, size_t len, const char *dir,
    const char *id, uint64_t seq);
bool spool_segment_name_parse(const char *name, char *writer_r,
    uint64_t *seq_r);

/* ---- reader -------------------------------------------------------- */

enum spool_read_result {
	SPOOL_READ_RECORD,	/* a complete record: see the spool_record */
	SPOOL_READ_AGAIN,	/* nothing complete yet at the position */
	SPOOL_READ_END,		/* segment ended (seal, or final and no more) */
	SPOOL_READ_ERROR,	/* I/O error, errno set; position unchanged */
};

struct spool_record {
	uint64_t offset;	/* where the record starts in the segment */
	uint64_t end;		/* just past it: the next record's offset */
	uint64_t seq;		/* the writer's record number */
	uint64_t begin_ms;	/* wall clock at record_begin, Unix ms */
	const char *topic;	/* NUL-terminated */
	const uint8_t *key;
	size_t key_len;
	size_t nheaders;	/* begin headers, then commit headers */
	struct spool_header headers[SPOOL_HEADERS_MAX];
	/* malloc'd, owned by the record; valid until the next read or
	 * spool_reader_close().  The caller may take it (then set it to NULL)
	 * and free(3) it later. Header/topic/key strings stay reader-owned. */
	uint8_t *payload;
	size_t payload_len;
};

struct spool_reader_stats {
	uint64_t records;	/* complete records returned */
	uint64_t aborted;	/* aborted by the writer: skipped */
	uint64_t corrupt;	/* bad checksum or framing: skipped */
	uint64_t corrupt_bytes;	/* bytes skipped while resynchronising */
	uint64_t torn;		/* incomplete last record of a final segment */
	uint64_t torn_bytes;
};

struct spool_reader;

/*
 * Opens segment path for reading at offset (0 or an offset a previous
 * reader returned as a record's end).  Checks the segment header; the nonce
 * it carries is returned in *nonce_r so persisted offsets can be tied to
 * this very file.  Returns NULL with errno set: EINVAL not a segment,
 * EAGAIN its header is not complete yet (just created; retry later).
 */
struct spool_reader *spool_reader_open(const char *path, uint64_t offset,
    uint64_t *nonce_r);

/* The same over a memory image of a segment (tests, fuzzers).  buf must
 * outlive the reader. */
struct spool_reader *spool_reader_open_mem(const void *buf, size_t len,
    uint64_t offset, uint64_t *nonce_r);

/*
 * Next complete record at or after the current position.  Aborted and
 * corrupt records are skipped and counted.  With final == false an
 * incomplete record may still be being written: SPOOL_READ_AGAIN, and the
 * same call later sees it complete.  With final == true (the writer has
 * moved on or is gone) an incomplete tail is torn: it is counted and
 * SPOOL_READ_END returned.  A seal record also returns SPOOL_READ_END.
 * On SPOOL_READ_RECORD *rec is filled (previous payload freed first).
 */
enum spool_read_result spool_reader_next(struct spool_reader *r, bool final,
    struct spool_record *rec);

/* Offset the next call starts at (just past the last record or skip). */
uint64_t spool_reader_position(const struct spool_reader *r);
/* Moves the position back (redelivery after a failed produce). */
void spool_reader_seek(struct spool_reader *r, uint64_t offset);
/* File descriptor of a file reader (-1 for memory), for fdatasync. */
int spool_reader_fd(const struct spool_reader *r);
const struct spool_reader_stats *spool_reader_stats(
    const struct spool_reader *r);
/* Frees the record's payload; safe on a zeroed or already freed record. */
void spool_record_clear(struct spool_record *rec);
void spool_reader_close(struct spool_reader **rp);

#endif
