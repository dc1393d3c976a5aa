/*
 * imap_parser: IMAP command text to an argument tree (RFC 3501 9, RFC 9051
 * 9), and the values inside arguments: sequence sets, dates, modified UTF-7.
 *
 * Every allocation of one command lives in its arena, freed at once by
 * imap_command_free. Recursion is bounded by IMAP_LIST_DEPTH_MAX and the
 * total argument count by IMAP_ARGS_MAX, so hostile nesting cannot exhaust
 * the stack or memory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imap/imap_parser.h"
#include "lib/xalloc.h"

/* ---- arena ------------------------------------------------------------------- */

struct arena_block {
	struct arena_block *next;
	size_t used, size;
	_Alignas(16) char data[];
};

#define ARENA_BLOCK_MIN 4096

static void *arena_alloc(struct arena_block **arena, size_t n)
{
	struct arena_block *b = *arena;

	n = (n + 15) & ~(size_t)15;
	if (b == NULL || b->size - b->used < n) {
		size_t size = n > ARENA_BLOCK_MIN ? n : ARENA_BLOCK_MIN;
		b = xmalloc(sizeof(*b) + size);
		b->size = size;
		b->used = 0;
		b->next = *arena;
		*arena = b;
	}
	void *p = b->data + b->used;
	b->used += n;
	return p;
}

static void arena_free(struct arena_block *b)
{
	while (b != NULL) {
		struct arena_block *next = b->next;
		free(b);
		b = next;
	}
}

/* ---- the command ------------------------------------------------------------------ */

struct parser {
	const char *p, *end;
	struct arena_block *arena;
	size_t total_args;
	const char *err;
};

static bool is_atom_char(unsigned char c)
{
	/* RFC 3501 ATOM-CHAR, widened to the list-wildcards, "\" (flags) and "]" (resp-specials). */
	return c > 0x20 && c < 0x7f && c != '(' && c != ')' && c != '"' && c != '{';
}

static char *arena_strndup(struct parser *ps, const char *s, size_t n)
{
	char *d = arena_alloc(&ps->arena, n + 1);
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

static int fail(struct parser *ps, const char *err)
{
	if (ps->err == NULL)
		ps->err = err;
	return -1;
}

static int parse_quoted(struct parser *ps, struct imap_arg *a)
{
	const char *p = ps->p + 1;
	char *out = arena_alloc(&ps->arena, (size_t)(ps->end - p) + 1);
	size_t n = 0;

	for (; p < ps->end && *p != '"'; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '\r' || c == '\n' || c == '\0')
			return fail(ps, "CR, LF or NUL in a quoted string");
		if (c == '\\') {
			if (p + 1 >= ps->end)
				break;
			p++;
			if (*p != '\\' && *p != '"')
				return fail(ps, "only \\\\ and \\\" may be escaped in a quoted string");
		}
		out[n++] = *p;
	}
	if (p >= ps->end)
		return fail(ps, "unterminated quoted string");
	out[n] = '\0';
	a->type = IMAP_ARG_STRING;
	a->str = out;
	a->len = n;
	ps->p = p + 1;
	return 0;
}

static int parse_literal(struct parser *ps, struct imap_arg *a)
{
	const char *p = ps->p;
	uint64_t n = 0;
	size_t digits = 0;

	if (*p == '~') {
		a->literal8 = true;
		p++;
		if (p >= ps->end || *p != '{')
			return fail(ps, "~ not followed by a literal");
	}
	for (p++; p < ps->end && *p >= '0' && *p <= '9'; p++, digits++) {
		if (n > (UINT64_MAX - 9) / 10)
			return fail(ps, "literal size too large");
		n = n * 10 + (uint64_t)(*p - '0');
	}
	if (digits == 0)
		return fail(ps, "invalid literal announcement");
	if (p < ps->end && *p == '+')
		p++;
	if (ps->end - p < 3 || p[0] != '}' || p[1] != '\r' || p[2] != '\n')
		return fail(ps, "invalid literal announcement");
	p += 3;
	if ((uint64_t)(ps->end - p) < n)
		return fail(ps, "literal shorter than announced");
	if (!a->literal8 && memchr(p, '\0', (size_t)n) != NULL)
		return fail(ps, "NUL in a literal (only literal8 ~{n} may carry NUL)");
	a->type = IMAP_ARG_STRING;
	a->literal = true;
	a->str = arena_strndup(ps, p, (size_t)n);
	a->len = (size_t)n;
	ps->p = p + n;
	return 0;
}

static int parse_spool(struct parser *ps, struct imap_arg *a)
{
	const char *p = ps->p + 1;
	size_t idx = 0;

	for (; p < ps->end && *p >= '0' && *p <= '9' && idx < 1000000; p++)
		idx = idx * 10 + (size_t)(*p - '0');
	if (p >= ps->end || *p != IMAP_SPOOL_MARKER || p == ps->p + 1)
		return fail(ps, "NUL in a command");
	a->type = IMAP_ARG_SPOOL;
	a->str = "";
	a->len = idx;
	ps->p = p + 1;
	return 0;
}

static int parse_atom(struct parser *ps, struct imap_arg *a)
{
	const char *start = ps->p, *p = ps->p;

	while (p < ps->end && is_atom_char((unsigned char)*p)) {
		if (*p++ != '[')
			continue;
		/* A section: up to the matching "]", spaces, parentheses and quotes included. */
		unsigned depth = 1;
		for (; p < ps->end && depth > 0; p++) {
			if (*p == '\r' || *p == '\n' || *p == '\0')
				return fail(ps, "CR, LF or NUL in an atom");
			if (*p == '[')
				depth++;
			else if (*p == ']')
				depth--;
		}
		if (depth > 0)
			return fail(ps, "missing ] in an atom");
	}
	if (p == start)
		return fail(ps, "unexpected character");
	if (p < ps->end && *p != ' ' && *p != ')')
		return fail(ps, "unexpected character after an atom");
	a->str = arena_strndup(ps, start, (size_t)(p - start));
	a->len = (size_t)(p - start);
	a->type = (a->len == 3 && strncasecmp(start, "NIL", 3) == 0) ? IMAP_ARG_NIL : IMAP_ARG_ATOM;
	ps->p = p;
	return 0;
}

static int parse_list(struct parser *ps, unsigned depth, char close, struct imap_arg **args_r,
		      size_t *count_r);

static int parse_arg(struct parser *ps, unsigned depth, struct imap_arg *a)
{
	memset(a, 0, sizeof(*a));
	if (++ps->total_args > IMAP_ARGS_MAX)
		return fail(ps, "too many arguments (the limit is 4096)");
	switch (*ps->p) {
	case '(':
		if (depth >= IMAP_LIST_DEPTH_MAX)
			return fail(ps, "list nesting deeper than 32");
		ps->p++;
		a->type = IMAP_ARG_LIST;
		if (parse_list(ps, depth + 1, ')', &a->list, &a->count) < 0)
			return -1;
		ps->p++; /* the ")" */
		return 0;
	case '"':
		return parse_quoted(ps, a);
	case '{':
		return parse_literal(ps, a);
	case '~':
		if (ps->p + 1 < ps->end && ps->p[1] == '{')
			return parse_literal(ps, a);
		return parse_atom(ps, a);
	case IMAP_SPOOL_MARKER:
		return parse_spool(ps, a);
	default:
		return parse_atom(ps, a);
	}
}

/*
 * Arguments separated by single spaces up to `close` (")" for a list, NUL
 * for the end of the command, where trailing spaces are tolerated).
 */
static int parse_list(struct parser *ps, unsigned depth, char close, struct imap_arg **args_r,
		      size_t *count_r)
{
	struct imap_arg *tmp = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	for (;;) {
		if (close == ')' && ps->p < ps->end && *ps->p == ')')
			break;
		if (ps->p >= ps->end) {
			if (close == ')')
				rc = fail(ps, "missing )");
			break;
		}
		if (n > 0 || close == '\0') {
			if (*ps->p != ' ') {
				rc = fail(ps, *ps->p == ')' ? "unexpected )" : "missing space between arguments");
				break;
			}
			ps->p++;
			if (close == '\0') {
				while (ps->p < ps->end && *ps->p == ' ')
					ps->p++;
				if (ps->p >= ps->end)
					break;
			}
		}
		if (close == ')' && ps->p < ps->end && *ps->p == ')' && n > 0) {
			rc = fail(ps, "space before )");
			break;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			tmp = xrealloc(tmp, cap * sizeof(*tmp));
		}
		if (ps->p >= ps->end || parse_arg(ps, depth, &tmp[n]) < 0) {
			rc = fail(ps, "missing argument");
			break;
		}
		n++;
	}
	if (rc == 0) {
		*args_r = n ? arena_alloc(&ps->arena, n * sizeof(*tmp)) : NULL;
		if (n)
			memcpy(*args_r, tmp, n * sizeof(*tmp));
		*count_r = n;
	}
	free(tmp);
	return rc;
}

/* tag = 1*<any ASTRING-CHAR except "+"> */
static int parse_tag(struct parser *ps, struct imap_command *cmd)
{
	const char *start = ps->p;

	while (ps->p < ps->end && is_atom_char((unsigned char)*ps->p) && *ps->p != '+' && *ps->p != '*' &&
	       *ps->p != '%')
		ps->p++;
	size_t n = (size_t)(ps->p - start);
	if (n == 0)
		return fail(ps, "missing tag");
	if (n > IMAP_TAG_MAX)
		return fail(ps, "tag longer than 64 characters");
	memcpy(cmd->tag, start, n);
	cmd->tag[n] = '\0';
	if (ps->p >= ps->end || *ps->p != ' ') {
		cmd->tag[0] = '\0';
		return fail(ps, ps->p >= ps->end ? "missing command" : "invalid character in the tag");
	}
	ps->p++;
	return 0;
}

static int parse_name(struct parser *ps, char *out, size_t size)
{
	size_t n = 0;

	while (ps->p < ps->end && ((*ps->p >= 'A' && *ps->p <= 'Z') || (*ps->p >= 'a' && *ps->p <= 'z') ||
				   (*ps->p >= '0' && *ps->p <= '9') || *ps->p == '-' || *ps->p == '_')) {
		if (n + 1 >= size)
			return fail(ps, "unknown command");
		out[n++] = (char)(*ps->p >= 'a' && *ps->p <= 'z' ? *ps->p - 32 : *ps->p);
		ps->p++;
	}
	out[n] = '\0';
	if (n == 0 || (ps->p < ps->end && *ps->p != ' '))
		return fail(ps, "missing or invalid command name");
	return 0;
}

int imap_parse_command(const char *text, size_t len, struct imap_command *cmd_r, const char **err_r)
{
	struct parser ps = { .p = text, .end = text + len };
	char second[20];

	memset(cmd_r, 0, sizeof(*cmd_r));
	if (parse_tag(&ps, cmd_r) < 0 || parse_name(&ps, cmd_r->name, sizeof(cmd_r->name)) < 0)
		goto failed;
	if (strcmp(cmd_r->name, "UID") == 0) {
		if (ps.p >= ps.end) {
			fail(&ps, "UID needs a command");
			goto failed;
		}
		ps.p++;
		if (parse_name(&ps, second, sizeof(second)) < 0)
			goto failed;
		snprintf(cmd_r->name, sizeof(cmd_r->name), "UID %s", second);
		cmd_r->uid = true;
	}
	if (parse_list(&ps, 0, '\0', &cmd_r->args, &cmd_r->arg_count) < 0)
		goto failed;
	cmd_r->arena = ps.arena;
	return 0;
failed:
	arena_free(ps.arena);
	cmd_r->args = NULL;
	cmd_r->arg_count = 0;
	*err_r = ps.err;
	return -1;
}

void imap_command_free(struct imap_command *cmd)
{
	arena_free(cmd->arena);
	cmd->arena = NULL;
	cmd->args = NULL;
	cmd->arg_count = 0;
}

int imap_line_literal(struct slice line, uint64_t *size_r, bool *nonsync_r, bool *binary_r)
{
	const char *p = line.p, *end = line.p + line.len;
	uint64_t n = 0;

	if (line.len < 3 || end[-1] != '}')
		return 0;
	const char *open = end - 2;
	while (open > p && *open != '{' && (size_t)(end - open) < 64)
		open--;
	if (*open != '{')
		return 0;
	const char *q = open + 1, *close = end - 1;
	bool nonsync = close > q && close[-1] == '+';
	if (nonsync)
		close--;
	if (q == close)
		return -1;
	for (; q < close; q++) {
		if (*q < '0' || *q > '9')
			return open > p && open[-1] != ' ' && open[-1] != '(' && open[-1] != '~' ? 0 : -1;
		if (n > (UINT64_MAX - 9) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*q - '0');
	}
	*size_r = n;
	*nonsync_r = nonsync;
	*binary_r = open > p && open[-1] == '~';
	return 1;
}

/* ---- sequence sets ------------------------------------------------------------------ */

static int parse_seq_number(const char **pp, const char *end, uint32_t *n_r)
{
	const char *p = *pp;
	uint64_t n = 0;

	if (p < end && *p == '*') {
		*n_r = IMAP_SEQ_STAR;
		*pp = p + 1;
		return 0;
	}
	if (p >= end || *p < '1' || *p > '9')
		return -1;
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		n = n * 10 + (uint64_t)(*p - '0');
		if (n >= UINT32_MAX) /* nz-number is at most 4294967295; UINT32_MAX stands for "*" */
			return -1;
	}
	*n_r = (uint32_t)n;
	*pp = p;
	return 0;
}

int imap_parse_seqset(const char *s, size_t len, struct imap_seqset *set_r, const char **err_r)
{
	const char *p = s, *end = s + len;
	size_t cap = 0;

	memset(set_r, 0, sizeof(*set_r));
	if (len == 1 && *s == '$') {
		set_r->saved = true;
		return 0;
	}
	for (;;) {
		struct imap_seq_range r;
		if (parse_seq_number(&p, end, &r.lo) < 0)
			goto bad;
		r.hi = r.lo;
		if (p < end && *p == ':') {
			p++;
			if (parse_seq_number(&p, end, &r.hi) < 0)
				goto bad;
			if (r.lo > r.hi) {
				uint32_t t = r.lo;
				r.lo = r.hi;
				r.hi = t;
			}
		}
		if (set_r->count == cap) {
			cap = cap ? cap * 2 : 4;
			set_r->ranges = xrealloc(set_r->ranges, cap * sizeof(*set_r->ranges));
		}
		set_r->ranges[set_r->count++] = r;
		if (p == end)
			return 0;
		if (*p++ != ',')
			goto bad;
	}
bad:
	imap_seqset_free(set_r);
	*err_r = "invalid sequence set";
	return -1;
}

void imap_seqset_free(struct imap_seqset *set)
{
	free(set->ranges);
	set->ranges = NULL;
	set->count = 0;
}

bool imap_seqset_contains(const struct imap_seqset *set, uint32_t n, uint32_t star)
{
	for (size_t i = 0; i < set->count; i++) {
		uint32_t lo = set->ranges[i].lo == IMAP_SEQ_STAR ? star : set->ranges[i].lo;
		uint32_t hi = set->ranges[i].hi == IMAP_SEQ_STAR ? star : set->ranges[i].hi;
		if (lo > hi) { /* "5:*" with * = 3 means 3:5 (RFC 3501 9, seq-range) */
			uint32_t t = lo;
			lo = hi;
			hi = t;
		}
		if (n >= lo && n <= hi)
			return true;
	}
	return false;
}

/* ---- dates ------------------------------------------------------------------------ */

static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
				    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static bool leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* "d-Mon-yyyy" or "dd-Mon-yyyy" (day_fixed: " d" allowed too). Returns chars used or -1. */
static int parse_day_month_year(const char *s, bool day_fixed, int64_t *days_r)
{
	static const unsigned mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int i = 0, day = 0, m, y = 0;

	if (day_fixed && s[0] == ' ')
		i = 1;
	if (s[i] < '0' || s[i] > '9')
		return -1;
	day = s[i++] - '0';
	if (s[i] >= '0' && s[i] <= '9')
		day = day * 10 + (s[i++] - '0');
	if (s[i++] != '-')
		return -1;
	for (m = 0; m < 12; m++)
		if (strncasecmp(s + i, months[m], 3) == 0)
			break;
	if (m == 12)
		return -1;
	i += 3;
	if (s[i++] != '-')
		return -1;
	for (int k = 0; k < 4; k++, i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		y = y * 10 + (s[i] - '0');
	}
	if (day < 1 || (unsigned)day > mdays[m] + (m == 1 && leap(y)) || y < 1)
		return -1;
	*days_r = days_from_civil(y, (unsigned)m + 1, (unsigned)day);
	return i;
}

int imap_parse_date(const char *s, int64_t *time_r)
{
	int64_t days;
	int n = parse_day_month_year(s, false, &days);

	if (n < 0 || s[n] != '\0')
		return -1;
	*time_r = days * 86400;
	return 0;
}

static int two_digits(const char *s)
{
	if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
		return -1;
	return (s[0] - '0') * 10 + (s[1] - '0');
}

int imap_parse_datetime(const char *s, int64_t *time_r)
{
	int64_t days;
	int n = parse_day_month_year(s, true, &days);

	if (n < 0 || strlen(s + n) != 15 || s[n] != ' ' || s[n + 3] != ':' || s[n + 6] != ':' || s[n + 9] != ' ')
		return -1;
	const char *t = s + n + 1;
	int hh = two_digits(t), mm = two_digits(t + 3), ss = two_digits(t + 6);
	char sign = t[9];
	int zh = two_digits(t + 10), zm = two_digits(t + 12);
	if (hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 60 || (sign != '+' && sign != '-') ||
	    zh < 0 || zm < 0 || zm > 59)
		return -1;
	int64_t offset = (int64_t)(zh * 3600 + zm * 60) * (sign == '-' ? -1 : 1);
	*time_r = days * 86400 + hh * 3600 + mm * 60 + ss - offset;
	return 0;
}

void imap_format_datetime(int64_t t, char *out, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	snprintf(out, size, "\"%02d-%s-%04d %02d:%02d:%02d +0000\"", tm.tm_mday, months[tm.tm_mon],
		 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* ---- modified UTF-7 (RFC 3501 5.1.3) ------------------------------------------------------ */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int b64_value(char c)
{
	const char *p = c ? strchr(b64, c) : NULL;
	return p ? (int)(p - b64) : -1;
}

/* Appends the UTF-8 of code point cp. */
static int put_utf8(uint32_t cp, char *out, size_t size, size_t *n)
{
	char tmp[4];
	size_t k;

	if (cp < 0x80) {
		tmp[0] = (char)cp;
		k = 1;
	} else if (cp < 0x800) {
		tmp[0] = (char)(0xc0 | (cp >> 6));
		tmp[1] = (char)(0x80 | (cp & 0x3f));
		k = 2;
	} else if (cp < 0x10000) {
		tmp[0] = (char)(0xe0 | (cp >> 12));
		tmp[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		tmp[2] = (char)(0x80 | (cp & 0x3f));
		k = 3;
	} else {
		tmp[0] = (char)(0xf0 | (cp >> 18));
		tmp[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		tmp[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		tmp[3] = (char)(0x80 | (cp & 0x3f));
		k = 4;
	}
	if (*n + k >= size)
		return -1;
	memcpy(out + *n, tmp, k);
	*n += k;
	return 0;
}

/* Decodes one "&...-" run (p after "&", up to the "-"). */
static int decode_run(const char *p, const char *end, char *out, size_t size, size_t *n)
{
	uint32_t bits = 0, high = 0;
	int nbits = 0;

	if (p == end)
		return -1; /* "&-" is handled by the caller */
	for (; p < end; p++) {
		int v = b64_value(*p);
		if (v < 0)
			return -1;
		bits = (bits << 6) | (uint32_t)v;
		nbits += 6;
		if (nbits < 16)
			continue;
		nbits -= 16;
		uint32_t u = (bits >> nbits) & 0xffff;
		bits &= (1u << nbits) - 1;
		if (high != 0) {
			if (u < 0xdc00 || u > 0xdfff)
				return -1;
			u = 0x10000 + ((high - 0xd800) << 10) + (u - 0xdc00);
			high = 0;
		} else if (u >= 0xd800 && u <= 0xdbff) {
			high = u;
			continue;
		} else if ((u >= 0xdc00 && u <= 0xdfff) || u <= 0x7e) {
			return -1; /* lone low surrogate; ASCII: printable is direct, controls not allowed */
		}
		if (put_utf8(u, out, size, n) < 0)
			return -1;
	}
	if (high != 0 || nbits >= 6 || bits != 0)
		return -1;
	return 0;
}

int imap_mutf7_to_utf8(const char *in, size_t len, char *out, size_t size)
{
	const char *p = in, *end = in + len, *after_run = NULL;
	size_t n = 0;

	if (size == 0)
		return -1;
	while (p < end) {
		unsigned char c = (unsigned char)*p;
		if (c < 0x20 || c > 0x7e)
			return -1;
		if (c != '&') {
			if (n + 1 >= size)
				return -1;
			out[n++] = (char)c;
			p++;
			continue;
		}
		const char *dash = memchr(p, '-', (size_t)(end - p));
		if (dash == NULL || p == after_run)
			return -1; /* two adjacent runs are one run spelled twice: not canonical */
		if (dash == p + 1) {
			if (n + 1 >= size)
				return -1;
			out[n++] = '&';
		} else if (decode_run(p + 1, dash, out, size, &n) < 0) {
			return -1;
		} else {
			after_run = dash + 1;
		}
		p = dash + 1;
	}
	out[n] = '\0';
	return 0;
}

/* Next code point of UTF-8 (strict: no overlongs, surrogates or values past U+10FFFF). */
static int next_utf8(const unsigned char **pp, const unsigned char *end, uint32_t *cp_r)
{
	const unsigned char *p = *pp;
	uint32_t cp;
	int extra;

	if (p[0] < 0x80) {
		*cp_r = p[0];
		*pp = p + 1;
		return 0;
	}
	if ((p[0] & 0xe0) == 0xc0) {
		cp = p[0] & 0x1f;
		extra = 1;
	} else if ((p[0] & 0xf0) == 0xe0) {
		cp = p[0] & 0x0f;
		extra = 2;
	} else if ((p[0] & 0xf8) == 0xf0) {
		cp = p[0] & 0x07;
		extra = 3;
	} else {
		return -1;
	}
	if (end - p <= extra)
		return -1;
	for (int i = 1; i <= extra; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	static const uint32_t min[4] = { 0, 0x80, 0x800, 0x10000 };
	if (cp < min[extra] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*cp_r = cp;
	*pp = p + extra + 1;
	return 0;
}

struct b64_out {
	char *out;
	size_t size, n;
	uint32_t bits;
	int nbits;
};

static int b64_put16(struct b64_out *o, uint32_t u)
{
	o->bits = (o->bits << 16) | u;
	o->nbits += 16;
	while (o->nbits >= 6) {
		o->nbits -= 6;
		if (o->n + 1 >= o->size)
			return -1;
		o->out[o->n++] = b64[(o->bits >> o->nbits) & 0x3f];
	}
	o->bits &= (1u << o->nbits) - 1;
	return 0;
}

/* Ends a base64 run: the last partial sextet (zero-padded), then "-". */
static int b64_end(struct b64_out *o)
{
	if (o->nbits > 0) {
		if (o->n + 1 >= o->size)
			return -1;
		o->out[o->n++] = b64[(o->bits << (6 - o->nbits)) & 0x3f];
	}
	if (o->n + 1 >= o->size)
		return -1;
	o->out[o->n++] = '-';
	o->bits = 0;
	o->nbits = 0;
	return 0;
}

static int put_direct(struct b64_out *o, uint32_t cp)
{
	size_t k = cp == '&' ? 2 : 1;

	if (o->n + k >= o->size)
		return -1;
	o->out[o->n++] = (char)cp;
	if (cp == '&')
		o->out[o->n++] = '-';
	return 0;
}

int imap_utf8_to_mutf7(const char *in, size_t len, char *out, size_t size)
{
	const unsigned char *p = (const unsigned char *)in, *end = p + len;
	struct b64_out o = { .out = out, .size = size };
	bool in_run = false;

	if (size == 0)
		return -1;
	while (p < end) {
		uint32_t cp;
		if (next_utf8(&p, end, &cp) < 0 || cp < 0x20)
			return -1; /* no control characters in mailbox names */
		if (cp <= 0x7e) {
			if (in_run && b64_end(&o) < 0)
				return -1;
			in_run = false;
			if (put_direct(&o, cp) < 0)
				return -1;
			continue;
		}
		if (!in_run) {
			if (o.n + 1 >= size)
				return -1;
			out[o.n++] = '&';
			in_run = true;
		}
		if (cp >= 0x10000) {
			cp -= 0x10000;
			if (b64_put16(&o, 0xd800 + (cp >> 10)) < 0 || b64_put16(&o, 0xdc00 + (cp & 0x3ff)) < 0)
				return -1;
		} else if (b64_put16(&o, cp) < 0) {
			return -1;
		}
	}
	if (in_run && b64_end(&o) < 0)
		return -1;
	out[o.n] = '\0';
	return 0;
}
