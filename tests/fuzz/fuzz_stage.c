/*
 * fuzz_stage.c - recovery of a staged writer's stage (spool_stage.c) from
 * arbitrary stage files.
 *
 * Input: a flag byte, then header words, then ring bytes.  Flag bit 0
 * clear: the ten header words are taken as they come (the checks must
 * refuse what a writer could not have left).  Set: they are folded into
 * a plausible header (positions in order, near each other), so the
 * fuzzer reaches the writing and rotation paths.  The stage is a sparse
 * 4 MiB ring in a temporary directory; recovery runs, then the spool
 * reader reads every segment it made.  Invariants: no crash or leak;
 * recovery writes no more than the ring holds; the stage is gone or set
 * aside afterwards.  Both directories are removed at exit.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capture/spool.h"
#include "capture/spool_stage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RING SPOOL_STAGE_MIN

static char dir[64], sdir[64];

static void dir_empty(const char *);

static void
dirs_remove(void)
{
	dir_empty(dir);
	dir_empty(sdir);
	rmdir(dir);
	rmdir(sdir);
}

static void
dirs_init(void)
{
	if (dir[0] != '\0')
		return;
	snprintf(dir, sizeof(dir), "/tmp/fuzz_stage.XXXXXX");
	snprintf(sdir, sizeof(sdir), "/tmp/fuzz_stage_s.XXXXXX");
	if (mkdtemp(dir) == NULL || mkdtemp(sdir) == NULL)
		abort();
	atexit(dirs_remove);
}

static void
dir_empty(const char *d)
{
	DIR *dp = opendir(d);
	struct dirent *de;
	char path[600];

	if (dp == NULL)
		abort();
	while ((de = readdir(dp)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", d, de->d_name);
		unlink(path);
	}
	closedir(dp);
}

static uint64_t
word(const uint8_t **p, size_t *left)
{
	uint64_t v = 0;
	size_t n = *left < 8 ? *left : 8;

	memcpy(&v, *p, n);
	*p += n;
	*left -= n;
	return v;
}

/* Reads every segment of dir; returns the bytes they occupy. */
static uint64_t
read_segments(void)
{
	char wid[SPOOL_WRITER_ID_MAX + 1], path[600];
	struct spool_record rec;
	DIR *dp = opendir(dir);
	struct dirent *de;
	uint64_t seq, total = 0;

	if (dp == NULL)
		abort();
	memset(&rec, 0, sizeof(rec));
	while ((de = readdir(dp)) != NULL) {
		struct spool_reader *r;
		struct stat sb;

		if (!spool_segment_name_parse(de->d_name, wid, &seq))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &sb) != 0)
			abort();
		total += (uint64_t)sb.st_blocks * 512;
		if ((r = spool_reader_open(path, 0, NULL)) == NULL)
			continue;
		for (int i = 0; i < 10000; i++)
			if (spool_reader_next(r, true, &rec) !=
			    SPOOL_READ_RECORD)
				break;
		spool_reader_close(&r);
	}
	closedir(dp);
	spool_record_clear(&rec);
	return total;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spool_stage_hdr h;
	char path[128], link[128];
	const uint8_t *p = data;
	size_t left = size;
	uint64_t w[10];
	bool plausible;
	int fd, rc;

	if (size < 1)
		return 0;
	dirs_init();
	plausible = (data[0] & 1) != 0;
	p++;
	left--;
	for (int i = 0; i < 10; i++)
		w[i] = word(&p, &left);
	memset(&h, 0, sizeof(h));
	h.magic = SPOOL_STAGE_MAGIC;
	h.size = RING;
	if (plausible) {
		/* base, then durable, commit, end a little after it; maybe a
		 * rotation between durable and end */
		uint64_t base = (w[0] % 64) * SPOOL_STAGE_BLK;
		uint64_t d = base + w[1] % 70000;
		uint64_t end = d + w[2] % 70000;

		h.seg_seq = 1 + w[3] % 4;
		h.seg_base = base;
		h.durable = d;
		h.end = end;
		h.commit = d + (end > d ? w[4] % (end - d + 1) : 0);
		if ((w[5] & 1) != 0 && end > d) {
			uint64_t from = d + w[6] % (end - d + 1);
			uint64_t pos = (from + SPOOL_STAGE_BLK - 1) &
			    ~(uint64_t)(SPOOL_STAGE_BLK - 1);

			if (pos <= end) {
				h.rot_seq = h.seg_seq + 1;
				h.rot_from = from;
				h.rot_pos = pos;
			}
		}
	} else {
		h.magic = (w[9] & 1) != 0 ? w[0] : SPOOL_STAGE_MAGIC;
		h.size = (w[9] & 2) != 0 ? w[1] : RING;
		h.end = w[2];
		h.commit = w[3];
		h.durable = w[4];
		h.seg_seq = w[5];
		h.seg_base = w[6];
		h.rot_seq = w[7];
		h.rot_from = w[8];
		h.rot_pos = w[9] >> 2;
	}
	snprintf(path, sizeof(path), "%s/s.stage", sdir);
	snprintf(link, sizeof(link), "%s/f.stage", dir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600)) < 0)
		abort();
	if (ftruncate(fd, SPOOL_STAGE_HDR + RING) != 0 ||
	    pwrite(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
		abort();
	/* the ring's bytes from the input, at the durable position */
	if (left > 0 && pwrite(fd, p, left, (off_t)(SPOOL_STAGE_HDR +
	    (uint64_t)h.durable % RING)) < 0)
		abort();
	close(fd);
	if (symlink(path, link) != 0)
		abort();
	rc = spool_stage_recover(dir, "f");
	if (read_segments() > (uint64_t)RING + 4 * SPOOL_STAGE_BLK)
		abort();	/* more than the ring could have held */
	if (rc == 1 && (access(path, F_OK) == 0 || access(link, F_OK) == 0))
		abort();	/* recovered, yet the stage is still there */
	dir_empty(dir);
	dir_empty(sdir);
	return 0;
}
