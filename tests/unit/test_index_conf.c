/*
 * test_index_conf.c - crm-index's configuration file: defaults, every key
 * of [index], the search sections passed through, and errors reported as
 * file:line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "enrich/index/index_conf.h"
#include "lib/conf.h"

static char *
write_conf(const char *text)
{
	char *path = strdup("/tmp/test_index_conf.XXXXXX");
	int fd;

	assert_non_null(path);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static const char base[] =
    "[embed]\nbackend = local\nmodel_dir = /nonexistent/model\n"
    "[vector]\nbackend = local\ndata_dir = /tmp/vec\n"
    "[database]\nconninfo = host=/run/postgresql dbname=crm "
    "user=crm_enrich\n";

static void
test_defaults_and_keys(void **state)
{
	char text[2048], err[CONF_ERR_MAX];
	struct index_conf *c;
	char *path;

	(void)state;
	path = write_conf(base);
	c = index_conf_load(path, err);
	assert_non_null(c);
	assert_int_equal(c->batch, 32);
	assert_int_equal(c->batch_bytes, 32 * 1024);
	assert_int_equal(c->poll_interval, 30);
	assert_int_equal(c->max_attempts, 5);
	assert_int_equal(c->ntenants, 0);
	/* embedded store: beside the tenants' directories */
	assert_string_equal(c->tenants_file, "/tmp/vec/.crm-index-tenants");
	assert_string_equal(c->search.vec.data_dir, "/tmp/vec");
	assert_non_null(strstr(c->search.conninfo, "crm_enrich"));
	index_conf_free(&c);
	assert_null(c);
	unlink(path);
	free(path);

	snprintf(text, sizeof(text), "%s[index]\nbatch = 64\nbatch_bytes = 1m\n"
	    "poll_interval = 2m\nmax_attempts = 3\n"
	    "tenants = acme, globex acme\ntenants = initech\n"
	    "tenants_file = /var/lib/crm/index/tenants\n"
	    "retry_initial_ms = 50\nretry_max_ms = 5000\n"
	    "[log]\nlevel = debug\nsyslog = yes\n", base);
	path = write_conf(text);
	c = index_conf_load(path, err);
	assert_non_null(c);
	assert_int_equal(c->batch, 64);
	assert_int_equal(c->batch_bytes, 1024 * 1024);
	assert_int_equal(c->poll_interval, 120);
	assert_int_equal(c->max_attempts, 3);
	assert_int_equal(c->ntenants, 3);	/* the repeated acme once */
	assert_string_equal(c->tenants[0], "acme");
	assert_string_equal(c->tenants[1], "globex");
	assert_string_equal(c->tenants[2], "initech");
	assert_string_equal(c->tenants_file, "/var/lib/crm/index/tenants");
	assert_int_equal(c->retry_initial_ms, 50);
	assert_int_equal(c->log_level, LOG_LEVEL_DEBUG);
	assert_true(c->syslog);
	index_conf_free(&c);
	unlink(path);
	free(path);
}

/* Each bad file must fail with its own path and the given line. */
static void
test_errors(void **state)
{
	static const struct {
		const char *extra;	/* appended to base (8 lines) */
		int line;		/* 0: no line number expected */
		const char *why;
	} t[] = {
		{ "[index]\nbatch = 0\n", 10, "" },
		{ "[index]\nbatch = 513\n", 10, "" },
		{ "[index]\npoll_interval = 0\n", 10, "" },
		{ "[index]\nbatch_bytes = 10\n", 10, "" },
		{ "[index]\ntenants = acme, ../etc\n", 10, "not a tenant id" },
		{ "[index]\ntenants = -x\n", 10, "not a tenant id" },
		{ "[index]\nbogus = 1\n", 10, "unknown key" },
		{ "[indexer]\n", 9, "" },
		{ "[log]\nlevel = loud\n", 10, "" },
		{ "[database]\nconninfo = dbname=crm password=x\n", 10,
		    "password" },
		{ "[vector]\nbackend = faiss\n", 10, "" },
		{ "[index]\nretry_initial_ms = 900\nretry_max_ms = 100\n", 0,
		    "retry_max_ms" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char text[2048], err[CONF_ERR_MAX], want[256];
		struct index_conf *c;
		char *path;

		snprintf(text, sizeof(text), "%s%s", base, t[i].extra);
		path = write_conf(text);
		c = index_conf_load(path, err);
		if (c != NULL)
			fail_msg("case %zu accepted", i);
		if (t[i].line > 0)
			snprintf(want, sizeof(want), "%s:%d: ", path,
			    t[i].line);
		else
			snprintf(want, sizeof(want), "%s: ", path);
		if (strncmp(err, want, strlen(want)) != 0)
			fail_msg("case %zu: \"%s\" does not start with \"%s\"",
			    i, err, want);
		if (strstr(err, t[i].why) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err,
			    t[i].why);
		unlink(path);
		free(path);
	}
}

static void
test_missing_data_dir(void **state)
{
	char err[CONF_ERR_MAX];
	char *path = write_conf("[embed]\nmodel_dir = /m\n[vector]\n"
	    "backend = local\n");

	(void)state;
	assert_null(index_conf_load(path, err));
	assert_non_null(strstr(err, "data_dir is required"));
	unlink(path);
	free(path);
	assert_null(index_conf_load("/nonexistent/crm-index.conf", err));
	assert_non_null(strstr(err, "/nonexistent/crm-index.conf"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_and_keys),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_missing_data_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
