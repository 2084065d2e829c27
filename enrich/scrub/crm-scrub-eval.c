/*
 * crm-scrub-eval - measures the scrubber against a labelled corpus.
 *
 *   crm-scrub-eval [-v] [--min-f1 X] DIR
 *
 * DIR holds NAME.eml (a raw message) and NAME.expect (its labels).  Each
 * .expect line is a tag, a space, and one line of the message's text as a
 * reader sees it: N new content, Q quoted, S signature, D disclaimer;
 * empty lines and lines starting with '#' are ignored.  The message goes
 * through mime_parse() and scrub_message() exactly as the enrichment
 * daemon does; labelled lines are then matched in order to the classified
 * lines (white space, '>' markers and "<url>" link suffixes do not
 * matter).  A labelled line with no match counts as kept (body): a
 * rendering that loses or mangles text is an error, not a skip.
 *
 * Prints precision / recall / F1 of "removed" (Q, S or D versus N), per
 * category, and how many new-content lines were wrongly removed.  With
 * --min-f1, exits 1 when the removed-line F1 is below X.
 *
 *   crm-scrub-eval --show FILE.eml
 *
 * prints what mime_parse() and scrub_message() make of one message: the
 * header fields, attachments, calendars, flags, and every text line with
 * its class.
 */
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enrich/mime/mime.h"
#include "enrich/scrub/scrub.h"
#include "lib/xmalloc.h"

#define WINDOW 80	/* how far ahead a labelled line is looked for */

struct counts {
	/* confusion[label][predicted], kinds in enum scrub_kind order */
	unsigned long m[4][4];
	unsigned long unmatched, lines, files;
};

static char *
slurp(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, len = 0, n;

	if (f == NULL)
		return NULL;
	do {
		if (len + 65536 > cap) {
			cap = (cap ? cap * 2 : 65536) + 65536;
			buf = xreallocarray(buf, cap, 1);
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
	} while (n > 0);
	fclose(f);
	buf[len] = '\0';
	*len_r = len;
	return buf;
}

/* Line text for matching: no '>' markers, no "<http...>" suffixes, white
 * space collapsed, trimmed. */
static char *
match_key(const char *p, size_t n)
{
	char *k = xmalloc(n + 1);
	size_t o = 0, i = 0;

	while (i < n && (p[i] == '>' || p[i] == ' ' || p[i] == '\t'))
		i++;
	for (; i < n; i++) {
		if (p[i] == '<' && i + 5 < n &&
		    strncmp(p + i + 1, "http", 4) == 0) {
			const char *e = memchr(p + i, '>', n - i);

			if (e != NULL) {
				i = (size_t)(e - p);
				continue;
			}
		}
		const unsigned char *u = (const unsigned char *)p + i;
		size_t sp = isspace(u[0]) ? 1 :
		    (i + 1 < n && u[0] == 0xc2 && u[1] == 0xa0) ? 2 :
		    (i + 2 < n && u[0] == 0xe2 && u[1] == 0x80 &&
		    (u[2] == 0xaf || u[2] == 0x87)) ? 3 : 0;
		if (sp > 0) {
			i += sp - 1;
			if (o > 0 && k[o - 1] != ' ')
				k[o++] = ' ';
			continue;
		}
		if (p[i] == '*')	/* bold markers of text/plain parts */
			continue;
		k[o++] = p[i];
	}
	while (o > 0 && k[o - 1] == ' ')
		o--;
	k[o] = '\0';
	return k;
}

static int
tag_kind(char t)
{
	switch (t) {
	case 'N': return SCRUB_BODY;
	case 'Q': return SCRUB_QUOTED;
	case 'S': return SCRUB_SIGNATURE;
	case 'D': return SCRUB_DISCLAIMER;
	default: return -1;
	}
}

static const char tags[] = "NQSD";

static int
eval_one(const char *dir, const char *name, struct counts *c, bool verbose)
{
	char path[4096];
	char *eml, *exp, *text = NULL;
	size_t elen, xlen;
	struct mime_message m;
	struct scrub_result r;
	const char *err;
	char **keys;
	size_t j = 0;

	snprintf(path, sizeof(path), "%s/%s.eml", dir, name);
	if ((eml = slurp(path, &elen)) == NULL) {
		perror(path);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/%s.expect", dir, name);
	if ((exp = slurp(path, &xlen)) == NULL) {
		perror(path);
		free(eml);
		return -1;
	}
	if (mime_parse(eml, elen, NULL, &m, &err) != 0) {
		fprintf(stderr, "%s: %s\n", name, err);
		free(eml);
		free(exp);
		return -1;
	}
	scrub_message(m.text, m.text_len, m.html, m.html_len, NULL, &text, &r);
	keys = xcalloc(r.n_lines + 1, sizeof(*keys));
	for (size_t i = 0; i < r.n_lines; i++)
		keys[i] = match_key(text + r.lines[i].off, r.lines[i].len);

	c->files++;
	for (char *line = exp, *nl; line && *line; line = nl) {
		int want, got = SCRUB_BODY;
		char *k;

		nl = strchr(line, '\n');
		if (nl != NULL)
			*nl++ = '\0';
		if (line[0] == '#' || (want = tag_kind(line[0])) < 0)
			continue;
		k = match_key(line + 1, strlen(line + 1));
		if (k[0] == '\0') {
			free(k);
			continue;
		}
		c->lines++;
		size_t f;
		for (f = j; f < r.n_lines && f < j + WINDOW; f++)
			if (strcmp(keys[f], k) == 0)
				break;
		if (f < r.n_lines && f < j + WINDOW) {
			got = (int)r.lines[f].kind;
			j = f + 1;
		} else {
			c->unmatched++;
			if (verbose)
				printf("%s: unmatched: %s\n", name, k);
		}
		c->m[want][got]++;
		if (verbose && want != got)
			printf("%s: %c->%c %s\n", name, tags[want], tags[got],
			    k);
		free(k);
	}
	for (size_t i = 0; i < r.n_lines; i++)
		free(keys[i]);
	free(keys);
	free(text);
	scrub_result_free(&r);
	mime_message_free(&m);
	free(eml);
	free(exp);
	return 0;
}

static void
prf(const char *what, unsigned long tp, unsigned long fp, unsigned long fn,
    double *f1_r)
{
	double p = tp + fp ? (double)tp / (double)(tp + fp) : 1.0;
	double r = tp + fn ? (double)tp / (double)(tp + fn) : 1.0;
	double f = p + r > 0 ? 2 * p * r / (p + r) : 0.0;

	printf("%-11s precision %.3f  recall %.3f  F1 %.3f  (tp %lu fp %lu "
	    "fn %lu)\n", what, p, r, f, tp, fp, fn);
	if (f1_r != NULL)
		*f1_r = f;
}

static void
show_addrs(const char *what, const struct mime_addr_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		printf("%-12s \"%s\" <%s>\n", what, l->v[i].name, l->v[i].addr);
}

static int
show(const char *path)
{
	struct mime_message m;
	struct scrub_result r;
	const char *err;
	char *eml, *text;
	size_t len;

	if ((eml = slurp(path, &len)) == NULL) {
		perror(path);
		return 2;
	}
	if (mime_parse(eml, len, NULL, &m, &err) != 0) {
		fprintf(stderr, "%s: %s\n", path, err);
		free(eml);
		return 1;
	}
	show_addrs("from", &m.from);
	show_addrs("to", &m.to);
	show_addrs("cc", &m.cc);
	show_addrs("reply-to", &m.reply_to);
	printf("%-12s %s\n", "subject", m.subject ? m.subject : "-");
	if (m.has_date)
		printf("%-12s %lld (tz %+d min)\n", "date",
		    (long long)m.date_utc, m.date_tz_min);
	printf("%-12s %s\n", "message-id", m.message_id ? m.message_id : "-");
	for (size_t i = 0; i < m.n_references; i++)
		printf("%-12s %s\n", "references", m.references[i]);
	printf("%-12s text %zu, html %zu bytes; %u parts, depth %u, "
	    "flags 0x%x\n", "bodies", m.text_len, m.html_len, m.n_parts,
	    m.depth, m.flags);
	for (size_t i = 0; i < m.n_attachments; i++) {
		char h[65];

		for (int k = 0; k < 32; k++)
			snprintf(h + 2 * k, 3, "%02x",
			    m.attachments[i].sha256[k]);
		printf("%-12s \"%s\" %s %zu bytes sha256 %s\n", "attachment",
		    m.attachments[i].filename, m.attachments[i].content_type,
		    m.attachments[i].size, h);
	}
	for (size_t i = 0; i < m.n_calendars; i++)
		printf("%-12s method %s, %zu bytes\n", "calendar",
		    m.calendars[i].method, m.calendars[i].len);
	scrub_message(m.text, m.text_len, m.html, m.html_len, NULL, &text, &r);
	printf("%-12s name=%s title=%s company=%s phone=%s email=%s\n",
	    "signature", r.sig.name ? r.sig.name : "-",
	    r.sig.title ? r.sig.title : "-",
	    r.sig.company ? r.sig.company : "-",
	    r.sig.phone ? r.sig.phone : "-", r.sig.email ? r.sig.email : "-");
	printf("--\n");
	for (size_t i = 0; i < r.n_lines; i++)
		printf("%c %.*s\n", tags[r.lines[i].kind], (int)r.lines[i].len,
		    text + r.lines[i].off);
	free(text);
	scrub_result_free(&r);
	mime_message_free(&m);
	free(eml);
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
main(int argc, char **argv)
{
	struct counts c;
	const char *dir = NULL;
	double min_f1 = -1, f1;
	bool verbose = false;
	char **names = NULL;
	size_t nn = 0;
	DIR *d;
	struct dirent *de;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-v") == 0)
			verbose = true;
		else if (strcmp(argv[i], "--show") == 0 && i + 1 < argc)
			return show(argv[i + 1]);
		else if (strcmp(argv[i], "--min-f1") == 0 && i + 1 < argc)
			min_f1 = strtod(argv[++i], NULL);
		else if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			printf("usage: crm-scrub-eval [-v] [--min-f1 X] DIR\n"
			    "       crm-scrub-eval --show FILE.eml\n");
			return 0;
		} else
			dir = argv[i];
	}
	if (dir == NULL) {
		fprintf(stderr,
		    "usage: crm-scrub-eval [-v] [--min-f1 X] DIR\n");
		return 2;
	}
	if ((d = opendir(dir)) == NULL) {
		perror(dir);
		return 2;
	}
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);

		if (l > 7 && strcmp(de->d_name + l - 7, ".expect") == 0) {
			names = xreallocarray(names, nn + 1, sizeof(*names));
			names[nn++] = xstrndup(de->d_name, l - 7);
		}
	}
	closedir(d);
	qsort(names, nn, sizeof(*names), cmp_str);
	memset(&c, 0, sizeof(c));
	for (size_t i = 0; i < nn; i++) {
		if (eval_one(dir, names[i], &c, verbose) != 0)
			return 2;
		free(names[i]);
	}
	free(names);

	unsigned long tp = 0, fp = 0, fn = 0;
	for (int a = 0; a < 4; a++)
		for (int b = 0; b < 4; b++) {
			if (a != SCRUB_BODY && b != SCRUB_BODY)
				tp += c.m[a][b];
			else if (a == SCRUB_BODY && b != SCRUB_BODY)
				fp += c.m[a][b];
			else if (a != SCRUB_BODY && b == SCRUB_BODY)
				fn += c.m[a][b];
		}
	printf("files %lu, labelled lines %lu, unmatched %lu\n", c.files,
	    c.lines, c.unmatched);
	prf("removed", tp, fp, fn, &f1);
	for (int k = 1; k < 4; k++) {
		unsigned long ktp = c.m[k][k], kfp = 0, kfn = 0;

		for (int o = 0; o < 4; o++)
			if (o != k) {
				kfp += c.m[o][k];
				kfn += c.m[k][o];
			}
		prf(scrub_kind_name((enum scrub_kind)k), ktp, kfp, kfn, NULL);
	}
	unsigned long body = 0;
	for (int b = 0; b < 4; b++)
		body += c.m[SCRUB_BODY][b];
	printf("new-content lines wrongly removed: %lu of %lu (%.2f%%)\n", fp,
	    body, body ? 100.0 * (double)fp / (double)body : 0.0);
	printf("confusion (rows labelled N Q S D, columns predicted):\n");
	for (int a = 0; a < 4; a++)
		printf("  %c %6lu %6lu %6lu %6lu\n", tags[a], c.m[a][0],
		    c.m[a][1], c.m[a][2], c.m[a][3]);
	if (min_f1 >= 0 && f1 < min_f1) {
		printf("removed-line F1 %.3f is below %.3f\n", f1, min_f1);
		return 1;
	}
	return 0;
}
