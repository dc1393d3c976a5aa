/*
 * queue_sched: the queue's decisions as pure functions of the configuration,
 * an entry's times and its recipients: when to try next, when a message has
 * expired, when a delay notice is owed, which notices NOTIFY allows, how
 * recipients share connections, and which SMTP extensions a message needs.
 */
#include "queue/queue_private.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

int64_t queue_next_attempt(const struct config *cfg, int64_t created_at, unsigned attempts, bool delay_notified,
			   int64_t now)
{
	const struct retry_schedule *rs = &cfg->queue_retry;
	unsigned i = attempts == 0 ? 0 : attempts - 1;
	int64_t next, end = created_at + (int64_t)cfg->queue_max_lifetime_s;

	if (i >= rs->count)
		i = rs->count - 1;
	next = now + (int64_t)rs->delay_s[i];
	/* be awake when the delay notice is owed, not at the next backoff step */
	if (!delay_notified && cfg->queue_delay_warning_s > 0) {
		int64_t warn = created_at + (int64_t)cfg->queue_delay_warning_s;
		if (warn > now && warn < next)
			next = warn;
	}
	/* the last attempt happens when the lifetime ends: then it expires */
	if (next > end)
		next = end > now ? end : now;
	return next;
}

bool queue_expired(const struct config *cfg, int64_t created_at, int64_t now)
{
	return now - created_at >= (int64_t)cfg->queue_max_lifetime_s;
}

bool queue_delay_due(const struct config *cfg, int64_t created_at, bool delay_notified, size_t still_pending,
		     int64_t now)
{
	if (delay_notified || still_pending == 0 || cfg->queue_delay_warning_s == 0 ||
	    cfg->queue_delay_warning_s >= cfg->queue_max_lifetime_s)
		return false;
	return now - created_at >= (int64_t)cfg->queue_delay_warning_s;
}

bool queue_notify_wants(unsigned notify, enum dsn_action action)
{
	if (notify & STORE_NOTIFY_NEVER)
		return false;
	switch (action) {
	case DSN_ACTION_FAILED:
		return notify == 0 || (notify & STORE_NOTIFY_FAILURE);
	case DSN_ACTION_DELAYED:
		return notify == 0 || (notify & STORE_NOTIFY_DELAY);
	case DSN_ACTION_DELIVERED:
		return (notify & STORE_NOTIFY_SUCCESS) != 0;
	}
	return false;
}

const char *queue_domain_of(const char *address)
{
	const char *at = strrchr(address, '@');

	return at != NULL ? at + 1 : "";
}

size_t queue_group_by_domain(const char *const *addrs, size_t n, size_t *group_r)
{
	size_t groups = 0;

	for (size_t i = 0; i < n; i++) {
		const char *d = queue_domain_of(addrs[i]);
		size_t j;
		for (j = 0; j < i && d[0] != '\0'; j++) {
			if (strcasecmp(queue_domain_of(addrs[j]), d) == 0)
				break;
		}
		group_r[i] = j < i && d[0] != '\0' ? group_r[j] : groups++;
	}
	return groups;
}

static bool has_non_ascii(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s >= 0x80)
			return true;
	}
	return false;
}

/* The length of a valid UTF-8 multi-byte sequence at p (0 if not one). */
static size_t utf8_seq(const unsigned char *p, size_t left)
{
	size_t n = p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 && p[0] <= 0xdf ? 2 : 0;

	if (n == 0 || n > left)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	}
	return n;
}

/* Does the header block (up to the first empty line) hold UTF-8 text? */
static bool header_has_utf8(const char *msg, size_t len)
{
	const unsigned char *p = (const unsigned char *)msg;

	for (size_t i = 0; i < len; i++) {
		if (p[i] == '\n' && (i + 1 == len || p[i + 1] == '\n' ||
				     (p[i + 1] == '\r' && i + 2 < len && p[i + 2] == '\n')))
			return false; /* end of the header */
		if (p[i] >= 0x80 && utf8_seq(p + i, len - i) > 0)
			return true;
	}
	return false;
}

unsigned queue_message_flags(const char *from, const char *const *rcpts, size_t nrcpts, const char *msg,
			     size_t len)
{
	unsigned flags = 0;
	bool utf8 = has_non_ascii(from);

	for (size_t i = 0; i < nrcpts && !utf8; i++)
		utf8 = has_non_ascii(rcpts[i]);
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)msg[i] >= 0x80) {
			flags |= SMTP_CLIENT_8BIT;
			break;
		}
	}
	/* a legacy 8-bit header (Latin-1) is not UTF-8: 8BITMIME, not SMTPUTF8 */
	if (utf8 || ((flags & SMTP_CLIENT_8BIT) && header_has_utf8(msg, len)))
		flags |= SMTP_CLIENT_SMTPUTF8;
	return flags;
}

void queue_format_reply(const struct smtp_client_reply *r, char *out, size_t size)
{
	snprintf(out, size, "%03u%s%s %s", r->code, r->enhanced[0] != '\0' ? " " : "", r->enhanced,
		 r->text != NULL ? r->text : "");
}

void queue_reply_status(const struct smtp_client_reply *r, char *out, size_t size)
{
	unsigned cls = r->code / 100;

	if (r->enhanced[0] != '\0' && (unsigned)(r->enhanced[0] - '0') == cls)
		snprintf(out, size, "%s", r->enhanced);
	else
		snprintf(out, size, "%u.0.0", cls >= 2 && cls <= 5 ? cls : 4);
}
