/*
 * test_spool.c - the spool writer and reader: round trips, streaming,
 * abort, rotation, torn tails at every byte, corruption, limits, a full
 * spool, staged writes, and file systems that run out of room.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "capture/crc32c.h"
#include "capture/spool.h"
#include "capture/spool_stage.h"

#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>

static const struct spool_limits base_limits = {
	.segment_size = 64 * 1024 * 1024,
	.spool_max = 0,
	.payload_max = SPOOL_PAYLOAD_MAX,
};

struct seg {
	char path[512];
};

static char *
tmpdir_new(void)
{
	char tmpl[] = "/tmp/test_spool.XXXXXX";
	char *d = mkdtemp(tmpl);

	assert_non_null(d);
	return strdup(d);
}

static void
tmpdir_free(char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[600];

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
	free(dir);
}

static int
seg_cmp(const void *a, const void *b)
{
	return strcmp(((const struct seg *)a)->path,
	    ((const struct seg *)b)->path);
}

/* Segment files of dir, sorted (names sort by writer, then sequence). */
static size_t
list_segments(const char *dir, struct seg *out, size_t max)
{
	char wid[SPOOL_WRITER_ID_MAX + 1];
	DIR *d = opendir(dir);
	struct dirent *de;
	uint64_t seq;
	size_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (spool_segment_name_parse(de->d_name, wid, &seq) &&
		    n < max)
			snprintf(out[n++].path, sizeof(out->path), "%s/%s",
			    dir, de->d_name);
	closedir(d);
	qsort(out, n, sizeof(*out), seg_cmp);
	return n;
}

static uint8_t *
slurp(const char *path, size_t *len_r)
{
	struct stat st;
	uint8_t *buf;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	assert_int_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
	close(fd);
	*len_r = (size_t)st.st_size;
	return buf;
}

static void
fill(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

static void
write_record(struct spool_writer *w, const char *key, const uint8_t *p,
    size_t n, size_t step)
{
	struct spool_header h[2] = {
		{ "schema", "crm.mail/1", 10 },
		{ "tenant", "acme", 4 },
	};
	struct spool_header c[1] = { { "uid", "42", 2 } };

	assert_int_equal(spool_record_begin(w, "crm.mail.v1", key,
	    strlen(key), h, 2), SPOOL_OK);
	for (size_t off = 0; off < n; off += step)
		assert_int_equal(spool_record_append(w, p + off,
		    n - off < step ? n - off : step), SPOOL_OK);
	assert_int_equal(spool_record_commit(w, c, 1), SPOOL_OK);
}

static void
check_record(const struct spool_record *rec, const char *key,
    const uint8_t *p, size_t n)
{
	assert_string_equal(rec->topic, "crm.mail.v1");
	assert_int_equal(rec->key_len, strlen(key));
	assert_memory_equal(rec->key, key, rec->key_len);
	assert_int_equal(rec->nheaders, 3);
	assert_string_equal(rec->headers[0].name, "schema");
	assert_memory_equal(rec->headers[0].value, "crm.mail/1", 10);
	assert_string_equal(rec->headers[2].name, "uid");
	assert_int_equal(rec->headers[2].value_len, 2);
	assert_int_equal(rec->payload_len, n);
	if (n > 0)
		assert_memory_equal(rec->payload, p, n);
}

static void
test_crc32c(void **state)
{
	(void)state;
	/* The standard check value for CRC-32C. */
	assert_int_equal(crc32c(0, "123456789", 9), 0xe3069283u);
	assert_int_equal(crc32c(crc32c(0, "1234", 4), "56789", 5),
	    0xe3069283u);
}

/* Bit at a time, straight from the definition: the reference. */
static uint32_t
crc32c_bitwise(uint32_t crc, const uint8_t *p, size_t len)
{
	uint32_t c = ~crc;

	while (len-- > 0) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = (c & 1) != 0 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
	}
	return ~c;
}

/* Every length around the lane sizes (3 x 256, 3 x 2048 and their
 * multiples), at every alignment, whole and split at random points. */
static void
test_crc32c_lengths(void **state)
{
	enum { MAX = 3 * 2048 * 3 + 64 };
	static const size_t lens[] = { 0, 1, 7, 8, 9, 63, 64, 255, 256, 767,
	    768, 769, 1535, 1536, 1537, 6143, 6144, 6145, 6144 + 768,
	    6144 + 767, 12288, 12289, 12288 + 1536 + 5, MAX - 8 };
	uint8_t *buf = malloc(MAX);
	uint32_t seed = 12345;

	(void)state;
	assert_non_null(buf);
	for (size_t i = 0; i < MAX; i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = (uint8_t)(seed >> 16);
	}
	for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
		for (size_t align = 0; align < 8; align++) {
			const uint8_t *p = buf + align;
			size_t n = lens[l];
			uint32_t want = crc32c_bitwise(0x5a5a5a5au, p, n);
			size_t cut;

			assert_int_equal(crc32c(0x5a5a5a5au, p, n), want);
			seed = seed * 1103515245u + 12345u;
			cut = n == 0 ? 0 : (seed >> 8) % n;
			assert_int_equal(crc32c(crc32c(0x5a5a5a5au, p, cut),
			    p + cut, n - cut), want);
		}
	}
	free(buf);
}

static void
test_names(void **state)
{
	char w[SPOOL_WRITER_ID_MAX + 1];
	uint64_t seq;

	(void)state;
	assert_true(spool_segment_name_parse("w-1.00000000000000ff.seg", w,
	    &seq));
	assert_string_equal(w, "w-1");
	assert_int_equal(seq, 255);
	assert_false(spool_segment_name_parse("w1.00000000000000FF.seg", w,
	    &seq));
	assert_false(spool_segment_name_parse(".0000000000000001.seg", w,
	    &seq));
	assert_false(spool_segment_name_parse("w1.0000000000000001.tmp", w,
	    &seq));
	assert_false(spool_segment_name_parse("w/1.0000000000000001.seg", w,
	    &seq));
	assert_false(spool_segment_name_parse("spool.shm", w, &seq));
}

static void
test_round_trip(void **state)
{
	char *dir = tmpdir_new();
	const char *err = NULL;
	struct spool_writer *w;
	struct spool_reader *r;
	struct spool_record rec = { 0 };
	struct seg segs[4];
	uint8_t small[100], empty[1];
	uint64_t nonce = 0, first_end;

	(void)state;
	fill(small, sizeof(small), 1);
	w = spool_writer_open(dir, "w0", &base_limits, &err);
	assert_non_null(w);
	write_record(w, "acme/alice", small, sizeof(small), 7);
	write_record(w, "acme/bob", empty, 0, 1);
	assert_int_equal(list_segments(dir, segs, 4), 1);

	/* While the writer is open: two records, then "again". */
	r = spool_reader_open(segs[0].path, 0, &nonce);
	assert_non_null(r);
	assert_true(nonce != 0);
	assert_int_equal(spool_reader_next(r, false, &rec),
	    SPOOL_READ_RECORD);
	check_record(&rec, "acme/alice", small, sizeof(small));
	assert_int_equal(rec.seq, 0);
	first_end = rec.end;
	assert_int_equal(spool_reader_position(r), first_end);
	assert_int_equal(spool_reader_next(r, false, &rec),
	    SPOOL_READ_RECORD);
	check_record(&rec, "acme/bob", empty, 0);
	assert_int_equal(rec.seq, 1);
	assert_int_equal(spool_reader_next(r, false, &rec), SPOOL_READ_AGAIN);

	/* Close seals: the reader sees the end. */
	spool_writer_close(&w);
	assert_null(w);
	assert_int_equal(spool_reader_next(r, false, &rec), SPOOL_READ_END);
	spool_reader_close(&r);

	/* Resuming at a saved offset skips what was acknowledged. */
	r = spool_reader_open(segs[0].path, first_end, NULL);
	assert_int_equal(spool_reader_next(r, false, &rec),
	    SPOOL_READ_RECORD);
	check_record(&rec, "acme/bob", empty, 0);
	spool_record_clear(&rec);
	spool_reader_close(&r);
	tmpdir_free(dir);
}

static void
test_streaming(void **state)
{
	static const size_t sizes[] = { 1, 1000, 65535, 65536, 65537,
		1048576, 1048577, 3 * 1048576 + 17 };
	static const size_t steps[] = { 1, 13, 4096, 70000, 2000000 };
	char *dir = tmpdir_new();
	const char *err = NULL;
	struct spool_writer *w;
	struct spool_reader *r;
	struct spool_record rec = { 0 };
	struct seg segs[2];
	size_t maxn = sizes[sizeof(sizes) / sizeof(*sizes) - 1];
	uint8_t *p = malloc(maxn);

	(void)state;
	fill(p, maxn, 7);
	w = spool_writer_open(dir, "stream", &base_limits, &err);
	assert_non_null(w);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(*sizes); i++)
		for (size_t j = 0; j < sizeof(steps) / sizeof(*steps); j++) {
			if (steps[j] == 1 && sizes[i] > 70000)
				continue;	/* slow, and covered */
			write_record(w, "k", p, sizes[i], steps[j]);
		}
	spool_writer_close(&w);
	assert_int_equal(list_segments(dir, segs, 2), 1);
	r = spool_reader_open(segs[0].path, 0, NULL);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(*sizes); i++)
		for (size_t j = 0; j < sizeof(steps) / sizeof(*steps); j++) {
			if (steps[j] == 1 && sizes[i] > 70000)
				continue;
			assert_int_equal(spool_reader_next(r, false, &rec),
			    SPOOL_READ_RECORD);
			check_record(&rec, "k", p, sizes[i]);
		}
	assert_int_equal(spool_reader_next(r, false, &rec), SPOOL_READ_END);
	assert_int_equal(spool_reader_stats(r)->corrupt, 0);
	spool_record_clear(&rec);
	spool_reader_close(&r);
	free(p);
	tmpdir_free(dir);
}

/* Pages of path resident in the page cache. */
static size_t
resident_bytes(const char *path)
{
	long pg = sysconf(_SC_PAGESIZE);
	struct stat st;
	unsigned char *vec;
	size_t npages, n = 0;
	void *map;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	assert_true(map != MAP_FAILED);
	npages = ((size_t)st.st_size + (size_t)pg - 1) / (size_t)pg;
	vec = malloc(npages);
	assert_int_equal(mincore(map, (size_t)st.st_size, vec), 0);
	for (size_t i = 0; i < npages; i++)
		n += vec[i] & 1;
	free(vec);
	munmap(map, (size_t)st.st_size);
	close(fd);
	return n * (size_t)pg;
}

/*
 * A writer that streams tens of megabytes keeps only its write-behind lag
 * (8 MiB) in the page cache once the disk has the rest, and what it
 * dropped reads back intact.
 */
static void
test_write_behind(void **state)
{
	const size_t big = 40u << 20, small = 2u << 20;
	char *dir = tmpdir_new();
	const char *err = NULL;
	struct spool_writer *w;
	struct spool_reader *r;
	struct spool_record rec = { 0 };
	struct statfs sfs;
	struct seg segs[2];
	uint8_t *p = malloc(big);
	size_t res;
	int fd;

	(void)state;
	fill(p, big, 11);
	w = spool_writer_open(dir, "behind", &base_limits, &err);
	assert_non_null(w);
	write_record(w, "a", p, big, 65536);
	assert_int_equal(list_segments(dir, segs, 2), 1);
	/* What the disk holds is clean: the next window may drop it all. */
	fd = open(segs[0].path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fdatasync(fd), 0);
	close(fd);
	write_record(w, "b", p, small, 65536);
	res = resident_bytes(segs[0].path);
	assert_int_equal(statfs(dir, &sfs), 0);
	if (sfs.f_type != 0x01021994) {	/* tmpfs keeps pages by design */
		print_message("write-behind: %zu KiB of %zu KiB resident\n",
		    res >> 10, (big + small) >> 10);
		assert_true(res <= (12u << 20));
	}
	spool_writer_close(&w);
	r = spool_reader_open(segs[0].path, 0, NULL);
	assert_non_null(r);
	assert_int_equal(spool_reader_next(r, false, &rec), SPOOL_READ_RECORD);
	check_record(&rec, "a", p, big);
	assert_int_equal(spool_reader_next(r, false, &rec), SPOOL_READ_RECORD);
	check_record(&rec, "b", p, small);
	assert_int_equal(spool_reader_next(r, false, &rec), SPOOL_READ_END);
	spool_record_clear(&rec);
	spool_reader_close(&r);
	free(p);
	tmpdir_free(dir);
}

/* Whether the kernel (or valgrind) serves cachestat(2), without which the
 * writer cannot tell clean pages from ones still waiting for the disk. */
static bool
have_cachestat(const char *dir)
{
#if defined(__x86_64__) || defined(__aarch64__)
	uint64_t range[2] = { 0, 4096 }, cs[5];
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	long rc;

	assert_true(fd >= 0);
	rc = syscall(451, fd, range, cs, 0);
	close(fd);
	return rc == 0 || errno != ENOSYS;
#else
	(void)dir;
	return false;
#endif
}

/*
 * The same across a rotation, with no fsync from anyone: the finished
 * segment leaves the page cache entirely as the disk takes it, within
 * seconds, while the writer goes on in the next one.  Appends of 64 KiB
 * plus framing end mid-page, so this also fails if a partial page is ever
 * sent to the disk and then dirtied again (it would wait for the kernel's
 * flusher, 30 s by default).
 */
static void
test_write_behind_rotation(void **state)
{
	const struct spool_limits lim = {
		.segment_size = 48u << 20,
		.payload_max = SPOOL_PAYLOAD_MAX,
	};
	const size_t big = (48u << 20) + 12345, step = 1u << 20;
	char *dir = tmpdir_new();
	const char *err = NULL;
	struct spool_writer *w;
	struct statfs sfs;
	struct seg segs[3];
	uint8_t *p = malloc(big);
	size_t res = 0;
	int i;

	(void)state;
	fill(p, big, 5);
	assert_int_equal(statfs(dir, &sfs), 0);
	w = spool_writer_open(dir, "rot", &lim, &err);
	assert_non_null(w);
	write_record(w, "a", p, big, 65536);
	for (i = 0; i < 45; i++) {
		struct timespec ts = { 0, 50 * 1000 * 1000 };

		write_record(w, "b", p, step, 65536);
		assert_int_equal(list_segments(dir, segs, 3), 2);
		if ((res = resident_bytes(segs[0].path)) == 0)
			break;
		nanosleep(&ts, NULL);
	}
	print_message("rotation: first segment resident %zu KiB after %d "
	    "appends\n", res >> 10, i + 1);
	/* Without cachestat(2) (Linux < 6.5, valgrind) a finished segment's
	 * tail may stay until the segment is deleted; tmpfs keeps its pages
	 * by design. */
	if (sfs.f_type != 0x01021994 && have_cachestat(dir))
		assert_int_equal(res, 0);
	spool_writer_close(&w);
	free(p);
	tmpdir_free(dir);
}

static void
test_abort(void **state)
{
	char *dir = tmpdir_new();
	const char *err = NULL;
	struct spool_writer *w;
	struct spool_reader *r;
	struct spool_record rec = { 0 };
	struct spool_counters c;
	struct seg segs[2];
	uint8_t *big = malloc(200000);

	(void)state;
	fill(big, 200000, 3);
	w = spool_writer_open(dir, "w", &base_limits, &err);
	/* Small: still in the buffer, never reaches the file. */
	assert_int_equal(spool_record_begin(w, "t", "k", 1, NULL, 0),
	    SPOOL_OK);
	assert_true(spool_record_is_open(w));
	assert_int_equal(spool_record_append(w, big, 100), SPOOL_OK);
	spool_record_abort(w);
	assert_false(spool_record_is_open(w));
	/* Large: partly written, ends with an aborted trailer. */
	assert_int_equal(spool_record_begin(w, "t", "k", 1, NULL, 0),
	    SPOOL_OK);
	assert_int_equal(spool_record_append(w, big, 200000), SPOOL_OK);
	spool_record_abort(w);
	spool_record_abort(w);	/* harmless when nothing is open */
	write_record(w, "after", big, 5000, 5000);
	/* Closing with a record open aborts it. */
	assert_int_equal(spool_record_begin(w, "t", "k", 1, NULL, 0),
	    SPOOL_OK);
	assert_int_equal(spool_record_append(w, big, 100000), SPOOL_OK);
	spool_writer_counters(w, &c);
	assert_int_equal(c.records_aborted, 2);
	assert_int_equal(c.records_committed, 1);
	spool_writer_close(&w);

	assert_int_equal(list_segments(dir, segs, 2), 1);
	r = spool_reader_open(segs[0].path, 0, NULL);
	assert_int_equal(spool_reader_next(r, true, &rec), SPOOL_READ_RECORD);
	check_record(&rec, "after", big, 5000);
	assert_int_equal(spool_reader_next(r, true, &rec), SPOOL_READ_END);
	assert_int_equal(spool_reader_stats(r)->aborted, 2);
	assert_int_equal(spool_reader_stats(r)->corrupt, 0);
	assert_int_equal(spool_reader_stats(r)->torn, 0);
	spool_record_clear(&rec);
	spool_reader_close(&r);
	free(big);
	tmpdir_free(dir);
}

static void
test_rotation_and_reopen(void **state)
{
	struct spool_limits lim = base_limits;
	char *dir = tmpdir_new();
	const char *err = NULL;
	struct spool_writer *w, *w2;
	struct spool_reader *r;
	struct spool_record rec = { 0 };
	struct seg segs[64];
	uint8_t p[1000];
	size_t n, total = 0;

	(void)state;
	fill(p, sizeof(p), 9);
	lim.segment_size = 4096;
	w = spool_writer_open(dir, "rot", &lim, &err);
	for (int i = 0; i < 20; i++)
		write_record(w, "k", p, sizeof(p), 300);
	/* One writer id belongs to one process at a time. */
	w2 = spool_writer_open(dir, "rot", &lim, &err);
	assert_null(w2);
	assert_int_equal(errno, EWOULDBLOCK);
	spool_writer_close(&w);
	n = list_segments(dir, segs, 64);
	assert_true(n >= 5);
	for (size_t i = 0; i < n; i++) {
		enum spool_read_result rr;

		r = spool_reader_open(segs[i].path, 0, NULL);
		assert_non_null(r);
		while ((rr = spool_reader_next(r, false, &rec)) ==
		    SPOOL_READ_RECORD) {
			check_record(&rec, "k", p, sizeof(p));
			total++;
		}
		/* Every segment was sealed: rotation and close both seal. */
		assert_int_equal(rr, SPOOL_READ_END);
		spool_reader_close(&r);
	}
	assert_int_equal(total, 20);

	/* A reopened writer never appends to an old segment. */
	w = spool_writer_open(dir, "rot", &lim, &err);
	assert_non_null(w);
	write_record(w, "k", p, 10, 10);
	spool_writer_close(&w);
	assert_int_equal(list_segments(dir, segs, 64), n + 1);
	spool_record_clear(&rec);
	tmpdir_free(dir);
}

/* Builds a segment image: three records, the writer still open (no seal).
 * Returns the image and the offset where the last record starts. */
static uint8_t *
three_records(uint8_t *payload, size_t plen, size_t *len_r,
    size_t *last_r)
{
	char *dir = tmpdir_new();
	const char *err = NULL;
	struct spool_writer *w = spool_writer_open(dir, "t", &base_limits,
	    &err);
	struct seg segs[2];
	uint8_t *img;
	size_t before;

	write_record(w, "a", payload, plen, 333);
	write_record(w, "b", payload, plen, 333);
	assert_int_equal(list_segments(dir, segs, 2), 1);
	free(slurp(segs[0].path, &before));
	write_record(w, "c", payload, plen, 333);
	img = slurp(segs[0].path, len_r);
	*last_r = before;
	/* Do not seal: the image stands for a writer killed with -9. */
	spool_writer_close(&w);
	tmpdir_free(dir);
	return img;
}

static void
test_torn_tail_every_offset(void **state)
{
	uint8_t payload[700];
	struct spool_record rec = { 0 };
	size_t len, last;
	uint8_t *img;

	(void)state;
	fill(payload, sizeof(payload), 5);
	img = three_records(payload, sizeof(payload), &len, &last);
	for (size_t cut = last; cut <= len; cut++) {
		struct spool_reader *r;
		const struct spool_reader_stats *st;
		size_t want = cut == len ? 3 : 2, got = 0;
		enum spool_read_result rr;

		/* Not final: the tail may still be written; wait. */
		r = spool_reader_open_mem(img, cut, 0, NULL);
		while ((rr = spool_reader_next(r, false, &rec)) ==
		    SPOOL_READ_RECORD)
			got++;
		assert_int_equal(got, want);
		assert_int_equal(rr, SPOOL_READ_AGAIN);
		spool_reader_close(&r);

		/* Final: the cut record is torn, counted, skipped. */
		got = 0;
		r = spool_reader_open_mem(img, cut, 0, NULL);
		while ((rr = spool_reader_next(r, true, &rec)) ==
		    SPOOL_READ_RECORD) {
			check_record(&rec, got == 0 ? "a" : got == 1 ? "b" :
			    "c", payload, sizeof(payload));
			got++;
		}
		st = spool_reader_stats(r);
		assert_int_equal(got, want);
		assert_int_equal(rr, SPOOL_READ_END);
		assert_int_equal(st->torn, cut > last && cut < len ? 1 : 0);
		assert_int_equal(st->torn_bytes,
		    cut > last && cut < len ? cut - last : 0);
		assert_int_equal(st->corrupt, 0);
		assert_int_equal(spool_reader_position(r), cut);
		spool_reader_close(&r);
	}
	spool_record_clear(&rec);
	free(img);
}

static void
test_corrupt(void **state)
{
	uint8_t payload[700];
	struct spool_record rec = { 0 };
	size_t len, last, second;
	uint8_t *img;
	/* Offsets into the second record: magic, meta, first chunk length,
	 * payload, trailer, crc, end magic. */
	size_t where[] = { 0, 1, 40, 81, 100, 600 };

	(void)state;
	fill(payload, sizeof(payload), 11);
	img = three_records(payload, sizeof(payload), &len, &last);
	second = 32 + (last - 32) / 2;	/* the two records are equal size */
	for (size_t i = 0; i < sizeof(where) / sizeof(*where) + 3; i++) {
		uint8_t *bad = malloc(len);
		size_t at = i < sizeof(where) / sizeof(*where) ?
		    second + where[i] : last - 1 - (i - 6) * 4;
		struct spool_reader *r;
		const char *keys[2] = { "a", "c" };
		size_t got = 0;

		memcpy(bad, img, len);
		bad[at] ^= 0x20;
		r = spool_reader_open_mem(bad, len, 0, NULL);
		while (spool_reader_next(r, true, &rec) == SPOOL_READ_RECORD) {
			assert_true(got < 2);
			check_record(&rec, keys[got], payload,
			    sizeof(payload));
			got++;
		}
		assert_int_equal(got, 2);
		assert_int_equal(spool_reader_stats(r)->corrupt, 1);
		assert_int_equal(spool_reader_stats(r)->corrupt_bytes,
		    last - second);
		spool_reader_close(&r);
		free(bad);
	}
	/* A damaged segment header: not a segment at all. */
	img[3] ^= 1;
	assert_null(spool_reader_open_mem(img, len, 0, NULL));
	assert_int_equal(errno, EINVAL);
	assert_null(spool_reader_open_mem(img, 10, 0, NULL));
	assert_int_equal(errno, EAGAIN);
	spool_record_clear(&rec);
	free(img);
}

static void
test_limits(void **state)
{
	char *dir = tmpdir_new();
	struct spool_limits lim = base_limits;
	const char *err = NULL;
	struct spool_writer *w;
	struct spool_header h[SPOOL_HEADERS_MAX + 1];
	char longtopic[SPOOL_TOPIC_MAX + 2];
	static uint8_t big[SPOOL_KEY_MAX + SPOOL_HEADER_VALUE_MAX + 2];
	struct spool_counters c;

	(void)state;
	assert_null(spool_writer_open(dir, "bad/id", &lim, &err));
	assert_null(spool_writer_open(dir, "", &lim, &err));
	lim.payload_max = SPOOL_PAYLOAD_MAX + 1;
	assert_null(spool_writer_open(dir, "w", &lim, &err));
	lim.payload_max = 1000;
	w = spool_writer_open(dir, "w", &lim, &err);
	assert_non_null(w);

	memset(longtopic, 'a', sizeof(longtopic) - 1);
	longtopic[sizeof(longtopic) - 1] = '\0';
	for (size_t i = 0; i < SPOOL_HEADERS_MAX + 1; i++)
		h[i] = (struct spool_header){ "x", "y", 1 };
	assert_int_equal(spool_record_begin(w, longtopic, "k", 1, NULL, 0),
	    SPOOL_INVALID);
	assert_int_equal(spool_record_begin(w, "bad topic", "k", 1, NULL, 0),
	    SPOOL_INVALID);
	assert_int_equal(spool_record_begin(w, "", "k", 1, NULL, 0),
	    SPOOL_INVALID);
	assert_int_equal(spool_record_begin(w, "t", big, SPOOL_KEY_MAX + 1,
	    NULL, 0), SPOOL_INVALID);
	assert_int_equal(spool_record_begin(w, "t", "k", 1, h,
	    SPOOL_HEADERS_MAX + 1), SPOOL_INVALID);
	h[0].name = "has space";
	assert_int_equal(spool_record_begin(w, "t", "k", 1, h, 1),
	    SPOOL_INVALID);
	h[0] = (struct spool_header){ "x", big, SPOOL_HEADER_VALUE_MAX + 1 };
	assert_int_equal(spool_record_begin(w, "t", "k", 1, h, 1),
	    SPOOL_INVALID);
	h[0] = (struct spool_header){ "x", "y", 1 };
	/* Out of order. */
	assert_int_equal(spool_record_append(w, "x", 1), SPOOL_INVALID);
	assert_int_equal(spool_record_commit(w, NULL, 0), SPOOL_INVALID);
	/* Begin + commit headers share the bound. */
	assert_int_equal(spool_record_begin(w, "t", "k", 1, h, 60), SPOOL_OK);
	assert_int_equal(spool_record_begin(w, "t", "k", 1, h, 1),
	    SPOOL_INVALID);
	assert_int_equal(spool_record_commit(w, h, 5), SPOOL_INVALID);
	assert_false(spool_record_is_open(w));
	/* Payload over the limit: dropped, counted, commit refuses. */
	assert_int_equal(spool_record_begin(w, "t", "k", 1, h, 1), SPOOL_OK);
	assert_int_equal(spool_record_append(w, big, 600), SPOOL_OK);
	assert_int_equal(spool_record_append(w, big, 600), SPOOL_TOO_BIG);
	assert_int_equal(spool_record_append(w, big, 1), SPOOL_TOO_BIG);
	assert_int_equal(spool_record_commit(w, NULL, 0), SPOOL_TOO_BIG);
	assert_false(spool_record_is_open(w));
	spool_writer_counters(w, &c);
	assert_int_equal(c.records_dropped, 1);
	assert_int_equal(c.records_committed, 0);
	spool_writer_close(&w);
	tmpdir_free(dir);
}

static void
test_full_spool(void **state)
{
	char *dir = tmpdir_new();
	struct spool_limits lim = base_limits;
	const char *err = NULL;
	struct spool_writer *w, *w2;
	struct spool_shm *shm;
	struct spool_counters c;
	uint8_t p[1000];
	int accepted = 0;

	(void)state;
	fill(p, sizeof(p), 1);
	lim.spool_max = 10000;
	w = spool_writer_open(dir, "a", &lim, &err);
	w2 = spool_writer_open(dir, "b", &lim, &err);
	assert_non_null(w2);
	/* Two writers share one limit through spool.shm. */
	for (int i = 0; i < 30; i++) {
		struct spool_writer *x = i % 2 == 0 ? w : w2;
		enum spool_status st = spool_record_begin(x, "t", "k", 1,
		    NULL, 0);

		if (st == SPOOL_FULL)
			continue;
		assert_int_equal(st, SPOOL_OK);
		assert_int_equal(spool_record_append(x, p, sizeof(p)),
		    SPOOL_OK);
		assert_int_equal(spool_record_commit(x, NULL, 0), SPOOL_OK);
		accepted++;
	}
	assert_true(accepted >= 8 && accepted <= 10);
	assert_true(spool_writer_usage(w) >= 10000);
	assert_true(spool_writer_usage(w) < 10000 + 1100);
	spool_writer_counters(w, &c);
	assert_int_equal(c.records_dropped, (uint64_t)(30 - accepted));
	/* crm-capture ships and deletes: room again. */
	shm = spool_shm_open(dir);
	assert_non_null(shm);
	spool_shm_release(shm, 5000);
	assert_int_equal(spool_record_begin(w, "t", "k", 1, NULL, 0),
	    SPOOL_OK);
	spool_record_abort(w);
	spool_shm_reconcile(shm, 123);
	assert_int_equal(spool_writer_usage(w2), 123);
	spool_shm_close(&shm);
	spool_writer_close(&w);
	spool_writer_close(&w2);
	tmpdir_free(dir);
}

/* ---- staged writes ---------------------------------------------------- */

/* A stage directory: tmpfs when the machine has one, as deployed. */
static char *
stagedir_new(void)
{
	char tmpl[] = "/dev/shm/test_spool_stage.XXXXXX";
	char tmpl2[] = "/tmp/test_spool_stage.XXXXXX";
	char *d = mkdtemp(tmpl);

	if (d == NULL)
		d = mkdtemp(tmpl2);
	assert_non_null(d);
	return strdup(d);
}

static size_t
dir_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static bool
exists(const char *dir, const char *name)
{
	char path[600];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return lstat(path, &sb) == 0;
}

/* Reads every segment of dir in order; each record's key must be its
 * number ("r<i>") and its payload p[0 .. size(i)).  Returns the count. */
static size_t
read_numbered(const char *dir, const uint8_t *p, size_t (*size)(size_t),
    bool final)
{
	struct seg segs[256];
	struct spool_record rec = { 0 };
	size_t n = list_segments(dir, segs, 256), total = 0;
	char key[32];

	for (size_t i = 0; i < n; i++) {
		struct spool_reader *r = spool_reader_open(segs[i].path, 0,
		    NULL);
		enum spool_read_result rr;

		if (r == NULL && errno == EAGAIN)
			continue;	/* created, header not written yet */
		assert_non_null(r);
		while ((rr = spool_reader_next(r, final || i + 1 < n, &rec)) ==
		    SPOOL_READ_RECORD) {
			snprintf(key, sizeof(key), "r%zu", total);
			check_record(&rec, key, p, size(total));
			total++;
		}
		assert_true(rr == SPOOL_READ_END || rr == SPOOL_READ_AGAIN);
		spool_reader_close(&r);
	}
	spool_record_clear(&rec);
	return total;
}

static size_t
staged_size_big(size_t i)
{
	(void)i;
	return 10 << 20;
}

/* Sizes that cross every block, chunk and ring boundary sooner or later. */
static size_t
staged_size(size_t i)
{
	static const size_t sizes[] = { 0, 1, 4095, 4096, 4097, 65536,
		70001, 1048576, 1048577, 3 * 1048576 + 17, 333 };

	return sizes[i % (sizeof(sizes) / sizeof(*sizes))];
}

static void
test_staged_round_trip(void **state)
{
	char *dir = tmpdir_new(), *sdir = stagedir_new();
	struct spool_limits lim = base_limits;
	const char *err = NULL;
	struct spool_writer *w;
	size_t maxn = 3 * 1048576 + 17;
	uint8_t *p = malloc(maxn);
	char key[32];

	(void)state;
	fill(p, maxn, 21);
	lim.stage_dir = sdir;
	lim.stage_size = 4 << 20;	/* the smallest: the ring wraps often */
	lim.segment_size = 2 << 20;	/* and segments rotate */
	w = spool_writer_open(dir, "st", &lim, &err);
	assert_non_null(w);
	assert_true(exists(dir, "st.stage"));
	assert_int_equal(dir_entries(sdir), 1);
	for (size_t i = 0; i < 44; i++) {
		snprintf(key, sizeof(key), "r%zu", i);
		write_record(w, key, p, staged_size(i), 1 + i * 7919 % 70000);
	}
	/* Live: everything committed reaches the files. */
	spool_writer_sync(w);
	assert_int_equal(read_numbered(dir, p, staged_size, false), 44);
	spool_writer_close(&w);
	/* Closed: every segment sealed, the stage and its link gone. */
	assert_int_equal(read_numbered(dir, p, staged_size, true), 44);
	assert_false(exists(dir, "st.stage"));
	assert_int_equal(dir_entries(sdir), 0);
	free(p);
	rmdir(sdir);
	free(sdir);
	tmpdir_free(dir);
}

/* A record appended in 64 KiB pieces while the thread is held: the ring
 * (4 MiB) fills and the producer writes blocks itself; nothing dropped. */
static void
test_staged_ring_full(void **state)
{
	char *dir = tmpdir_new(), *sdir = stagedir_new();
	struct spool_limits lim = base_limits;
	struct spool_counters c;
	const char *err = NULL;
	struct spool_writer *w;
	size_t n = 10 << 20;
	uint8_t *p = malloc(n);

	(void)state;
	fill(p, n, 5);
	lim.stage_dir = sdir;
	lim.stage_size = 4 << 20;
	w = spool_writer_open(dir, "full", &lim, &err);
	assert_non_null(w);
	spool_stage_hold(true);
	write_record(w, "r0", p, n, 65536);
	spool_stage_hold(false);
	spool_writer_close(&w);
	assert_int_equal(read_numbered(dir, p, staged_size_big, true), 1);
	w = spool_writer_open(dir, "full", &lim, &err);
	spool_writer_counters(w, &c);
	assert_int_equal(c.records_committed, 1);
	assert_int_equal(c.records_dropped, 0);
	spool_writer_close(&w);
	free(p);
	rmdir(sdir);
	free(sdir);
	tmpdir_free(dir);
}

/*
 * kill -9 with the stage holding records: a child commits them with the
 * thread held, starts one more, and is killed.  Whoever takes the lock
 * next writes them out: here crm-capture's call, then a restarted writer
 * finding nothing left to do.
 */
static void
test_staged_kill(void **state)
{
	char *dir = tmpdir_new(), *sdir = stagedir_new();
	struct spool_limits lim = base_limits;
	size_t maxn = 3 * 1048576 + 17;
	uint8_t *p = malloc(maxn);
	int fds[2], status;
	pid_t pid;
	char c;

	(void)state;
	fill(p, maxn, 21);
	lim.stage_dir = sdir;
	lim.stage_size = 16 << 20;
	lim.segment_size = 1 << 20;
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		const char *err = NULL;
		struct spool_writer *w;
		char key[32];

		close(fds[0]);
		spool_stage_hold(true);
		w = spool_writer_open(dir, "k", &lim, &err);
		if (w == NULL)
			_exit(1);
		for (size_t i = 0; i < 9; i++) {
			snprintf(key, sizeof(key), "r%zu", i);
			write_record(w, key, p, staged_size(i), 50000);
		}
		/* a tenth, half written: must read as a torn tail */
		spool_record_begin(w, "crm.mail.v1", "x", 1, NULL, 0);
		spool_record_append(w, p, 100000);
		if (write(fds[1], "k", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &c, 1), 1);
	close(fds[0]);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));

	/* Before recovery the records are only in the stage. */
	assert_true(exists(dir, "k.stage"));
	assert_true(read_numbered(dir, p, staged_size, true) < 9);
	assert_int_equal(spool_writer_recover(dir, "k"), 2);
	assert_false(exists(dir, "k.stage"));
	assert_int_equal(spool_writer_recover(dir, "k"), 0);
	assert_int_equal(dir_entries(sdir), 0);
	assert_int_equal(read_numbered(dir, p, staged_size, true), 9);

	/* A writer that is running is never recovered under it. */
	{
		const char *err = NULL;
		struct spool_writer *w = spool_writer_open(dir, "k", &lim,
		    &err);

		assert_non_null(w);
		assert_int_equal(spool_writer_recover(dir, "k"), 1);
		spool_writer_close(&w);
	}
	assert_int_equal(read_numbered(dir, p, staged_size, true), 9);
	free(p);
	rmdir(sdir);
	free(sdir);
	tmpdir_free(dir);
}

/* The same kill, recovered by the restarted writer itself. */
static void
test_staged_kill_reopen(void **state)
{
	char *dir = tmpdir_new(), *sdir = stagedir_new();
	struct spool_limits lim = base_limits;
	size_t maxn = 3 * 1048576 + 17;
	uint8_t *p = malloc(maxn);
	const char *err = NULL;
	struct spool_writer *w;
	int status;
	pid_t pid;

	(void)state;
	fill(p, maxn, 21);
	lim.stage_dir = sdir;
	lim.stage_size = 16 << 20;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char key[32];

		spool_stage_hold(true);
		w = spool_writer_open(dir, "k", &lim, &err);
		if (w == NULL)
			_exit(1);
		for (size_t i = 0; i < 5; i++) {
			snprintf(key, sizeof(key), "r%zu", i);
			write_record(w, key, p, staged_size(i), 4096);
		}
		kill(getpid(), SIGKILL);
		_exit(1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	w = spool_writer_open(dir, "k", &lim, &err);
	assert_non_null(w);
	write_record(w, "r5", p, staged_size(5), 4096);
	spool_writer_close(&w);
	assert_int_equal(read_numbered(dir, p, staged_size, true), 6);
	assert_int_equal(dir_entries(sdir), 0);
	free(p);
	rmdir(sdir);
	free(sdir);
	tmpdir_free(dir);
}

static size_t
no_room_size(size_t i)
{
	return (1 << 20) + i;
}

/* A spool directory on a full file system: the writer is refused at open
 * (ENOSPC), where a counter block mapped unallocated would have raised
 * SIGBUS at the first count. */
static int
full_spool_child(const char *sdir)
{
	static const char block[4096];
	struct spool_writer *w;
	const char *err = NULL;
	char full[600], spool[700];
	int fd;

	snprintf(full, sizeof(full), "%s/full", sdir);
	snprintf(spool, sizeof(spool), "%s/spool", full);
	if (mkdir(full, 0700) != 0 ||
	    mount("tmpfs", full, "tmpfs", 0, "size=64k") != 0 ||
	    mkdir(spool, 0700) != 0)
		return 30;
	snprintf(spool, sizeof(spool), "%s/filler", full);
	if ((fd = open(spool, O_WRONLY | O_CREAT, 0600)) < 0)
		return 31;
	while (write(fd, block, sizeof(block)) == (ssize_t)sizeof(block))
		;
	close(fd);
	snprintf(spool, sizeof(spool), "%s/spool", full);
	w = spool_writer_open(spool, "c", &base_limits, &err);
	if (w != NULL || errno != ENOSPC)
		return 32;
	return 0;
}

/* Removes every segment file of dir (what crm-capture does once they are
 * shipped) and returns how many there were. */
static size_t
release_segments(const char *dir)
{
	struct seg segs[256];
	size_t n = list_segments(dir, segs, 256);

	for (size_t i = 0; i < n; i++)
		unlink(segs[i].path);
	return n;
}

/* Counts the whole records in dir's segments, which must be keyed
 * <prefix>0, <prefix>1, ... and carry p[0 .. 256 KiB); -1 if one is not. */
static ssize_t
whole_records(const char *dir, const char *prefix, const uint8_t *p)
{
	struct seg segs[64];
	struct spool_record rec = { 0 };
	size_t n = list_segments(dir, segs, 64);
	ssize_t total = 0;
	char key[32];

	for (size_t i = 0; i < n && total >= 0; i++) {
		struct spool_reader *r = spool_reader_open(segs[i].path, 0,
		    NULL);

		if (r == NULL)
			continue;	/* no room was left for its header */
		while (total >= 0 && spool_reader_next(r, true, &rec) ==
		    SPOOL_READ_RECORD) {
			snprintf(key, sizeof(key), "%s%zd", prefix, total);
			if (rec.key_len != strlen(key) ||
			    memcmp(rec.key, key, rec.key_len) != 0 ||
			    rec.payload_len != 256 << 10 ||
			    memcmp(rec.payload, p, 256 << 10) != 0)
				total = -1;
			else
				total++;
		}
		spool_reader_close(&r);
	}
	spool_record_clear(&rec);
	return total;
}

/* A SIZE tmpfs mounted at SDIR/NAME (a disk that fills); its spool
 * directory's path in spool.  0, or -1 if it cannot be made. */
static int
small_disk(const char *sdir, const char *name, const char *size,
    char *spool, size_t len)
{
	char dir[600];

	snprintf(dir, sizeof(dir), "%s/%s", sdir, name);
	snprintf(spool, len, "%s/spool", dir);
	if (mkdir(dir, 0700) != 0 ||
	    mount("tmpfs", dir, "tmpfs", 0, size) != 0)
		return -1;
	return 0;
}

/*
 * The disk fills under a writer (plain, or staged with its stage
 * elsewhere): records that do not fit fail and are counted, never
 * published half; once crm-capture frees space, the next records land
 * whole.  Keys are "ok<i>" for the records after the space came back.
 */
static int
disk_full_child(const char *sdir, const char *stage_dir, const uint8_t *p)
{
	struct spool_limits lim = base_limits;
	struct spool_counters c;
	struct spool_writer *w;
	const char *err = NULL;
	char spool[700], key[32];
	size_t ok = 0, failed = 0;
	ssize_t n;

	if (small_disk(sdir, stage_dir != NULL ? "small-staged" : "small",
	    "size=2m", spool, sizeof(spool)) != 0)
		return 40;
	lim.segment_size = 512 << 10;
	lim.stage_dir = stage_dir;
	lim.stage_size = 4 << 20;
	if ((w = spool_writer_open(spool, "d", &lim, &err)) == NULL)
		return 41;
	for (size_t i = 0; i < 12; i++) {
		enum spool_status st;

		snprintf(key, sizeof(key), "x%zu", i);
		st = spool_record_begin(w, "crm.mail.v1", key, strlen(key),
		    NULL, 0);
		if (st == SPOOL_OK)
			st = spool_record_append(w, p, 256 << 10);
		if (st == SPOOL_OK)
			st = spool_record_commit(w, NULL, 0);
		else
			spool_record_abort(w);
		spool_writer_sync(w);
		if (st == SPOOL_OK)
			ok++;
		else if (st == SPOOL_IO_ERROR)
			failed++;
		else
			return 42;
	}
	/* 3 MiB offered to 2 MiB.  A plain writer fails each record that
	 * does not fit, at its commit; a staged one has them in its ring
	 * when its thread's write fails, and counts every committed record
	 * the failure took once the thread has moved on from the segment.
	 * Either way, every record not whole in the spool is counted, once,
	 * and only a staged writer's are counted lost after commit. */
	if (stage_dir != NULL) {
		/* the next record moves on from a failed segment, and the
		 * thread counts what was committed into it late */
		if (spool_record_begin(w, "crm.mail.v1", "y", 1, NULL, 0) !=
		    SPOOL_OK)
			return 48;
		spool_record_abort(w);
		spool_writer_sync(w);
	}
	spool_writer_counters(w, &c);
	n = whole_records(spool, "x", p);
	if (ok == 0 || n < 1 || n >= 12 || ok + failed != 12 ||
	    c.records_failed != 12 - (uint64_t)n)
		return 43;
	if (stage_dir == NULL ? ((size_t)n != ok || c.records_failed !=
	    failed || c.records_lost != 0) : (failed != 0 ||
	    c.records_lost != c.records_failed))
		return 44;
	if (release_segments(spool) == 0)
		return 45;
	for (size_t i = 0; i < 3; i++) {
		snprintf(key, sizeof(key), "ok%zu", i);
		if (spool_record_begin(w, "crm.mail.v1", key, strlen(key),
		    NULL, 0) != SPOOL_OK ||
		    spool_record_append(w, p, 256 << 10) != SPOOL_OK ||
		    spool_record_commit(w, NULL, 0) != SPOOL_OK)
			return 46;
	}
	/* Nobody asked: close returns every record lost after commit. */
	if (spool_writer_close(&w) != c.records_lost)
		return 49;
	/* What is left: exactly the three, whole. */
	if (whole_records(spool, "ok", p) != 3)
		return 47;
	return 0;
}

/* Puts one record of len bytes of p (committed or left open). */
static enum spool_status
put_record(struct spool_writer *w, const char *key, const uint8_t *p,
    size_t len, bool commit)
{
	enum spool_status st = spool_record_begin(w, "crm.mail.v1", key,
	    strlen(key), NULL, 0);

	if (st == SPOOL_OK)
		st = spool_record_append(w, p, len);
	if (st == SPOOL_OK && commit)
		st = spool_record_commit(w, NULL, 0);
	return st;
}

/*
 * A staged writer's thread fails while a record is open, and the record
 * is committed into the failed segment afterwards (the writer learns of
 * the failure at its next record); that next record goes to a new
 * segment on the still full disk.  Every committed record not whole in
 * the spool is counted, once, as lost after its commit: the one the
 * failed write cut at once, the late one when the thread is done with
 * the failed segment.
 */
static int
staged_late_child(const char *sdir, const uint8_t *p)
{
	struct spool_limits lim = base_limits;
	struct spool_counters c;
	struct spool_shm *shm;
	struct spool_writer *w;
	struct spool_record rec = { 0 };
	struct seg segs[16];
	const char *err = NULL;
	char spool[700];
	size_t nseg, whole = 0;
	uint64_t lost;

	if (small_disk(sdir, "late", "size=1m", spool, sizeof(spool)) != 0)
		return 50;
	lim.segment_size = 64 << 20;
	lim.stage_dir = sdir;
	lim.stage_size = 4 << 20;
	if ((w = spool_writer_open(spool, "l", &lim, &err)) == NULL)
		return 51;
	/* 512 KiB and 768 KiB committed for a 1 MiB disk, and a record
	 * open, before the thread writes anything. */
	spool_stage_hold(true);
	if (put_record(w, "x0", p, 512 << 10, true) != SPOOL_OK ||
	    put_record(w, "x1", p, 768 << 10, true) != SPOOL_OK ||
	    put_record(w, "x2", p, 4096, false) != SPOOL_OK)
		return 52;
	spool_stage_hold(false);
	for (int i = 0; i < 10000; i++) {	/* x1 is counted at once */
		spool_writer_counters(w, &c);
		if (c.records_failed != 0)
			break;
		usleep(1000);
	}
	if (c.records_failed != 1 || c.records_lost != 1)
		return 53;
	if (spool_record_commit(w, NULL, 0) != SPOOL_OK ||
	    put_record(w, "x3", p, 4096, true) != SPOOL_OK)
		return 54;
	/* x1 and x2 at least, once the thread has moved on; told once */
	spool_writer_sync(w);
	if ((lost = spool_writer_take_lost(w)) < 2 || lost > 3 ||
	    spool_writer_take_lost(w) != 0)
		return 57;
	/* the rest, if the thread counted it late, is told by the close:
	 * all three, each once */
	if (lost + spool_writer_close(&w) != 3)
		return 58;
	nseg = list_segments(spool, segs, 16);
	for (size_t i = 0; i < nseg; i++) {
		struct spool_reader *r = spool_reader_open(segs[i].path, 0,
		    NULL);

		while (r != NULL && spool_reader_next(r, true, &rec) ==
		    SPOOL_READ_RECORD)
			whole++;
		spool_reader_close(&r);
	}
	spool_record_clear(&rec);
	if ((shm = spool_shm_open(spool)) == NULL)
		return 55;
	spool_shm_counters(shm, &c);
	spool_shm_close(&shm);
	if (nseg != 2 || whole != 1 || c.records_committed != 4 ||
	    c.records_failed != 3 || c.records_lost != 3)
		return 56;
	return 0;
}

/* The child of test_no_room, in a mount namespace of its own: no
 * cmocka asserts here, a failure is the exit status. */
static int
no_room_child(const char *dir, const char *sdir, const uint8_t *p)
{
	struct spool_limits lim = base_limits;
	struct spool_writer *w[2];
	const char *err = NULL, *why;
	char key[32];
	int rc;

	if (unshare(CLONE_NEWNS) != 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
	    mount("tmpfs", sdir, "tmpfs", 0, "size=6m") != 0)
		return 77;
	lim.stage_dir = sdir;
	lim.stage_size = 4 << 20;
	if ((w[0] = spool_writer_open(dir, "a", &lim, &err)) == NULL ||
	    spool_writer_stage_error(w[0]) != NULL)
		return 10;
	/* 4 MiB and a header do not fit twice in 6 MiB. */
	if ((w[1] = spool_writer_open(dir, "b", &lim, &err)) == NULL)
		return 11;
	why = spool_writer_stage_error(w[1]);
	if (why == NULL || strstr(why, strerror(ENOSPC)) == NULL)
		return 12;
	if (dir_entries(sdir) != 1)
		return 13;	/* the refused stage's file is gone */
	for (size_t i = 0; i < 8; i++) {
		struct spool_writer *x = w[i / 4];

		snprintf(key, sizeof(key), "r%zu", i);
		if (spool_record_begin(x, "crm.mail.v1", key, strlen(key),
		    NULL, 0) != SPOOL_OK)
			return 20;
		for (size_t off = 0; off < no_room_size(i); off += 65536) {
			size_t n = no_room_size(i) - off;

			if (spool_record_append(x, p + off, n < 65536 ? n :
			    65536) != SPOOL_OK)
				return 21;
		}
		if (spool_record_commit(x, NULL, 0) != SPOOL_OK)
			return 22;
	}
	spool_writer_close(&w[0]);
	spool_writer_close(&w[1]);
	if (dir_entries(sdir) != 0)
		return 14;
	if ((rc = disk_full_child(sdir, NULL, p)) != 0 ||
	    (rc = disk_full_child(sdir, sdir, p)) != 0 ||
	    (rc = staged_late_child(sdir, p)) != 0)
		return rc;
	return full_spool_child(sdir);
}

/*
 * A stage directory without room for a second stage (a 6 MiB tmpfs): the
 * second writer is refused its stage at open, says why, and writes its
 * segments itself.  Then a disk that fills under a plain and a staged
 * writer and is freed again, one that fills while a staged writer has a
 * record open, and a spool on a full file system.  A stage taken without reserving its pages would have
 * been granted, and the relay killed by SIGBUS on first touch of a page
 * the tmpfs could not supply.
 */
static void
test_no_room(void **state)
{
	char *dir = tmpdir_new(), *sdir = tmpdir_new();
	size_t maxn = (1 << 20) + 8;
	uint8_t *p = malloc(maxn);
	struct seg segs[16];
	struct spool_record rec = { 0 };
	size_t nseg, total = 0;
	int status;
	pid_t pid;

	(void)state;
	fill(p, maxn, 33);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(no_room_child(dir, sdir, p));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		fail_msg("writer killed by signal %d", WTERMSIG(status));
	if (WEXITSTATUS(status) == 77 && getenv("CI") == NULL) {
		free(p);
		rmdir(sdir);
		free(sdir);
		tmpdir_free(dir);
		skip();		/* no private mounts here (not root) */
	}
	assert_int_equal(WEXITSTATUS(status), 0);
	/* Every record of both writers is in the segments. */
	nseg = list_segments(dir, segs, 16);
	for (size_t i = 0; i < nseg; i++) {
		struct spool_reader *r = spool_reader_open(segs[i].path, 0,
		    NULL);

		assert_non_null(r);
		while (spool_reader_next(r, true, &rec) == SPOOL_READ_RECORD) {
			char key[32];

			snprintf(key, sizeof(key), "r%zu", total);
			assert_int_equal(rec.key_len, strlen(key));
			assert_memory_equal(rec.key, key, rec.key_len);
			assert_int_equal(rec.payload_len, no_room_size(total));
			assert_memory_equal(rec.payload, p, rec.payload_len);
			total++;
		}
		spool_reader_close(&r);
	}
	spool_record_clear(&rec);
	assert_int_equal(total, 8);
	free(p);
	rmdir(sdir);
	free(sdir);
	tmpdir_free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c),
		cmocka_unit_test(test_crc32c_lengths),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_streaming),
		cmocka_unit_test(test_write_behind),
		cmocka_unit_test(test_write_behind_rotation),
		cmocka_unit_test(test_abort),
		cmocka_unit_test(test_rotation_and_reopen),
		cmocka_unit_test(test_torn_tail_every_offset),
		cmocka_unit_test(test_corrupt),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_full_spool),
		cmocka_unit_test(test_staged_round_trip),
		cmocka_unit_test(test_staged_ring_full),
		cmocka_unit_test(test_staged_kill),
		cmocka_unit_test(test_staged_kill_reopen),
		cmocka_unit_test(test_no_room),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
