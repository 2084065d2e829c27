/*
 * scrub_sig.c - name, title, company, phone and email from the signature
 * block scrub_text.c found.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enrich/scrub/scrub_int.h"
#include "lib/xmalloc.h"

static const char *const title_words[] = {
	"manager", "director", "engineer", "ceo", "cto", "cfo", "coo",
	"founder", "president", "vp", "vice president", "head of", "lead",
	"executive", "consultant", "specialist", "officer", "partner",
	"sales", "account", "analyst", "architect", "developer",
	"representative", "coordinator", "assistant", "owner", "advisor",
	"geschäftsführer", "leiter", "leiterin", "vertrieb", "berater",
	"beraterin", "directeur", "directrice", "responsable", "chef de",
	"ingénieur", "gerente", "jefe", "directora", "ingeniero",
	"direttore", "responsabile", "commerciale", "verkoop", "adviseur",
	"diretor", "diretora", "gestor", "säljare", "chef", "ansvarig",
	"säljchef", "projektledare", "kundansvarig", "accountmanager",
	"associate", "attorney", "counsel", "avocat", "abogado", "avvocato",
	"advocaat", "advogado", "advokat", NULL
};
static const char *const company_words[] = {
	" inc", " ltd", " llc", " gmbh", " ag", " sa", " sas", " sarl",
	" s.l.", " s.a.", " s.p.a.", " srl", " b.v.", " bv", " lda",
	" ab", " corp", " co.", " plc", " kg", " nv", " oy", " as",
	" group", " s.r.l.", " ltda", NULL
};

static bool
has_word_suffix(const char *s, const char *const *v)
{
	for (; *v; v++) {
		const char *p = strstr(s, *v);
		size_t k = strlen(*v);

		while (p != NULL) {
			char e = p[k];

			if (e == '\0' || e == ' ' || e == ',' || e == '.' ||
			    e == '|')
				return true;
			p = strstr(p + 1, *v);
		}
	}
	return false;
}

static char *
trimmed_dup(const char *p, size_t n)
{
	while (n > 0 && (*p == ' ' || *p == '>' || *p == '*')) {
		p++;
		n--;
	}
	while (n > 0 && strchr(" ,|*", p[n - 1]))
		n--;
	return xstrndup(p, n);
}

static void
split_title(struct scrub_sig_fields *f, const char *p, size_t n)
{
	static const char *const seps[] = { " | ", " at ", ", ", " - ",
	    " – ", " bei ", " chez ", " en ", " presso ", " bij ", " på ",
	    " · ", NULL };

	for (const char *const *s = seps; *s; s++) {
		const char *m = memmem(p, n, *s, strlen(*s));

		if (m != NULL) {
			f->title = trimmed_dup(p, (size_t)(m - p));
			if (f->company == NULL)
				f->company = trimmed_dup(m + strlen(*s),
				    n - (size_t)(m - p) - strlen(*s));
			return;
		}
	}
	f->title = trimmed_dup(p, n);
}

/* One "|"-separated piece of a signature line. */
struct item {
	const char *p;
	size_t n;
	char norm[128];
};

static bool
textual(const struct item *it)
{
	bool letter = false;

	if (it->n > 60 || strstr(it->norm, "http") || strstr(it->norm, "www."))
		return false;
	for (size_t i = 0; i < it->n; i++) {
		if (isdigit((unsigned char)it->p[i]) || it->p[i] == '@')
			return false;
		letter = letter || isalpha((unsigned char)it->p[i]) ||
		    (unsigned char)it->p[i] >= 0xc3;
	}
	return letter;
}

/*
 * Splits the signature's lines at " | " and " · " (one-line signatures:
 * "Jane Doe | VP Sales | Acme"), skipping the sign-off, "--" and mobile
 * lines.  Returns the number of items.
 */
static size_t
sig_items(const struct ctx *c, struct item *v, size_t max)
{
	size_t n = 0;

	for (size_t i = c->sig_from; i < c->sig_to && i < c->n; i++) {
		const struct line *l = &c->L[i];
		const char *p = l->p, *end = l->p + l->n;

		if (l->blank || l->kind != SCRUB_SIGNATURE ||
		    lex_is_mobile(l->norm) || lex_is_signoff(l) ||
		    strcmp(l->norm, "--") == 0)
			continue;
		while (p < end && n < max) {
			size_t rest = (size_t)(end - p);
			const char *bar = memmem(p, rest, " | ", 3);
			const char *dot = memmem(p, rest, " \xc2\xb7 ", 4);
			const char *e = bar ? bar : end;
			size_t skip = 3;

			if (dot != NULL && dot < e) {
				e = dot;
				skip = 4;
			}
			while (p < e && (*p == ' ' || *p == '>' || *p == '*'))
				p++;
			size_t k = (size_t)(e - p);
			while (k > 0 && strchr(" ,*", p[k - 1]))
				k--;
			if (k > 0) {
				v[n].p = p;
				v[n].n = k;
				size_t m = k < sizeof(v[n].norm) - 1 ? k :
				    sizeof(v[n].norm) - 1;
				for (size_t j = 0; j < m; j++)
					v[n].norm[j] = (char)tolower(
					    (unsigned char)p[j]);
				v[n].norm[m] = '\0';
				n++;
			}
			p = e < end ? e + skip : end;
		}
	}
	return n;
}

/*
 * Name, title, company, phone, email from the signature block.  The usual
 * layout is name, then title, then company, one per line or separated by
 * "|"; labels ("Tel.:", "M:") may precede the phone.  A first name after
 * the sign-off ("Jane") gives way to a full name below it ("Jane Doe").
 */
void
scrub_sig_fields(struct ctx *c)
{
	struct scrub_sig_fields *f = &c->r->sig;
	struct item v[32];
	size_t n = sig_items(c, v, 32), name_at = (size_t)-1;
	size_t title_at = (size_t)-1;

	for (size_t i = 0; i < n; i++) {
		const struct item *it = &v[i];
		const char *ph, *at;
		size_t pl;

		if (f->phone == NULL &&
		    (ph = lex_find_phone(it->p, it->n, &pl)) != NULL) {
			f->phone = xstrndup(ph, pl);
			continue;
		}
		if ((at = memchr(it->p, '@', it->n)) != NULL) {
			const char *s0 = at, *e = at, *end = it->p + it->n;

			while (s0 > it->p && !strchr(" <:(", s0[-1]))
				s0--;
			while (e < end && !strchr(" >),", *e))
				e++;
			if (f->email == NULL && at > s0 && e > at + 1)
				f->email = xstrndup(s0, (size_t)(e - s0));
			continue;
		}
		bool company = has_word_suffix(it->norm, company_words);
		if (!company && lex_looks_like_name(it->p, it->n, 4)) {
			size_t cl = f->name ? strlen(f->name) : 0;

			if (f->name == NULL) {
				f->name = xstrndup(it->p, it->n);
				name_at = i;
				continue;
			}
			if (it->n > cl && strncmp(it->p, f->name, cl) == 0 &&
			    it->p[cl] == ' ') {
				free(f->name);
				f->name = xstrndup(it->p, it->n);
				name_at = i;
				continue;
			}
		}
		/* "Inköpschef, Nordkust AB" right under the name */
		if (company && f->title == NULL && i == name_at + 1 &&
		    textual(it) && (memmem(it->p, it->n, ", ", 2) ||
		    memmem(it->p, it->n, " at ", 4))) {
			split_title(f, it->p, it->n);
			title_at = i;
			continue;
		}
		if (company && f->company == NULL && textual(it)) {
			f->company = xstrndup(it->p, it->n);
			continue;
		}
		if (f->name == NULL || !textual(it))
			continue;
		if (f->title == NULL && (i == name_at + 1 ||
		    lex_any_contains(it->norm, title_words))) {
			split_title(f, it->p, it->n);
			title_at = i;
			continue;
		}
		if (f->company == NULL && title_at != (size_t)-1 &&
		    i == title_at + 1)
			f->company = xstrndup(it->p, it->n);
	}
}
