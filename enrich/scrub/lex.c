/*
 * lex.c - the vocabulary of the scrubber: sign-offs, mobile signatures,
 * disclaimer words and the small predicates built on them, in English,
 * German, French, Spanish, Italian, Dutch, Portuguese and Swedish.
 * Normalised lines are lower case (ASCII and the Latin-1 capitals).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enrich/scrub/scrub_int.h"

bool
lex_starts(const char *s, const char *pre)
{
	return strncmp(s, pre, strlen(pre)) == 0;
}

bool
lex_ends(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);

	return a >= b && strcmp(s + a - b, suf) == 0;
}

bool
lex_any_starts(const char *s, const char *const *v)
{
	for (; *v; v++)
		if (lex_starts(s, *v))
			return true;
	return false;
}

bool
lex_any_contains(const char *s, const char *const *v)
{
	for (; *v; v++)
		if (strstr(s, *v) != NULL)
			return true;
	return false;
}

static const char *const mobile[] = {
	"sent from my ", "sent from outlook", "get outlook for",
	"sent from mail for windows", "sent from yahoo mail",
	"sent with protonmail", "sent with proton mail", "sent from samsung",
	"sent from the all new aol", "sent via the samsung",
	"sent from gmail mobile", "sent from android", "sent from iphone",
	"von meinem iphone gesendet", "von meinem ipad gesendet",
	"von meinem smartphone gesendet", "gesendet von meinem",
	"gesendet von outlook", "gesendet mit der", "outlook für ios",
	"outlook für android", "envoyé de mon", "envoyé depuis mon",
	"envoyé à partir de", "télécharger outlook", "obtenir outlook",
	"enviado desde mi", "enviado desde outlook", "obtener outlook",
	"inviato da iphone", "inviato dal mio", "inviato da outlook",
	"scarica outlook", "verzonden vanaf mijn", "verzonden met",
	"verstuurd vanaf mijn", "outlook voor ios", "outlook voor android",
	"enviado do meu", "enviado do outlook", "obter o outlook",
	"baixe o outlook", "skickat från min", "skickat från outlook",
	"hämta outlook", "skickat från e-post", NULL
};

bool
lex_is_mobile(const char *s)
{
	return strlen(s) <= 80 && lex_any_starts(s, mobile);
}

static const char *const signoffs[] = {
	/* en */
	"best regards", "kind regards", "warm regards", "warmest regards",
	"regards", "best wishes", "all the best", "best", "cheers",
	"many thanks", "thanks again", "thanks so much", "thank you so much",
	"thanks in advance", "thanks all", "thanks everyone",
	"thank you all", "thanks", "thank you", "thx", "sincerely",
	"yours sincerely", "yours truly", "yours", "respectfully",
	"talk soon", "speak soon", "take care", "br", "rgds", "warmly",
	"with thanks", "with best regards", "with kind regards",
	"looking forward", "have a great day", "have a nice day",
	"have a good weekend", "have a great weekend",
	/* de */
	"mit freundlichen grüßen", "mit freundlichen grüssen",
	"mit freundlichem gruß", "mit freundlichem gruss",
	"freundliche grüße", "freundliche grüsse", "viele grüße",
	"viele grüsse", "beste grüße", "beste grüsse", "liebe grüße",
	"liebe grüsse", "herzliche grüße", "herzliche grüsse",
	"schöne grüße", "schöne grüsse", "gruß", "gruss", "grüße",
	"lg", "vg", "mfg", "danke", "vielen dank", "besten dank",
	"danke und gruß", "danke und viele grüße", "danke dir", "danke euch",
	/* fr */
	"bien cordialement", "très cordialement", "cordialement",
	"bien à vous", "bien à toi", "meilleures salutations",
	"sincères salutations", "salutations", "bonne journée",
	"bonne soirée", "merci beaucoup", "merci d'avance", "merci",
	"à bientôt", "amicalement", "bien amicalement", "merci à tous",
	/* es */
	"saludos cordiales", "un saludo", "un cordial saludo", "saludos",
	"atentamente", "un abrazo", "muchas gracias", "gracias a todos",
	"gracias",
	"cordialmente", "reciba un cordial saludo",
	/* it */
	"cordiali saluti", "distinti saluti", "un caro saluto", "un saluto",
	"saluti", "grazie mille", "grazie a tutti", "grazie", "a presto",
	"buona giornata",
	/* nl */
	"met vriendelijke groet", "met vriendelijke groeten",
	"vriendelijke groet", "hartelijke groet", "groeten", "groet", "mvg",
	"bedankt", "dank je wel", "dank u wel", "alvast bedankt", "tot snel",
	/* pt */
	"atenciosamente", "com os melhores cumprimentos",
	"melhores cumprimentos", "cumprimentos", "um abraço", "abraços",
	"abraço", "muito obrigado", "muito obrigada", "obrigado", "obrigada",
	"saudações", "att.", "att,",
	/* sv */
	"med vänliga hälsningar", "med vänlig hälsning", "vänliga hälsningar",
	"vänlig hälsning", "bästa hälsningar", "hälsningar", "mvh",
	"tack så mycket", "tack på förhand", "tack", "ha det bra",
	NULL
};

/* Capitalised word of letters ("Jane", "O'Neil", "Müller"). */
static bool
name_word(const char *w, size_t n)
{
	if (n == 0 || n > 20 || !(isupper((unsigned char)w[0]) ||
	    (unsigned char)w[0] >= 0xc3))
		return false;
	for (size_t i = 0; i < n; i++)
		if (isdigit((unsigned char)w[i]) || strchr("@:/?!;()<>", w[i]))
			return false;
	return true;
}

/* 1-4 capitalised words, nothing else (raw, not normalised). */
bool
lex_looks_like_name(const char *p, size_t n, unsigned max_words)
{
	unsigned words = 0;
	size_t i = 0;

	while (i < n && (p[i] == ' ' || p[i] == '>'))
		i++;
	while (n > i && (p[n - 1] == ' ' || p[n - 1] == ','))
		n--;
	if (n - i > 40 || i == n)
		return false;
	while (i < n) {
		size_t s = i;

		while (i < n && p[i] != ' ')
			i++;
		if (!name_word(p + s, i - s) && !(i - s <= 3 && words > 0 &&
		    islower((unsigned char)p[s]) && p[i - 1] != '.'))
			return false;	/* "van", "de" inside a name */
		words++;
		while (i < n && p[i] == ' ')
			i++;
	}
	return words >= 1 && words <= max_words;
}

/* "and best regards": a conjunction, then a whole sign-off. */
static bool
signoff_pair(const char *rest)
{
	static const char *const conj[] = { "and ", "und ", "et ", "y ",
	    "e ", "en ", "och ", NULL };

	for (const char *const *c = conj; *c; c++) {
		if (!lex_starts(rest, *c))
			continue;
		rest += strlen(*c);
		for (const char *const *v = signoffs; *v; v++) {
			size_t k = strlen(*v);
			const char *t = rest + k;

			if (strncmp(rest, *v, k) != 0)
				continue;
			while (*t && strchr(",.! ", *t))
				t++;
			if (*t == '\0')
				return true;
		}
	}
	return false;
}

/* "Best regards," "Thanks, Jane" "Cheers!" "Danke und Gruß Max". */
bool
lex_is_signoff(const struct line *l)
{
	const char *s = l->norm;

	if (strlen(s) > 48)
		return false;
	for (const char *const *v = signoffs; *v; v++) {
		size_t k = strlen(*v);
		const char *rest = s + k, *raw;

		if (strncmp(s, *v, k) != 0)
			continue;
		while (*rest && strchr(",.!-–— ", *rest))
			rest++;
		if (*rest == '\0')
			return true;
		if (signoff_pair(rest))
			return true;
		/* a name after the sign-off: check it in the raw text */
		size_t rn = l->n;
		while (rn > 0 && (l->p[rn - 1] == ' ' || l->p[rn - 1] == '\t'))
			rn--;
		if (strlen(rest) > rn)
			continue;
		raw = l->p + (rn - strlen(rest));
		if (rest == s + k)
			continue;	/* "best practice", "thanksgiving" */
		if (lex_looks_like_name(raw, strlen(rest), 3))
			return true;
	}
	return false;
}

static const char *const disclaimer_words[] = {
	"intended recipient", "intended solely", "intended only for",
	"confidential", "privileged", "if you have received this",
	"if you are not the", "in error", "notify the sender",
	"disclaimer", "unauthorized", "unauthorised", "prohibited",
	"the views expressed", "consider the environment",
	"before printing", "registered in england", "registered office",
	"company number", "vertraulich", "irrtümlich", "empfänger",
	"unbefugte", "nicht gestattet", "handelsregister", "registergericht",
	"amtsgericht", "geschäftsführer:", "sitz der gesellschaft",
	"ust-idnr", "confidentiel", "destinataire", "par erreur",
	"strictement interdite", "siret", "rcs ", "capital social",
	"confidencial", "destinatario", "por error", "prohibida",
	"riservat", "destinatari", "per errore", "vietat",
	"partita iva", "vertrouwelijk", "geadresseerde", "abusievelijk",
	"kvk", "destinatário", "por engano", "proibid", "konfidentiell",
	"sekretess", "mottagare", "felaktigt", "av misstag",
	"organisationsnummer", "org.nr", NULL
};

unsigned
lex_disclaimer_hits(const char *s)
{
	unsigned n = 0;

	for (const char *const *v = disclaimer_words; *v; v++)
		if (strstr(s, *v) != NULL)
			n++;
	return n;
}

/* Phone: seven or more digits among "+0-9 ()./-" with a leading label
 * or "+" allowed. */
const char *
lex_find_phone(const char *s, size_t n, size_t *len_r)
{
	const char *end = s + n;

	for (const char *p = s; p < end; p++) {
		const char *q = p;
		unsigned digits = 0;
		bool next_digit = p + 1 < end && isdigit((unsigned char)p[1]);

		if (!(isdigit((unsigned char)*p) ||
		    ((*p == '+' || *p == '(') && next_digit)))
			continue;
		if (p > s && (isalnum((unsigned char)p[-1])))
			continue;
		while (q < end && (isdigit((unsigned char)*q) ||
		    strchr("+ ()./-", *q) != NULL) && *q != '\0') {
			digits += isdigit((unsigned char)*q) != 0;
			q++;
		}
		while (q > p && !isdigit((unsigned char)q[-1]))
			q--;
		if (digits >= 7 && digits <= 15) {
			*len_r = (size_t)(q - p);
			return p;
		}
		p = q > p ? q - 1 : p;
	}
	return NULL;
}
