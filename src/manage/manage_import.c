/*
 * manage_import: `address.import`, creating many addresses from a CSV file
 * (RFC 4180, read by lib/csv).
 *
 * The file starts with a header row naming its columns, in any order
 * (case-insensitive; only `address` is required):
 *   address     local@domain (a hosted domain whose organisation the actor
 *               owns or administers)
 *   password    the address's password: plain text (at least 8 characters;
 *               hashed here with argon2id), or an argon2id hash written
 *               "{ARGON2ID}$argon2id$v=19$m=...,t=...,p=...$salt$hash" (what
 *               `doveadm pw -s ARGON2ID` prints), stored as it is. A mailbox
 *               and a no-reply need one; a catchall and an alias take none.
 *   kind        mailbox, catchall, noreply or alias; empty: alias when
 *               forward_to is set, else mailbox
 *   forward_to  an alias's targets, separated by ';' (at most 10); external
 *               targets get a confirmation link, as with alias.targets.set
 *   quota       bytes, or with a K, M, G or T suffix (powers of 1024); empty or
 *               0: the plan's quota. Not for an alias or a no-reply.
 * Empty lines are skipped; fields are taken as written (RFC 4180: spaces
 * count), except that spaces around address, kind, forward_to and quota are
 * ignored.
 *
 * Every row is checked before anything is written, and every invalid row is
 * reported with its line number and the reason. By default the import is
 * all or nothing: one invalid row and nothing is created. skip_invalid
 * imports the valid rows and reports the rest; dry_run checks everything
 * (including what only the store can tell, inside a transaction that is
 * rolled back) and creates nothing.
 *
 * Hashing: argon2id at the interactive cost takes ~50 ms and 64 MiB per
 * password, so plain-text passwords are hashed on up to
 * IMPORT_HASH_THREADS threads (the cores there are; each thread holds its
 * 64 MiB while hashing), before the transaction so that the store's write
 * lock is not held meanwhile. 10,000 plain-text passwords still take
 * minutes on a small host; pre-hashed passwords import in seconds.
 */
#include <ctype.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "lib/csv.h"
#include "lib/xalloc.h"
#include "manage/manage_core.h"
#include "manage/manage_inbound.h"
#include "manage/manage_ops.h"
#include "store/store_manage.h"

#define IMPORT_CSV_MAX_BYTES (32u * 1024 * 1024)
#define IMPORT_ROWS_MAX 100000
#define IMPORT_ERRORS_MAX 1000 /* reported one by one; the total is always given */
#define IMPORT_HASH_THREADS 4
#define IMPORT_TARGETS_MAX 10
#define IMPORT_PREHASHED "{ARGON2ID}"

enum import_col { COL_ADDRESS, COL_PASSWORD, COL_KIND, COL_FORWARD_TO, COL_QUOTA, COL_COUNT };
static const char *const col_names[COL_COUNT] = { "address", "password", "kind", "forward_to", "quota" };

struct import_row {
	size_t line;
	char local[MAIL_LOCAL_MAX + 1];
	char domain[MAIL_DOMAIN_MAX + 1];
	enum address_kind kind;
	char *password;                 /* plain text still to hash (wiped and freed), or NULL */
	char hash[PASSWORD_HASH_MAX];   /* the hash to store, or "" */
	char (*targets)[MANAGE_ADDRESS_TEXT_MAX];
	size_t ntargets;
	int64_t quota;                  /* 0: the plan's */
	bool bad;
	bool hash_failed;               /* set by a hashing thread, reported after */
};

struct import_domain {
	char name[MAIL_DOMAIN_MAX + 1];
	const char *code;    /* NULL: the actor may import into it */
	char reason[400];
	bool catchall_row;   /* a row of the file already makes its catchall */
};

struct import {
	struct manage_ctx *ctx;
	int col[COL_COUNT];             /* field index of each column, -1 absent */
	size_t ncols;
	struct import_row *rows;
	size_t nrows, cap;
	struct import_domain *doms;
	size_t ndoms, domcap;
	uint32_t *seen;                 /* duplicate detection: open addressing, row index + 1 */
	size_t seen_cap;
	json_t *errors;
	size_t nerrors;
	size_t records;                 /* data lines read (empty lines aside) */
};

static int row_fail(struct import *imp, struct import_row *row, size_t line, const char *address, const char *code,
		     const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Shortens s (NUL-terminated) so that it does not end inside a UTF-8 sequence. */
static void utf8_trim_end(char *s)
{
	size_t n = strlen(s), k = n;

	while (k > 0 && ((unsigned char)s[k - 1] & 0xc0) == 0x80)
		k--;
	/* s[k-1] starts the last sequence: keep it only when it is complete */
	if (k > 0 && (unsigned char)s[k - 1] >= 0xc0) {
		unsigned char lead = (unsigned char)s[k - 1];
		size_t want = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;

		if (n - (k - 1) < want)
			s[k - 1] = '\0';
	}
}

/* Marks the row invalid (row may be NULL before it exists) and reports it. */
static int row_fail(struct import *imp, struct import_row *row, size_t line, const char *address, const char *code,
		     const char *fmt, ...)
{
	char reason[400];
	json_t *e;
	va_list ap;

	if (row != NULL)
		row->bad = true;
	if (imp->nerrors++ >= IMPORT_ERRORS_MAX)
		return -1;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	utf8_trim_end(reason); /* a cut reason must still be UTF-8 for JSON */
	e = json_pack("{s:I, s:s, s:s, s:s}", "line", (json_int_t)line, "address", address, "code", code, "reason",
		      reason);
	if (e == NULL) /* not UTF-8 after all: the line and the code still say what is wrong */
		e = json_pack("{s:I, s:s, s:s, s:s}", "line", (json_int_t)line, "address", "?", "code", code, "reason",
			      code);
	json_array_append_new(imp->errors, e);
	return -1;
}

static void import_free(struct import *imp)
{
	for (size_t i = 0; i < imp->nrows; i++) {
		if (imp->rows[i].password != NULL) {
			sodium_memzero(imp->rows[i].password, strlen(imp->rows[i].password));
			free(imp->rows[i].password);
		}
		free(imp->rows[i].targets);
	}
	free(imp->rows);
	free(imp->doms);
	free(imp->seen);
	json_decref(imp->errors);
}

/* ---- fields ---- */

/* The field of column c in rec, spaces around it removed when trim ("" when the column is absent). */
static struct slice field(const struct import *imp, const struct csv_record *rec, enum import_col c, bool trim)
{
	struct slice s;

	if (imp->col[c] < 0)
		return slice_make("", 0);
	s = rec->fields[imp->col[c]];
	while (trim && s.len > 0 && (s.p[0] == ' ' || s.p[0] == '\t'))
		s.p++, s.len--;
	while (trim && s.len > 0 && (s.p[s.len - 1] == ' ' || s.p[s.len - 1] == '\t'))
		s.len--;
	return s;
}

/* A trimmed field as a C string in buf (size bytes); false when it does not fit. */
static bool field_str(struct slice s, char *buf, size_t size)
{
	if (s.len >= size)
		return false;
	memcpy(buf, s.p, s.len);
	buf[s.len] = '\0';
	return true;
}

static int header_parse(struct import *imp, const struct csv_record *rec, struct manage_error *err)
{
	for (size_t c = 0; c < COL_COUNT; c++)
		imp->col[c] = -1;
	imp->ncols = rec->nfields;
	for (size_t i = 0; i < rec->nfields; i++) {
		struct slice f = rec->fields[i];
		size_t c;

		while (f.len > 0 && f.p[f.len - 1] == ' ')
			f.len--;
		while (f.len > 0 && f.p[0] == ' ')
			f.p++, f.len--;
		for (c = 0; c < COL_COUNT && !slice_eq_nocase(f, col_names[c]); c++)
			;
		if (c == COL_COUNT)
			return manage_fail(err, MANAGE_INVALID, "csv_header",
					   "line %zu: unknown column '%.*s' (the columns are address, password, kind,"
					   " forward_to, quota)", rec->line, (int)(f.len > 40 ? 40 : f.len), f.p);
		if (imp->col[c] >= 0)
			return manage_fail(err, MANAGE_INVALID, "csv_header", "line %zu: column '%s' appears twice",
					   rec->line, col_names[c]);
		imp->col[c] = (int)i;
	}
	if (imp->col[COL_ADDRESS] < 0)
		return manage_fail(err, MANAGE_INVALID, "csv_header",
				   "line %zu: the first line must name the columns, and 'address' is required (e.g."
				   " address,password,kind,forward_to,quota)", rec->line);
	return 0;
}

/* ---- one row ---- */

static size_t utf8_chars(const char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += ((unsigned char)s[i] & 0xc0) != 0x80;
	return n;
}

static int row_password(struct import *imp, struct import_row *row, struct slice p, const char *addr)
{
	const size_t plen = strlen(IMPORT_PREHASHED);
	bool needs = row->kind == ADDRESS_MAILBOX || row->kind == ADDRESS_NOREPLY;

	if (p.len == 0)
		return needs ? row_fail(imp, row, row->line, addr, "password_required", "a %s needs a password",
					manage_kind_name(row->kind)) : 0;
	if (!needs)
		return row_fail(imp, row, row->line, addr, "password_not_allowed",
				"a %s takes no password: nobody logs in to it", manage_kind_name(row->kind));
	if (p.len > plen && strncasecmp(p.p, IMPORT_PREHASHED, plen) == 0) {
		const char *h = p.p + plen;

		/* -1: not an argon2id string at all (weaker parameters are fine: rehashed at login) */
		if (p.len - plen >= PASSWORD_HASH_MAX || strncmp(h, "$argon2id$", 10) != 0 ||
		    crypto_pwhash_str_needs_rehash(h, crypto_pwhash_OPSLIMIT_INTERACTIVE,
						   crypto_pwhash_MEMLIMIT_INTERACTIVE) < 0)
			return row_fail(imp, row, row->line, addr, "bad_password_hash",
					"the password starts with " IMPORT_PREHASHED " but what follows is not an"
					" argon2id hash ($argon2id$v=19$m=...,t=...,p=...$salt$hash)");
		memcpy(row->hash, h, p.len - plen + 1);
		return 0;
	}
	if (p.len > PASSWORD_MAX_LENGTH)
		return row_fail(imp, row, row->line, addr, "weak_password", "the password is longer than %d bytes",
				PASSWORD_MAX_LENGTH);
	if (utf8_chars(p.p, p.len) < PASSWORD_MIN_LENGTH)
		return row_fail(imp, row, row->line, addr, "weak_password",
				"the password is too short: at least %d characters", PASSWORD_MIN_LENGTH);
	row->password = xstrdup(p.p);
	return 0;
}

static int target_add(struct import *imp, struct import_row *row, struct slice t, const char *addr)
{
	char text[MANAGE_ADDRESS_TEXT_MAX + 64], local[MAIL_LOCAL_MAX + 1], domain[MAIL_DOMAIN_MAX + 1], why[300];

	if (!field_str(t, text, sizeof(text)) || mail_address_parse(text, local, domain, why, sizeof(why)) < 0)
		return row_fail(imp, row, row->line, addr, "bad_target", "forward_to: %s",
				t.len >= sizeof(text) ? "a target is too long" : why);
	if (row->ntargets == IMPORT_TARGETS_MAX)
		return row_fail(imp, row, row->line, addr, "too_many_targets", "an alias has at most %d targets",
				IMPORT_TARGETS_MAX);
	if (row->targets == NULL)
		row->targets = xcalloc(IMPORT_TARGETS_MAX, sizeof(*row->targets));
	snprintf(row->targets[row->ntargets], MANAGE_ADDRESS_TEXT_MAX, "%s@%s", local, domain);
	if (strcmp(row->targets[row->ntargets], addr) == 0)
		return row_fail(imp, row, row->line, addr, "bad_target", "an alias cannot forward to itself");
	for (size_t i = 0; i < row->ntargets; i++)
		if (strcmp(row->targets[i], row->targets[row->ntargets]) == 0)
			return row_fail(imp, row, row->line, addr, "bad_target", "forward_to names %s twice",
					row->targets[i]);
	row->ntargets++;
	return 0;
}

static int row_targets(struct import *imp, struct import_row *row, struct slice f, const char *addr)
{
	if (f.len == 0)
		return row->kind == ADDRESS_ALIAS ? row_fail(imp, row, row->line, addr, "targets_required",
							     "an alias needs at least one address in forward_to") : 0;
	if (row->kind != ADDRESS_ALIAS)
		return row_fail(imp, row, row->line, addr, "targets_not_allowed",
				"only an alias has forward_to targets (this row's kind is %s)",
				manage_kind_name(row->kind));
	while (f.len > 0 && !row->bad) {
		const char *semi = memchr(f.p, ';', f.len);
		struct slice t = slice_make(f.p, semi != NULL ? (size_t)(semi - f.p) : f.len);

		f.len -= t.len + (semi != NULL);
		f.p += t.len + (semi != NULL);
		while (t.len > 0 && (t.p[0] == ' ' || t.p[0] == '\t'))
			t.p++, t.len--;
		while (t.len > 0 && (t.p[t.len - 1] == ' ' || t.p[t.len - 1] == '\t'))
			t.len--;
		if (t.len > 0)
			target_add(imp, row, t, addr);
	}
	return row->bad ? -1 : 0;
}

/* "1048576", "500M", "10G": 0 or -1. */
static int size_parse(struct slice s, int64_t *v_r)
{
	uint64_t v = 0;
	size_t i = 0;

	for (; i < s.len && s.p[i] >= '0' && s.p[i] <= '9'; i++) {
		if (v > (UINT64_C(1) << 50))
			return -1;
		v = v * 10 + (uint64_t)(s.p[i] - '0');
	}
	if (i == 0)
		return -1;
	if (i + 1 == s.len) {
		const char *units = "KMGT", *u = strchr(units, s.p[i] & ~0x20);

		if (u == NULL || s.p[i] == '\0')
			return -1;
		v <<= 10 * (unsigned)(u - units + 1);
	} else if (i != s.len) {
		return -1;
	}
	if (v > (UINT64_C(1) << 50))
		return -1;
	*v_r = (int64_t)v;
	return 0;
}

static int row_quota(struct import *imp, struct import_row *row, struct slice q, const char *addr)
{
	if (q.len == 0)
		return 0;
	if (size_parse(q, &row->quota) < 0)
		return row_fail(imp, row, row->line, addr, "bad_quota",
				"quota '%.*s' is not a size (bytes, or a number with K, M, G or T)",
				(int)(q.len > 40 ? 40 : q.len), q.p);
	if (row->quota > 0 && (row->kind == ADDRESS_ALIAS || row->kind == ADDRESS_NOREPLY))
		return row_fail(imp, row, row->line, addr, "quota_not_allowed", "a %s stores no mail: it has no quota",
				manage_kind_name(row->kind));
	return 0;
}

/* ---- the domains: hosted, and the actor's to fill ---- */

/* The cached verdict on domain (looked up once per import). NULL on a store failure (err set). */
static struct import_domain *domain_get(struct import *imp, const char *name, struct manage_error *err)
{
	struct import_domain *d;
	struct store_domain dom;
	struct manage_error e;
	const char *errstr = NULL;
	int rc;

	for (size_t i = 0; i < imp->ndoms; i++)
		if (strcmp(imp->doms[i].name, name) == 0)
			return &imp->doms[i];
	if (imp->ndoms == imp->domcap) {
		imp->domcap = imp->domcap != 0 ? imp->domcap * 2 : 8;
		imp->doms = xrealloc(imp->doms, imp->domcap * sizeof(*imp->doms));
	}
	d = &imp->doms[imp->ndoms];
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", name);
	if ((rc = store_domain_get(imp->ctx->store, name, &dom, &errstr)) < 0)
		return manage_fail_store(err, errstr), NULL;
	memset(&e, 0, sizeof(e));
	/* not hosted and not visible read the same: other organisations' names do not leak */
	if (rc == 0 || (manage_need_org(imp->ctx, dom.org_id, ROLE_ADMIN, &e) < 0 && e.status == MANAGE_NOT_FOUND)) {
		d->code = "unhosted_domain";
		snprintf(d->reason, sizeof(d->reason), "domain %s is not hosted here", name);
	} else if (e.status == MANAGE_FORBIDDEN) {
		d->code = "forbidden_domain";
		snprintf(d->reason, sizeof(d->reason),
			 "only an owner or an admin of the organisation of %s may create its addresses", name);
	} else if (e.status != MANAGE_OK) {
		*err = e;
		return NULL;
	}
	imp->ndoms++;
	return d;
}

/* ---- duplicates inside the file ---- */

static uint32_t addr_hash(const char *local, const char *domain)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (const char *p = local; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	h = (h ^ '@') * 16777619u;
	for (const char *p = domain; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h;
}

static void seen_grow(struct import *imp)
{
	size_t old = imp->seen_cap;
	uint32_t *prev = imp->seen;

	imp->seen_cap = old != 0 ? old * 2 : 1024;
	imp->seen = xcalloc(imp->seen_cap, sizeof(*imp->seen));
	for (size_t i = 0; i < old; i++) {
		if (prev[i] == 0)
			continue;
		const struct import_row *r = &imp->rows[prev[i] - 1];
		size_t j = addr_hash(r->local, r->domain) & (imp->seen_cap - 1);
		while (imp->seen[j] != 0)
			j = (j + 1) & (imp->seen_cap - 1);
		imp->seen[j] = prev[i];
	}
	free(prev);
}

/* The line of an earlier row with the same address, or 0 after recording this one (index idx). */
static size_t seen_check(struct import *imp, size_t idx)
{
	const struct import_row *row = &imp->rows[idx];
	size_t j;

	if ((idx + 1) * 2 > imp->seen_cap)
		seen_grow(imp);
	for (j = addr_hash(row->local, row->domain) & (imp->seen_cap - 1); imp->seen[j] != 0;
	     j = (j + 1) & (imp->seen_cap - 1)) {
		const struct import_row *o = &imp->rows[imp->seen[j] - 1];

		if (strcmp(o->local, row->local) == 0 && strcmp(o->domain, row->domain) == 0)
			return o->line;
	}
	imp->seen[j] = (uint32_t)idx + 1;
	return 0;
}

/* ---- reading the file ---- */

static int row_kind(struct import *imp, struct import_row *row, const struct csv_record *rec, const char *addr)
{
	struct slice k = field(imp, rec, COL_KIND, true);
	char name[16];
	size_t i;

	if (k.len == 0) {
		row->kind = field(imp, rec, COL_FORWARD_TO, true).len > 0 ? ADDRESS_ALIAS : ADDRESS_MAILBOX;
		return 0;
	}
	for (i = 0; i < k.len && i + 1 < sizeof(name); i++)
		name[i] = (char)tolower((unsigned char)k.p[i]);
	name[i] = '\0';
	if (k.len >= sizeof(name) || manage_kind_parse(name, &row->kind) < 0)
		return row_fail(imp, row, rec->line, addr, "unknown_kind",
				"kind '%.*s' is not one of mailbox, catchall, noreply, alias",
				(int)(k.len > 20 ? 20 : k.len), k.p);
	return 0;
}

/* The checks that need the store: the domain, an existing address, a second catchall. */
static int row_store_checks(struct import *imp, struct import_row *row, const char *addr, struct manage_error *err)
{
	struct import_domain *d = domain_get(imp, row->domain, err);
	struct store_address a;
	const char *errstr = NULL;
	int rc;

	if (d == NULL)
		return -1;
	if (d->code != NULL)
		return row_fail(imp, row, row->line, addr, d->code, "%s", d->reason), 0;
	if ((rc = store_address_get(imp->ctx->store, row->local, row->domain, &a, &errstr)) < 0)
		return manage_fail_store(err, errstr);
	if (rc == 1)
		return row_fail(imp, row, row->line, addr, "address_exists", "address %s already exists", addr), 0;
	if (row->kind == ADDRESS_CATCHALL && d->catchall_row)
		return row_fail(imp, row, row->line, addr, "catchall_exists",
				"another row already makes the catchall of %s (a domain has one)", row->domain), 0;
	if (row->kind == ADDRESS_CATCHALL)
		d->catchall_row = true;
	return 0;
}

/* One record: a row (valid or not, errors reported), or -1 on a store failure. */
static int row_parse(struct import *imp, const struct csv_record *rec, struct manage_error *err)
{
	char text[MANAGE_ADDRESS_TEXT_MAX + 64], why[300], addr[MANAGE_ADDRESS_TEXT_MAX];
	struct slice a = field(imp, rec, COL_ADDRESS, true);
	struct import_row *row;
	size_t dup;

	if (imp->nrows == imp->cap) {
		imp->cap = imp->cap != 0 ? imp->cap * 2 : 256;
		imp->rows = xrealloc(imp->rows, imp->cap * sizeof(*imp->rows));
	}
	row = &imp->rows[imp->nrows];
	memset(row, 0, sizeof(*row));
	row->line = rec->line;
	/* as written, for the report: control characters (a line break in quotes) shown as '?' */
	for (size_t i = 0; i <= a.len && i < sizeof(addr); i++)
		addr[i] = i == a.len || i + 1 == sizeof(addr) ? '\0'
			  : (unsigned char)a.p[i] < 0x20 || a.p[i] == 0x7f ? '?' : a.p[i];
	utf8_trim_end(addr);
	if (rec->nfields != imp->ncols)
		return row_fail(imp, NULL, rec->line, addr, "field_count", "%zu field%s, but the header names %zu columns",
				rec->nfields, rec->nfields == 1 ? "" : "s", imp->ncols), 0;
	imp->nrows++;
	if (!field_str(a, text, sizeof(text)) || mail_address_parse(text, row->local, row->domain, why, sizeof(why)) < 0)
		return row_fail(imp, row, row->line, addr, "bad_address", "%s",
				a.len == 0 ? "the address is empty" : a.len >= sizeof(text) ? "the address is too long" : why),
		       0;
	snprintf(addr, sizeof(addr), "%s@%s", row->local, row->domain);
	if ((dup = seen_check(imp, imp->nrows - 1)) != 0)
		return row_fail(imp, row, row->line, addr, "duplicate", "%s is already on line %zu", addr, dup), 0;
	if (row_kind(imp, row, rec, addr) < 0)
		return 0;
	/* each check reports its own problem; the row is then bad */
	if (row_password(imp, row, field(imp, rec, COL_PASSWORD, false), addr) < 0 ||
	    row_targets(imp, row, field(imp, rec, COL_FORWARD_TO, true), addr) < 0 ||
	    row_quota(imp, row, field(imp, rec, COL_QUOTA, true), addr) < 0)
		return 0;
	return row_store_checks(imp, row, addr, err);
}

static int import_read(struct import *imp, const char *csv, size_t len, struct manage_error *err)
{
	static const struct csv_limits lim = { .field_max = 4096, .fields_max = 16, .record_max = 16384 };
	struct csv_reader r;
	struct csv_record rec;
	const char *errstr = NULL;
	int rc;

	csv_reader_init(&r, csv, len, &lim);
	if ((rc = csv_read(&r, &rec, &errstr)) <= 0) {
		rc = rc < 0 ? manage_fail(err, MANAGE_INVALID, "csv_invalid", "the CSV file is not valid: %s", errstr)
			    : manage_fail(err, MANAGE_INVALID, "csv_empty", "the CSV file is empty: it needs a header"
				      " line (address,password,kind,forward_to,quota) and one line per address");
	} else if ((rc = header_parse(imp, &rec, err)) == 0) {
		while ((rc = csv_read(&r, &rec, &errstr)) == 1) {
			if (rec.nfields == 1 && rec.fields[0].len == 0)
				continue; /* an empty line */
			if (++imp->records > IMPORT_ROWS_MAX) {
				rc = manage_fail(err, MANAGE_INVALID, "csv_too_large",
						 "line %zu: an import takes at most %d rows", rec.line, IMPORT_ROWS_MAX);
				break;
			}
			if ((rc = row_parse(imp, &rec, err)) < 0)
				break;
		}
		if (rc < 0 && err->status == MANAGE_OK)
			manage_fail(err, MANAGE_INVALID, "csv_invalid", "the CSV file is not valid: %s", errstr);
	}
	csv_reader_free(&r);
	return rc < 0 ? -1 : 0;
}

/* ---- hashing, on several threads ---- */

struct hash_job {
	struct import_row *rows;
	size_t n;
	atomic_size_t next;
};

/* Each row is taken by exactly one thread (the atomic counter), so rows need no lock. */
static void *hash_worker(void *arg)
{
	struct hash_job *job = arg;
	size_t i;
	char why[128];

	while ((i = atomic_fetch_add(&job->next, 1)) < job->n) {
		struct import_row *row = &job->rows[i];

		if (row->bad || row->password == NULL)
			continue;
		if (password_hash(row->password, row->hash, why, sizeof(why)) < 0)
			row->hash_failed = true;
		sodium_memzero(row->password, strlen(row->password));
		free(row->password);
		row->password = NULL;
	}
	return NULL;
}

/* Hashes every plain-text password; returns how many. */
static size_t hash_passwords(struct import *imp)
{
	pthread_t th[IMPORT_HASH_THREADS];
	struct hash_job job = { imp->rows, imp->nrows, 0 };
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	size_t want = 0, nth = 0, started = 0;

	for (size_t i = 0; i < imp->nrows; i++)
		want += !imp->rows[i].bad && imp->rows[i].password != NULL;
	nth = cores < 1 ? 1 : (size_t)cores > IMPORT_HASH_THREADS ? IMPORT_HASH_THREADS : (size_t)cores;
	if (nth > want)
		nth = want;
	/* this thread is one of the workers; a thread that cannot start just means fewer */
	for (size_t t = 1; t < nth; t++)
		if (pthread_create(&th[started], NULL, hash_worker, &job) == 0)
			started++;
	hash_worker(&job);
	for (size_t t = 0; t < started; t++)
		pthread_join(th[t], NULL);
	for (size_t i = 0; i < imp->nrows; i++) {
		struct import_row *row = &imp->rows[i];
		char addr[MANAGE_ADDRESS_TEXT_MAX];

		if (!row->hash_failed)
			continue;
		snprintf(addr, sizeof(addr), "%s@%s", row->local, row->domain);
		row_fail(imp, row, row->line, addr, "hash_failed", "the password could not be hashed (out of memory)");
	}
	return want;
}

/* ---- writing ---- */

/* The new alias's targets (manage_inbound: local ones must receive, external ones get a link). */
static int alias_targets(struct manage_ctx *ctx, const struct import_row *row, struct store_address *a, json_t *sent,
			 struct manage_error *e)
{
	snprintf(a->local, sizeof(a->local), "%s", row->local);
	snprintf(a->domain, sizeof(a->domain), "%s", row->domain);
	a->kind = ADDRESS_ALIAS;
	return manage_alias_targets_apply(ctx, a, (const char(*)[MANAGE_ADDRESS_TEXT_MAX])row->targets, row->ntargets,
					  sent, e);
}

/* One row in its own savepoint: the address, its quota, its targets, its history. */
static int row_insert(struct import *imp, struct import_row *row, json_t *sent)
{
	struct manage_ctx *ctx = imp->ctx;
	struct store_address a = { 0 };
	struct manage_error e;
	const char *errstr = NULL;
	char addr[MANAGE_ADDRESS_TEXT_MAX];
	int rc = -1;

	memset(&e, 0, sizeof(e));
	snprintf(addr, sizeof(addr), "%s@%s", row->local, row->domain);
	if (store_manage_begin(ctx->store, &errstr) < 0)
		return row_fail(imp, row, row->line, addr, "store_error", "%s", errstr);
	if (store_address_add(ctx->store, row->local, row->domain, row->kind, row->hash[0] != '\0' ? row->hash : NULL,
			      &a.id, &errstr) < 0 ||
	    (row->quota > 0 && store_address_set_quota(ctx->store, row->local, row->domain, row->quota, &errstr) < 0)) {
		row_fail(imp, row, row->line, addr, "refused", "%s", errstr);
	} else if (row->kind == ADDRESS_ALIAS && alias_targets(ctx, row, &a, sent, &e) < 0) {
		row_fail(imp, row, row->line, addr, "bad_target", "forward_to: %s", e.message);
	} else {
		manage_history(ctx, a.id, "address.create", "created by a CSV import (line %zu)", row->line);
		rc = 0;
	}
	if (rc == 0 && store_manage_commit(ctx->store, &errstr) < 0)
		rc = row_fail(imp, row, row->line, addr, "store_error", "%s", errstr);
	else if (rc < 0)
		store_manage_rollback(ctx->store);
	return rc;
}

/*
 * Creates the valid rows in one transaction: plain addresses first, then
 * aliases, so that an alias may forward to an address of the same file.
 * Commits unless dry_run, or a row failed and the import is all or nothing.
 */
static int import_write(struct import *imp, bool dry_run, bool skip_invalid, json_t *sent, size_t *created_r,
			struct manage_error *err)
{
	struct manage_ctx *ctx = imp->ctx;
	const char *errstr = NULL;

	*created_r = 0;
	if (manage_txn_begin(ctx, err) < 0)
		return -1;
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < imp->nrows; i++) {
			struct import_row *row = &imp->rows[i];

			if (row->bad || (pass == 1) != (row->kind == ADDRESS_ALIAS))
				continue;
			if (row_insert(imp, row, sent) == 0)
				(*created_r)++;
		}
	if (dry_run || (imp->nerrors > 0 && !skip_invalid)) {
		store_manage_rollback(ctx->store);
		return 0;
	}
	if (store_manage_commit(ctx->store, &errstr) < 0)
		return manage_fail_store(err, errstr);
	return 0;
}

/* ---- the operation ---- */

/* A flag given as JSON true/false, or as text from a query string (?dry_run=true). */
static int param_flag(json_t *params, const char *field, bool *value_r, struct manage_error *err)
{
	json_t *v = json_object_get(params, field);
	const char *t;

	*value_r = false;
	if (v == NULL || json_is_null(v) || json_is_boolean(v))
		return manage_param_bool(params, field, false, value_r, err);
	t = json_is_string(v) ? json_string_value(v) : "";
	if (strcmp(t, "true") == 0 || strcmp(t, "1") == 0 || strcmp(t, "false") == 0 || strcmp(t, "0") == 0) {
		*value_r = t[0] == 't' || t[0] == '1';
		return 0;
	}
	return manage_fail_field(err, field, "%s must be true or false", field);
}

/* Messages the import queued (alias confirmations) are kept only when it committed. */
static void outbox_settle(struct manage_ctx *ctx, struct manage_message *before, bool keep)
{
	struct manage_message **tail = &before;

	if (!keep)
		manage_ctx_clear(ctx);
	while (*tail != NULL)
		tail = &(*tail)->next;
	*tail = ctx->outbox;
	ctx->outbox = before;
}

static int op_address_import(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	struct import imp = { .ctx = ctx };
	struct manage_message *before = ctx->outbox;
	bool dry_run, skip_invalid, write, committed = false;
	size_t hashed = 0, created = 0, valid = 0;
	const char *csv;
	json_t *sent;
	int rc = -1;

	if (manage_param_str(params, "csv", true, IMPORT_CSV_MAX_BYTES, &csv, err) < 0 ||
	    param_flag(params, "dry_run", &dry_run, err) < 0 || param_flag(params, "skip_invalid", &skip_invalid, err) < 0)
		return -1;
	imp.errors = json_array();
	sent = json_array();
	ctx->outbox = NULL;
	if (import_read(&imp, csv, strlen(csv), err) < 0)
		goto out;
	for (size_t i = 0; i < imp.nrows; i++)
		valid += !imp.rows[i].bad;
	/* all or nothing and something is wrong already: say so now, without hashing for minutes */
	write = valid > 0 && (skip_invalid || dry_run || imp.nerrors == 0);
	if (write && !dry_run)
		hashed = hash_passwords(&imp);
	if (write && import_write(&imp, dry_run, skip_invalid, sent, &created, err) < 0)
		goto out;
	rc = 0;
	committed = write && !dry_run && (imp.nerrors == 0 || skip_invalid);
	valid = 0;
	for (size_t i = 0; i < imp.nrows; i++)
		valid += !imp.rows[i].bad;
	*result_r = json_pack("{s:b, s:b, s:b, s:I, s:I, s:I, s:I, s:I, s:O, s:O}", "ok", imp.nerrors == 0, "dry_run",
			      dry_run, "skip_invalid", skip_invalid, "rows", (json_int_t)imp.records, "valid",
			      (json_int_t)valid, "imported", (json_int_t)(committed ? created : 0), "passwords_hashed",
			      (json_int_t)hashed, "error_count", (json_int_t)imp.nerrors, "errors", imp.errors,
			      "confirmation_sent", sent);
out:
	outbox_settle(ctx, before, committed);
	json_decref(sent);
	import_free(&imp);
	return rc;
}

const struct manage_op manage_import_ops[] = {
	{ "address.import", op_address_import, true, false,
	  "Creates addresses from a CSV file (columns address, password, kind, forward_to, quota): all or nothing"
	  " unless skip_invalid, with every invalid row named by line; dry_run checks without creating" },
	{ 0 },
};
