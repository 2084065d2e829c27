/*
 * fuzz_ident_addr.c - address, display-name, address-list, message-id,
 * subject and phone parsing of enrich/ident.
 *
 * Checks: every output is NUL-terminated and within its documented
 * maximum; a canonical address parses back to itself (the key is stable);
 * message-id slices lie inside the input; nothing reads past (ptr, len)
 * (the input is an exact-size buffer under ASan).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "enrich/ident/ident.h"

#define FUZZ_CHECK(e) do { if (!(e)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_addr(const struct ident_addr *a)
{
	struct ident_addr b;
	const char *err = NULL;

	FUZZ_CHECK(strlen(a->local) <= IDENT_LOCAL_MAX);
	FUZZ_CHECK(strlen(a->domain) <= IDENT_DOMAIN_MAX);
	FUZZ_CHECK(strlen(a->addr) == strlen(a->local) + 1 +
	    strlen(a->domain));
	FUZZ_CHECK(ident_addr_parse(a->addr, strlen(a->addr), 0, &b,
	    &err) == 0);
	FUZZ_CHECK(strcmp(a->addr, b.addr) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data, *err = NULL;
	struct ident_addr a;
	struct ident_mailbox mb[8];
	struct ident_slice ids[6];
	char name[IDENT_NAME_MAX + 1], small[5], subj[300], dom[
	    IDENT_DOMAIN_MAX + 1], phone[IDENT_PHONE_MAX + 1];
	size_t n, skipped;
	int rc;

	if (ident_addr_parse(in, size, 0, &a, &err) == 0)
		check_addr(&a);
	else
		FUZZ_CHECK(err != NULL && a.addr[0] == '\0');
	if (ident_addr_parse(in, size, IDENT_ADDR_KEEP_CASE, &a, &err) == 0)
		FUZZ_CHECK(strlen(a.addr) <= IDENT_ADDR_MAX);

	n = ident_name_clean(in, size, NULL, name, sizeof(name));
	FUZZ_CHECK(n == strlen(name) && n <= IDENT_NAME_MAX);
	n = ident_name_clean(in, size, "a@b", small, sizeof(small));
	FUZZ_CHECK(n == strlen(small) && n < sizeof(small));

	rc = ident_mailbox_list_parse(in, size, mb, 8, &skipped, &err);
	FUZZ_CHECK(rc >= -1 && rc <= 8);
	for (int i = 0; i < rc; i++) {
		check_addr(&mb[i].addr);
		FUZZ_CHECK(strlen(mb[i].name) <= IDENT_NAME_MAX);
	}

	n = ident_msgid_list(in, size, ids, 6);
	FUZZ_CHECK(n <= 6);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK(ids[i].ptr >= in && ids[i].len > 0 &&
		    ids[i].len <= IDENT_MSGID_MAX &&
		    ids[i].ptr + ids[i].len <= in + size);

	n = ident_subject_base(in, size, true, subj, sizeof(subj));
	FUZZ_CHECK(n == strlen(subj) && n < sizeof(subj));
	n = ident_subject_base(in, size, false, small, sizeof(small));
	FUZZ_CHECK(n == strlen(small) && n < sizeof(small));

	if (ident_domain_normalize(in, size, dom, sizeof(dom), &err) == 0)
		FUZZ_CHECK(strlen(dom) <= IDENT_DOMAIN_MAX);
	if (ident_phone_e164(in, size, "44", phone, sizeof(phone), &err) == 0)
		FUZZ_CHECK(phone[0] == '+' && strlen(phone) <= 16 &&
		    strlen(phone) >= 9);
	n = ident_title_clean(in, size, subj, sizeof(subj));
	FUZZ_CHECK(n == strlen(subj) && n <= IDENT_TITLE_MAX);
	(void)ident_auto_localpart(in, size);
	{
		struct ident_header h = { in, size / 2, in + size / 2,
		    size - size / 2 };

		(void)ident_auto_reasons(in, size, &h, 1);
	}
	return 0;
}
