/*
 * store_check: domain_checks rows (see store_check.h).
 */
#include "store/store_check.h"

#include <string.h>

#include "store/store_private.h"

#define CHECK_TEXT_MAX 511 /* what struct store_domain_check holds */

/* Binds at most CHECK_TEXT_MAX bytes of text, never cutting a UTF-8 sequence. */
static void bind_bounded(sqlite3_stmt *st, int col, const char *text)
{
	size_t len = strlen(text);

	if (len > CHECK_TEXT_MAX) {
		len = CHECK_TEXT_MAX;
		while (len > 0 && ((unsigned char)text[len] & 0xc0) == 0x80)
			len--;
	}
	sqlite3_bind_text(st, col, text, (int)len, SQLITE_TRANSIENT);
}

int store_check_save(struct store *s, int64_t domain_id, const char *record, const char *status,
		     const char *found, const char *expected, int64_t checked_at, const char **errstr_r)
{
	static const char sql[] = "INSERT OR REPLACE INTO domain_checks"
				  " (domain_id, record, status, found, expected, checked_at) VALUES (?, ?, ?, ?, ?, ?)";
	sqlite3_stmt *st = store_stmt(s, sql, errstr_r);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, domain_id);
	sqlite3_bind_text(st, 2, record, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, status, -1, SQLITE_STATIC);
	bind_bounded(st, 4, found);
	bind_bounded(st, 5, expected);
	sqlite3_bind_int64(st, 6, checked_at);
	return store_step_done(s, st, errstr_r);
}
