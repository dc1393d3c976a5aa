/*
 * store_check: recording the result of a domain's DNS check (domain.check,
 * src/manage/manage_check.c) in domain_checks. Reading them back is
 * store_manage_domain_checks (store_manage.h). Same conventions as store.h.
 */
#ifndef HERMOD_STORE_STORE_CHECK_H
#define HERMOD_STORE_STORE_CHECK_H

#include <stdint.h>

#include "store/store.h"

/*
 * Replaces the last result for (domain_id, record). record: mx, spf, dkim
 * or dmarc; status: present, missing, wrong or error; found and expected
 * are kept up to 511 bytes (what domain.dns shows).
 */
int store_check_save(struct store *s, int64_t domain_id, const char *record, const char *status,
		     const char *found, const char *expected, int64_t checked_at, const char **errstr_r);

#endif
