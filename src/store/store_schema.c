/*
 * store_schema: opening the SQLite store, its schema and its migrations.
 *
 * The schema covers the whole domain model of PRODUCT.md from the start, so
 * that later features add behaviour, not tables. Migrations are ordered SQL
 * texts; migration N brings schema_version from N-1 to N, inside one
 * transaction, so a crash mid-migration leaves the previous version intact.
 * Never edit a released migration: append a new one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/xalloc.h"
#include "store/store_private.h"

/* Both the CLI and the daemon open the database; a writer waits this long. */
#define STORE_BUSY_TIMEOUT_MS 10000

static const char migration_1[] =
	/* organisations: own domains, mail services and members */
	"CREATE TABLE orgs (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  name TEXT NOT NULL UNIQUE COLLATE NOCASE,\n"
	"  created_at INTEGER NOT NULL);\n"
	/* accounts: a person's console/webmail login (argon2id hash) */
	"CREATE TABLE accounts (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  login TEXT NOT NULL UNIQUE COLLATE NOCASE,\n"
	"  password_hash TEXT NOT NULL,\n"
	"  display_name TEXT NOT NULL DEFAULT '',\n"
	"  created_at INTEGER NOT NULL);\n"
	/* memberships: an account's role in an organisation */
	"CREATE TABLE memberships (\n"
	"  org_id INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,\n"
	"  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,\n"
	"  role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),\n"
	"  PRIMARY KEY (org_id, account_id));\n"
	/* mail_services: an organisation's email service; its plan sets the limits */
	"CREATE TABLE mail_services (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  org_id INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,\n"
	"  plan TEXT NOT NULL CHECK (plan IN ('free', 'starter', 'pro')),\n"
	"  created_at INTEGER NOT NULL);\n"
	"CREATE INDEX mail_services_org ON mail_services(org_id);\n"
	/* domains: hosted domains, linked to a mail service (or not); DKIM key for later */
	"CREATE TABLE domains (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  name TEXT NOT NULL UNIQUE COLLATE NOCASE,\n"
	"  org_id INTEGER NOT NULL REFERENCES orgs(id),\n"
	"  service_id INTEGER REFERENCES mail_services(id) ON DELETE SET NULL,\n"
	"  dkim_selector TEXT,\n"
	"  dkim_private_key TEXT,\n"
	"  created_at INTEGER NOT NULL);\n"
	"CREATE INDEX domains_org ON domains(org_id);\n"
	/* addresses: local@domain of every kind, with quota usage counters */
	"CREATE TABLE addresses (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  domain_id INTEGER NOT NULL REFERENCES domains(id),\n"
	"  local TEXT NOT NULL COLLATE NOCASE,\n"
	"  kind TEXT NOT NULL CHECK (kind IN ('mailbox', 'catchall', 'noreply', 'alias')),\n"
	"  password_hash TEXT,\n"
	"  quota_bytes INTEGER NOT NULL DEFAULT 0 CHECK (quota_bytes >= 0),\n"
	"  used_bytes INTEGER NOT NULL DEFAULT 0,\n"
	"  message_count INTEGER NOT NULL DEFAULT 0,\n"
	"  created_at INTEGER NOT NULL,\n"
	"  UNIQUE (domain_id, local));\n"
	/* at most one catchall per domain */
	"CREATE UNIQUE INDEX addresses_one_catchall ON addresses(domain_id) WHERE kind = 'catchall';\n"
	/* alias_targets: where an alias redirects (local or remote), confirmed by the target */
	"CREATE TABLE alias_targets (\n"
	"  address_id INTEGER NOT NULL REFERENCES addresses(id) ON DELETE CASCADE,\n"
	"  target TEXT NOT NULL COLLATE NOCASE,\n"
	"  confirmed INTEGER NOT NULL DEFAULT 0 CHECK (confirmed IN (0, 1)),\n"
	"  PRIMARY KEY (address_id, target));\n"
	/* access: which accounts may use which address, with PERM_* bits */
	"CREATE TABLE access (\n"
	"  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,\n"
	"  address_id INTEGER NOT NULL REFERENCES addresses(id) ON DELETE CASCADE,\n"
	"  perms INTEGER NOT NULL CHECK (perms BETWEEN 0 AND 31),\n"
	"  PRIMARY KEY (account_id, address_id));\n"
	"CREATE INDEX access_address ON access(address_id);\n"
	/* invitations: to use an address (existing member or a new account), by email */
	"CREATE TABLE invitations (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  token_hash BLOB NOT NULL UNIQUE,\n"
	"  org_id INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,\n"
	"  address_id INTEGER REFERENCES addresses(id) ON DELETE CASCADE,\n"
	"  email TEXT NOT NULL,\n"
	"  perms INTEGER NOT NULL DEFAULT 0,\n"
	"  invited_by INTEGER REFERENCES accounts(id) ON DELETE SET NULL,\n"
	"  created_at INTEGER NOT NULL,\n"
	"  expires_at INTEGER NOT NULL,\n"
	"  used_at INTEGER);\n"
	/* sharing_links: one-time, expiring tokens giving access to an address */
	"CREATE TABLE sharing_links (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  token_hash BLOB NOT NULL UNIQUE,\n"
	"  address_id INTEGER NOT NULL REFERENCES addresses(id) ON DELETE CASCADE,\n"
	"  perms INTEGER NOT NULL DEFAULT 0,\n"
	"  created_by INTEGER REFERENCES accounts(id) ON DELETE SET NULL,\n"
	"  created_at INTEGER NOT NULL,\n"
	"  expires_at INTEGER NOT NULL,\n"
	"  used_at INTEGER,\n"
	"  used_by INTEGER REFERENCES accounts(id) ON DELETE SET NULL);\n"
	/* folders: per address, with the IMAP UIDVALIDITY/UIDNEXT/HIGHESTMODSEQ counters */
	"CREATE TABLE folders (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  address_id INTEGER NOT NULL REFERENCES addresses(id) ON DELETE CASCADE,\n"
	"  name TEXT NOT NULL,\n"
	"  special_use TEXT NOT NULL DEFAULT '' CHECK (special_use IN\n"
	"    ('', '\\Sent', '\\Drafts', '\\Trash', '\\Junk', '\\Archive', '\\All', '\\Flagged')),\n"
	"  uidvalidity INTEGER NOT NULL,\n"
	"  uidnext INTEGER NOT NULL DEFAULT 1,\n"
	"  highestmodseq INTEGER NOT NULL DEFAULT 1,\n"
	"  subscribed INTEGER NOT NULL DEFAULT 1 CHECK (subscribed IN (0, 1)),\n"
	"  UNIQUE (address_id, name));\n"
	/* segments: the append-only body files msg/<id>; sealed ones take no more bytes */
	"CREATE TABLE segments (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  sealed INTEGER NOT NULL DEFAULT 0 CHECK (sealed IN (0, 1)),\n"
	"  created_at INTEGER NOT NULL);\n"
	/* bodies: one stored message text, a byte range of a segment, reference counted */
	"CREATE TABLE bodies (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  segment INTEGER NOT NULL REFERENCES segments(id),\n"
	"  offset INTEGER NOT NULL,\n"
	"  length INTEGER NOT NULL,\n"
	"  refcount INTEGER NOT NULL CHECK (refcount >= 0));\n"
	"CREATE INDEX bodies_segment ON bodies(segment);\n"
	/* mail: a message in a folder (UID, flags bits, keywords, modseq) */
	"CREATE TABLE mail (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,\n"
	"  uid INTEGER NOT NULL,\n"
	"  body_id INTEGER NOT NULL REFERENCES bodies(id),\n"
	"  flags INTEGER NOT NULL DEFAULT 0,\n"
	"  keywords TEXT NOT NULL DEFAULT '',\n"
	"  internal_date INTEGER NOT NULL,\n"
	"  size INTEGER NOT NULL,\n"
	"  modseq INTEGER NOT NULL,\n"
	"  UNIQUE (folder_id, uid));\n"
	"CREATE INDEX mail_body ON mail(body_id);\n"
	/* expunged: removed UIDs and their modseq, for QRESYNC VANISHED */
	"CREATE TABLE expunged (\n"
	"  folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,\n"
	"  uid INTEGER NOT NULL,\n"
	"  modseq INTEGER NOT NULL,\n"
	"  PRIMARY KEY (folder_id, uid));\n"
	/* queue_messages: outbound messages waiting for delivery, with retry state */
	"CREATE TABLE queue_messages (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  body_id INTEGER NOT NULL REFERENCES bodies(id),\n"
	"  address_id INTEGER REFERENCES addresses(id) ON DELETE SET NULL,\n"
	"  envelope_from TEXT NOT NULL,\n"
	"  created_at INTEGER NOT NULL,\n"
	"  first_attempt INTEGER,\n"
	"  next_attempt INTEGER NOT NULL,\n"
	"  attempts INTEGER NOT NULL DEFAULT 0,\n"
	"  delay_notified INTEGER NOT NULL DEFAULT 0 CHECK (delay_notified IN (0, 1)),\n"
	"  held INTEGER NOT NULL DEFAULT 0 CHECK (held IN (0, 1)));\n"
	"CREATE INDEX queue_messages_next ON queue_messages(next_attempt);\n"
	/* queue_recipients: per-recipient status of a queued message (RFC 3461 DSN fields) */
	"CREATE TABLE queue_recipients (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  message_id INTEGER NOT NULL REFERENCES queue_messages(id) ON DELETE CASCADE,\n"
	"  address TEXT NOT NULL,\n"
	"  status TEXT NOT NULL DEFAULT 'pending'\n"
	"    CHECK (status IN ('pending', 'deferred', 'delivered', 'failed')),\n"
	"  last_reply TEXT,\n"
	"  dsn_notify INTEGER NOT NULL DEFAULT 0,\n"
	"  dsn_orcpt TEXT);\n"
	"CREATE INDEX queue_recipients_message ON queue_recipients(message_id);\n"
	/* send_log: one row per recipient sent, for the rolling 24 h limit */
	"CREATE TABLE send_log (\n"
	"  address_id INTEGER NOT NULL REFERENCES addresses(id) ON DELETE CASCADE,\n"
	"  sent_at INTEGER NOT NULL,\n"
	"  recipients INTEGER NOT NULL DEFAULT 1);\n"
	"CREATE INDEX send_log_address ON send_log(address_id, sent_at);\n"
	/* autoreply: RFC 3834 vacation settings of an address */
	"CREATE TABLE autoreply (\n"
	"  address_id INTEGER PRIMARY KEY REFERENCES addresses(id) ON DELETE CASCADE,\n"
	"  enabled INTEGER NOT NULL DEFAULT 0 CHECK (enabled IN (0, 1)),\n"
	"  subject TEXT NOT NULL DEFAULT '',\n"
	"  body TEXT NOT NULL DEFAULT '',\n"
	"  starts_at INTEGER,\n"
	"  ends_at INTEGER,\n"
	"  period_s INTEGER NOT NULL DEFAULT 604800);\n"
	/* autoreply_log: whom we answered and when (once per sender per period) */
	"CREATE TABLE autoreply_log (\n"
	"  address_id INTEGER NOT NULL REFERENCES addresses(id) ON DELETE CASCADE,\n"
	"  sender TEXT NOT NULL COLLATE NOCASE,\n"
	"  replied_at INTEGER NOT NULL,\n"
	"  PRIMARY KEY (address_id, sender));\n";

/*
 * 2 (issue 3, IMAP and POP3):
 * - bodies.fts_indexed: the body's text is in body_fts (indexing is lazy).
 * - body_meta: derived data cached per body (the parsed MIME structure).
 * - body_fts: the full-text index, rowid = bodies.id. A trigram tokenizer
 *   because IMAP SEARCH is substring matching (RFC 3501 6.4.4): any
 *   substring of 3 or more characters has its trigrams in the index. It
 *   keeps its own copy of the text: SQLite 3.40 cannot delete from a
 *   contentless table (contentless_delete came in 3.43), and the index of a
 *   deleted body must go with it. detail=none: a query is an AND of
 *   trigrams, a candidate set the caller checks, so positions are not worth
 *   their space.
 * - mail(folder_id, modseq): CONDSTORE CHANGEDSINCE; expunged likewise for
 *   QRESYNC VANISHED.
 * - uidvalidity_last: the last UIDVALIDITY handed out. Folders can now be
 *   deleted, and a name created again must get a value never used before.
 */
static const char migration_2[] =
	"ALTER TABLE bodies ADD COLUMN fts_indexed INTEGER NOT NULL DEFAULT 0 CHECK (fts_indexed IN (0, 1));\n"
	"CREATE TABLE body_meta (\n"
	"  body_id INTEGER PRIMARY KEY REFERENCES bodies(id) ON DELETE CASCADE,\n"
	"  meta BLOB NOT NULL);\n"
	"CREATE VIRTUAL TABLE body_fts USING fts5(text, tokenize = 'trigram', detail = 'none');\n"
	"CREATE TRIGGER bodies_fts_delete AFTER DELETE ON bodies WHEN old.fts_indexed = 1 BEGIN\n"
	"  DELETE FROM body_fts WHERE rowid = old.id;\n"
	"END;\n"
	"CREATE INDEX mail_folder_modseq ON mail(folder_id, modseq);\n"
	"CREATE INDEX expunged_folder_modseq ON expunged(folder_id, modseq);\n"
	"CREATE TABLE uidvalidity_last (value INTEGER NOT NULL);\n"
	"INSERT INTO uidvalidity_last SELECT coalesce(max(uidvalidity), 0) FROM folders;\n";

/*
 * 3 (issue 4, sending): what store_queue.h needs beyond the version-1 queue
 * tables.
 * - queue_messages.prefix: header lines sent before the stored body (the
 *   DKIM-Signature, computed after the body was spooled).
 * - queue_messages.envid, ret: RFC 3461 ENVID and RET, for the notices.
 *   The sender is the existing address_id (ON DELETE SET NULL: the entry
 *   outlives an address removed meanwhile); delay_notified and held exist.
 *   A queue entry holds one reference on its body (bodies.refcount), like a
 *   mail row, so the body outlives mailbox copies expunged before the send.
 * - queue_recipients.remote_mta, last_attempt: where and when the last try
 *   went, for `hermod queue show` and the notices. dsn_notify and dsn_orcpt
 *   are RFC 3461 NOTIFY and ORCPT; status 'deferred' is a pending recipient
 *   that has been tried.
 * - queue_messages(held, next_attempt): the scheduler's "what is due".
 * send_log and its (address_id, sent_at) index are version 1's.
 */
static const char migration_3[] =
	"ALTER TABLE queue_messages ADD COLUMN prefix TEXT NOT NULL DEFAULT '';\n"
	"ALTER TABLE queue_messages ADD COLUMN envid TEXT;\n"
	"ALTER TABLE queue_messages ADD COLUMN ret TEXT NOT NULL DEFAULT '' CHECK (ret IN ('', 'full', 'hdrs'));\n"
	"ALTER TABLE queue_recipients ADD COLUMN remote_mta TEXT NOT NULL DEFAULT '';\n"
	"ALTER TABLE queue_recipients ADD COLUMN last_attempt INTEGER NOT NULL DEFAULT 0;\n"
	"CREATE INDEX queue_messages_due ON queue_messages(held, next_attempt);\n";

/*
 * 4 (issue 3, search): bodies not yet in the full-text index, found without
 * a table scan by the writer's background indexer (store_fts_index_pending).
 */
static const char migration_4[] =
	"CREATE INDEX bodies_unindexed ON bodies(id) WHERE fts_indexed = 0;\n";

/*
 * 5 (issue 3, SELECT): a covering index for what an IMAP session keeps of
 * each message (store_mail_list_view), so opening a large folder reads one
 * index instead of every row.
 */
static const char migration_5[] =
	"CREATE INDEX mail_view ON mail(folder_id, uid, flags, modseq, keywords);\n";

/*
 * 6 (issue 5, the Manager): what the HTTP API and the service layer keep.
 * - access.perms gets one bit per right the seed names (store.h enum
 *   access_perm). Version 1's SETTINGS bit (4) becomes the seven settings
 *   rights it stood for; bit 4 is retired. SQLite cannot change a CHECK
 *   constraint in place, so the table is rebuilt (nothing references it).
 * - accounts.email: where invitations for an existing member are sent.
 * - web_sessions: a browser login (HttpOnly cookie) with its CSRF token;
 *   api_tokens: scoped, revocable tokens for scripts. Only SHA-256 hashes
 *   of the secrets are stored, so a copy of the database opens nothing.
 * - invitations.account_id (an existing member; NULL for an external
 *   person), .role, .revoked_at; sharing_links.revoked_at.
 * - alias_targets: an external target receives mail only once it followed
 *   the link sent to it (token_hash; confirmed exists since version 1).
 * - history: the per-address action history (logins, sends, deletions,
 *   settings changes), newest first by (address_id, at).
 * - app_passwords: device passwords of an address, each revocable alone.
 * - domain_checks: the last result of checking each DNS record of a domain.
 * - secrets: installation-wide keys generated on first use (SRS).
 */
static const char migration_6[] =
	"CREATE TABLE access_v6 (\n"
	"  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,\n"
	"  address_id INTEGER NOT NULL REFERENCES addresses(id) ON DELETE CASCADE,\n"
	"  perms INTEGER NOT NULL CHECK (perms BETWEEN 0 AND 16383 AND (perms & 4) = 0),\n"
	"  PRIMARY KEY (account_id, address_id));\n"
	"INSERT INTO access_v6 (account_id, address_id, perms)\n"
	"  SELECT account_id, address_id,\n"
	"         (perms & ~4) | CASE WHEN perms & 4 THEN 4064 ELSE 0 END FROM access;\n"
	"DROP TABLE access;\n"
	"ALTER TABLE access_v6 RENAME TO access;\n"
	"CREATE INDEX access_address ON access(address_id);\n"
	"CREATE INDEX access_account ON access(account_id);\n"
	"CREATE INDEX memberships_account ON memberships(account_id);\n"
	"ALTER TABLE accounts ADD COLUMN email TEXT NOT NULL DEFAULT '';\n"
	"CREATE TABLE web_sessions (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  token_hash BLOB NOT NULL UNIQUE,\n"
	"  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,\n"
	"  csrf_token TEXT NOT NULL,\n"
	"  created_at INTEGER NOT NULL,\n"
	"  expires_at INTEGER NOT NULL,\n"
	"  last_seen INTEGER NOT NULL,\n"
	"  ip TEXT NOT NULL DEFAULT '');\n"
	"CREATE INDEX web_sessions_account ON web_sessions(account_id);\n"
	"CREATE TABLE api_tokens (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  token_hash BLOB NOT NULL UNIQUE,\n"
	"  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,\n"
	"  name TEXT NOT NULL,\n"
	"  scope TEXT NOT NULL DEFAULT 'write' CHECK (scope IN ('read', 'write')),\n"
	"  created_at INTEGER NOT NULL,\n"
	"  expires_at INTEGER,\n"
	"  last_used_at INTEGER,\n"
	"  revoked_at INTEGER);\n"
	"CREATE INDEX api_tokens_account ON api_tokens(account_id);\n"
	"ALTER TABLE invitations ADD COLUMN account_id INTEGER REFERENCES accounts(id) ON DELETE CASCADE;\n"
	"ALTER TABLE invitations ADD COLUMN role TEXT NOT NULL DEFAULT 'member'\n"
	"  CHECK (role IN ('owner', 'admin', 'member'));\n"
	"ALTER TABLE invitations ADD COLUMN revoked_at INTEGER;\n"
	"ALTER TABLE sharing_links ADD COLUMN revoked_at INTEGER;\n"
	"ALTER TABLE alias_targets ADD COLUMN token_hash BLOB;\n"
	"ALTER TABLE alias_targets ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0;\n"
	"CREATE TABLE history (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  address_id INTEGER NOT NULL REFERENCES addresses(id) ON DELETE CASCADE,\n"
	"  at INTEGER NOT NULL,\n"
	"  actor TEXT NOT NULL,\n"
	"  action TEXT NOT NULL,\n"
	"  detail TEXT NOT NULL DEFAULT '',\n"
	"  ip TEXT NOT NULL DEFAULT '');\n"
	"CREATE INDEX history_address ON history(address_id, at);\n"
	"CREATE TABLE app_passwords (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  address_id INTEGER NOT NULL REFERENCES addresses(id) ON DELETE CASCADE,\n"
	"  name TEXT NOT NULL,\n"
	"  password_hash TEXT NOT NULL,\n"
	"  created_at INTEGER NOT NULL,\n"
	"  last_used_at INTEGER,\n"
	"  UNIQUE (address_id, name));\n"
	"CREATE TABLE domain_checks (\n"
	"  domain_id INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,\n"
	"  record TEXT NOT NULL CHECK (record IN ('mx', 'spf', 'dkim', 'dmarc')),\n"
	"  status TEXT NOT NULL CHECK (status IN ('present', 'missing', 'wrong', 'error')),\n"
	"  found TEXT NOT NULL DEFAULT '',\n"
	"  expected TEXT NOT NULL DEFAULT '',\n"
	"  checked_at INTEGER NOT NULL,\n"
	"  PRIMARY KEY (domain_id, record));\n"
	"CREATE TABLE secrets (\n"
	"  name TEXT PRIMARY KEY,\n"
	"  value BLOB NOT NULL);\n";

/*
 * Migration 7: invitations.login, the login an external person's new
 * account must take when the inviter chose it (the invited email, or the
 * address itself); NULL leaves the choice to the invited person.
 */
static const char migration_7[] = "ALTER TABLE invitations ADD COLUMN login TEXT;\n";

/*
 * Migration 8: an index on folders.uidvalidity. store_next_uidvalidity takes
 * max(uidvalidity) for every folder it creates; without the index that is a
 * scan of every folder, so creating N addresses (6 folders each) cost O(N^2):
 * an import of 10,000 addresses took ~54 s, nearly all of it in that scan.
 */
static const char migration_8[] = "CREATE INDEX folders_uidvalidity ON folders(uidvalidity);\n";

/*
 * Migration 9: folders.recent_uid, the first UID no session has taken as
 * \Recent yet (RFC 3501 2.3.2; Dovecot's "first recent UID"): the next
 * read-write SELECT takes the messages at or above it. Folders that exist
 * now start with none recent; new folders start at 1.
 */
static const char migration_9[] = "ALTER TABLE folders ADD COLUMN recent_uid INTEGER NOT NULL DEFAULT 1;\n"
				  "UPDATE folders SET recent_uid = uidnext;\n";

/*
 * Migration 10: segments.retired_at, set (to the time of the latest move)
 * when compaction has moved bodies out of a segment. A retired segment is
 * never removed by the expunge path, even once empty: compaction unlinks
 * its file grace seconds after retired_at, because a reader may have looked
 * up a body's old location just before it moved (store_compact.c).
 */
static const char migration_10[] = "ALTER TABLE segments ADD COLUMN retired_at INTEGER;\n";

static const char *const migrations[] = {
	migration_1,
	migration_2,
	migration_3,
	migration_4,
	migration_5,
	migration_6,
	migration_7,
	migration_8,
	migration_9,
	migration_10,
};
#define MIGRATION_COUNT ((int)(sizeof(migrations) / sizeof(migrations[0])))

int store_schema_latest(void)
{
	return MIGRATION_COUNT;
}

int store_errf(struct store *s, const char **errstr_r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->err, sizeof(s->err), fmt, ap);
	va_end(ap);
	if (errstr_r != NULL)
		*errstr_r = s->err;
	return -1;
}

int store_dberr(struct store *s, const char **errstr_r, const char *what)
{
	return store_errf(s, errstr_r, "%s: %s", what, sqlite3_errmsg(s->db));
}

sqlite3_stmt *store_stmt(struct store *s, const char *sql, const char **errstr_r)
{
	struct store_stmt_slot *free_slot = NULL;
	sqlite3_stmt *stmt;

	for (size_t i = 0; i < STORE_STMT_CACHE; i++) {
		if (s->stmts[i].sql == sql) {
			sqlite3_reset(s->stmts[i].stmt);
			sqlite3_clear_bindings(s->stmts[i].stmt);
			return s->stmts[i].stmt;
		}
		if (s->stmts[i].sql == NULL && free_slot == NULL)
			free_slot = &s->stmts[i];
	}
	/* A full cache is a bug: STORE_STMT_CACHE counts the statements we have. */
	ASSERT(free_slot != NULL);
	if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL) != SQLITE_OK) {
		store_dberr(s, errstr_r, "the database refused a query");
		return NULL;
	}
	free_slot->sql = sql;
	free_slot->stmt = stmt;
	return stmt;
}

void store_col_copy(sqlite3_stmt *st, int col, char *dst, size_t size)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	snprintf(dst, size, "%s", t != NULL ? (const char *)t : "");
}

/* Steps a statement that returns no row, then resets it. */
int store_step_done(struct store *s, sqlite3_stmt *st, const char **errstr_r)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return store_dberr(s, errstr_r, "database error");
	return 0;
}

/* Steps a statement returning one integer: 1 found, 0 not, -1 error. */
int store_step_id(struct store *s, sqlite3_stmt *st, int64_t *id_r, const char **errstr_r)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW && id_r != NULL)
		*id_r = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return store_dberr(s, errstr_r, "database error");
}

int store_exec(struct store *s, const char *sql, const char **errstr_r)
{
	if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return store_dberr(s, errstr_r, "database error");
	return 0;
}

int store_begin(struct store *s, const char **errstr_r)
{
	/*
	 * Nested: a savepoint, so that a service-layer operation can make
	 * several store calls (each with its own begin/commit) one transaction.
	 * Work that must wait for durability (unlinking segment files) must not
	 * run nested: its "commit" is only the savepoint's release.
	 */
	if (s->txn_depth > 0) {
		if (store_exec(s, "SAVEPOINT nested", errstr_r) < 0)
			return -1;
		s->txn_depth++;
		return 0;
	}
	/* IMMEDIATE: take the write lock now (waiting busy_timeout) rather than
	 * fail with SQLITE_BUSY when a read transaction later tries to upgrade. */
	if (store_exec(s, "BEGIN IMMEDIATE", errstr_r) < 0)
		return -1;
	s->txn_depth = 1;
	return 0;
}

int store_commit(struct store *s, const char **errstr_r)
{
	if (s->txn_depth > 1) {
		if (store_exec(s, "RELEASE nested", errstr_r) < 0) {
			store_rollback(s);
			return -1;
		}
		s->txn_depth--;
		return 0;
	}
	if (store_exec(s, "COMMIT", errstr_r) < 0) {
		store_rollback(s);
		return -1;
	}
	s->txn_depth = 0;
	return 0;
}

void store_rollback(struct store *s)
{
	if (s->txn_depth > 1) {
		sqlite3_exec(s->db, "ROLLBACK TO nested; RELEASE nested", NULL, NULL, NULL);
		s->txn_depth--;
		return;
	}
	s->txn_depth = 0;
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

static int schema_read_version(struct store *s, int *version_r, const char **errstr_r)
{
	sqlite3_stmt *st;
	int rc;

	if (store_exec(s, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)", errstr_r) < 0)
		return -1;
	if (sqlite3_prepare_v2(s->db, "SELECT max(version) FROM schema_version", -1, &st, NULL) != SQLITE_OK)
		return store_dberr(s, errstr_r, "cannot read the schema version");
	rc = sqlite3_step(st);
	*version_r = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return store_dberr(s, errstr_r, "cannot read the schema version");
	return 0;
}

/* Brings the schema to version target (MIGRATION_COUNT but in tests). */
static int schema_migrate_to(struct store *s, int target, const char **errstr_r)
{
	int version;
	char bump[96];

	if (store_begin(s, errstr_r) < 0)
		return -1;
	if (schema_read_version(s, &version, errstr_r) < 0)
		goto fail;
	if (version > MIGRATION_COUNT) {
		store_errf(s, errstr_r, "the database has schema version %d, newer than this hermod (%d)",
			   version, MIGRATION_COUNT);
		goto fail;
	}
	for (int v = version + 1; v <= target; v++) {
		snprintf(bump, sizeof(bump), "DELETE FROM schema_version; INSERT INTO schema_version VALUES (%d)", v);
		if (store_exec(s, migrations[v - 1], errstr_r) < 0 || store_exec(s, bump, errstr_r) < 0)
			goto fail;
	}
	return store_commit(s, errstr_r);
fail:
	store_rollback(s);
	return -1;
}

int store_schema_migrate(struct store *s, const char **errstr_r)
{
	return schema_migrate_to(s, MIGRATION_COUNT, errstr_r);
}

int store_schema_version(struct store *s)
{
	int version;

	if (schema_read_version(s, &version, NULL) < 0)
		return -1;
	return version;
}

static int mkdir_if_missing(struct store *s, const char *path, const char **errstr_r)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return store_errf(s, errstr_r, "cannot create directory %s: %s", path, strerror(errno));
	return 0;
}

static int store_open_db(struct store *s, const char **errstr_r)
{
	char *path = xasprintf("%s/hermod.db", s->data_dir);
	int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
				 NULL);

	if (rc != SQLITE_OK) {
		store_errf(s, errstr_r, "cannot open the database %s: %s", path,
			   s->db != NULL ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		free(path);
		return -1;
	}
	free(path);
	sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);
	/* WAL: readers (CLI, reader threads) never block the writer.
	 * synchronous=FULL: a COMMIT has fsync'd the WAL when it returns, which is
	 * what lets us acknowledge a delivery after it. */
	return store_exec(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON", errstr_r);
}

static int store_open_to(const char *data_dir, int version, struct store **store_r, const char **errstr_r)
{
	static _Thread_local char open_err[512];
	struct store *s = xcalloc(1, sizeof(*s));
	const char *err;

	s->seg_fd = -1;
	s->rd_fd = -1;
	s->seg_max = store_segment_max_bytes();
	s->data_dir = xstrdup(data_dir);
	s->msg_dir = xasprintf("%s/msg", data_dir);
	s->tmp_dir = xasprintf("%s/tmp", data_dir);
	if (mkdir_if_missing(s, s->data_dir, &err) < 0 || mkdir_if_missing(s, s->msg_dir, &err) < 0 ||
	    mkdir_if_missing(s, s->tmp_dir, &err) < 0 || store_open_db(s, &err) < 0 ||
	    schema_migrate_to(s, version, &err) < 0) {
		/* s is going away: copy the message somewhere that outlives it */
		snprintf(open_err, sizeof(open_err), "%s", err);
		*errstr_r = open_err;
		store_close(s);
		return -1;
	}
	*store_r = s;
	return 0;
}

int store_open(const char *data_dir, struct store **store_r, const char **errstr_r)
{
	return store_open_to(data_dir, MIGRATION_COUNT, store_r, errstr_r);
}

int store_open_at_version(const char *data_dir, int version, struct store **store_r, const char **errstr_r)
{
	ASSERT(version >= 1 && version <= MIGRATION_COUNT);
	return store_open_to(data_dir, version, store_r, errstr_r);
}

void store_close(struct store *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < STORE_STMT_CACHE; i++)
		sqlite3_finalize(s->stmts[i].stmt);
	if (s->db != NULL)
		sqlite3_close(s->db);
	if (s->seg_fd >= 0)
		close(s->seg_fd);
	if (s->rd_fd >= 0)
		close(s->rd_fd);
	free(s->changed);
	free(s->data_dir);
	free(s->msg_dir);
	free(s->tmp_dir);
	free(s);
}
