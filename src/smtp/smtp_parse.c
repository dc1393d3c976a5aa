/*
 * smtp_parse: SMTP command-line parsers (see smtp_parse.h).
 *
 * Everything here reads client bytes, so every loop is bounded by the
 * slice length, every copy by the destination size, and nothing is assumed
 * to be NUL-terminated. The grammar is RFC 5321 4.1.2 (paths), RFC 6531 3.3
 * (UTF-8 in paths with SMTPUTF8), RFC 1870 (SIZE), RFC 6152 (8BITMIME),
 * RFC 3030 (BINARYMIME, BDAT), RFC 3461 (DSN: RET, ENVID, NOTIFY, ORCPT and
 * xtext) and RFC 4954 5 (AUTH=).
 */
#include "smtp/smtp_parse.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

/*
 * Replies that name client text (an unknown parameter) are built here. One
 * buffer per thread: the reply is valid until the next call from the same
 * thread, which is all a session needs to send it.
 */
static _Thread_local char reply_buf[160];

/* ---- small helpers ------------------------------------------------------------ */

static bool is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alnum(unsigned char c)
{
	return is_alpha(c) || is_digit(c);
}

/* RFC 5321 4.1.2 atext (from RFC 5322 3.2.3). */
static bool is_atext(unsigned char c)
{
	return is_alnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static struct slice slice_skip_spaces(struct slice s)
{
	while (s.len > 0 && s.p[0] == ' ')
		s.p++, s.len--;
	return s;
}

static bool slice_starts_nocase(struct slice s, const char *lit)
{
	size_t n = strlen(lit);
	return s.len >= n && strncasecmp(s.p, lit, n) == 0;
}

/*
 * Length of one well-formed UTF-8 character at p (RFC 3629; no overlongs,
 * surrogates or code points past U+10FFFF), 0 if there is none.
 */
static size_t utf8_char_len(const unsigned char *p, size_t len)
{
	size_t n, i;
	unsigned cp;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (len < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

/* Copies a slice into a C string buffer; -1 if it does not fit. */
static int copy_out(char *dst, size_t dst_size, struct slice s)
{
	if (s.len >= dst_size)
		return -1;
	memcpy(dst, s.p, s.len);
	dst[s.len] = '\0';
	return 0;
}

/* ---- the command line ----------------------------------------------------------- */

static const struct {
	const char *name;
	enum smtp_verb verb;
} verbs[] = {
	{ "HELO", SMTP_VERB_HELO }, { "EHLO", SMTP_VERB_EHLO }, { "MAIL", SMTP_VERB_MAIL },
	{ "RCPT", SMTP_VERB_RCPT }, { "DATA", SMTP_VERB_DATA }, { "BDAT", SMTP_VERB_BDAT },
	{ "RSET", SMTP_VERB_RSET }, { "NOOP", SMTP_VERB_NOOP }, { "QUIT", SMTP_VERB_QUIT },
	{ "VRFY", SMTP_VERB_VRFY }, { "EXPN", SMTP_VERB_EXPN }, { "HELP", SMTP_VERB_HELP },
	{ "STARTTLS", SMTP_VERB_STARTTLS }, { "AUTH", SMTP_VERB_AUTH },
};

static enum smtp_verb verb_lookup(struct slice word)
{
	size_t i;

	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (slice_eq_nocase(word, verbs[i].name))
			return verbs[i].verb;
	return SMTP_VERB_UNKNOWN;
}

/*
 * "FROM:" / "TO:" after MAIL / RCPT. RFC 5321 has no space around the
 * colon; like Postfix we take spaces before it (broken clients send
 * "MAIL FROM :<a>"); those after it are skipped with the rest.
 */
static int skip_path_keyword(struct slice *args, const char *keyword)
{
	struct slice s = *args;
	size_t n = strlen(keyword);

	if (!slice_starts_nocase(s, keyword))
		return -1;
	s.p += n, s.len -= n;
	s = slice_skip_spaces(s);
	if (s.len == 0 || s.p[0] != ':')
		return -1;
	s.p++, s.len--;
	*args = slice_skip_spaces(s);
	return 0;
}

/*
 * Control characters never belong in a command (RFC 5321 4.1.1 is
 * printable text plus UTF-8 with SMTPUTF8). NUL is named separately: it
 * truncates C strings downstream and is a classic filter-evasion trick.
 */
static int check_command_bytes(const char *line, size_t len, const char **reply_r)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if (c == '\0') {
			*reply_r = "500 5.5.2 Error: NUL character in command";
			return -1;
		}
		if (c < 0x20 || c == 0x7f) {
			*reply_r = "501 5.5.2 Syntax error: control character in command";
			return -1;
		}
	}
	return 0;
}

int smtp_parse_command(const char *line, size_t len, struct smtp_command *cmd_r, const char **reply_r)
{
	struct slice word, rest;
	size_t i = 0;

	cmd_r->verb = SMTP_VERB_UNKNOWN;
	cmd_r->args = slice_make(line + len, 0);
	if (check_command_bytes(line, len, reply_r) < 0)
		return -1;
	while (i < len && line[i] != ' ')
		i++;
	word = slice_make(line, i);
	rest = slice_skip_spaces(slice_make(line + i, len - i));
	cmd_r->verb = verb_lookup(word);
	if (cmd_r->verb == SMTP_VERB_MAIL && skip_path_keyword(&rest, "FROM") < 0) {
		*reply_r = "501 5.5.4 Syntax: MAIL FROM:<address>";
		return -1;
	}
	if (cmd_r->verb == SMTP_VERB_RCPT && skip_path_keyword(&rest, "TO") < 0) {
		*reply_r = "501 5.5.4 Syntax: RCPT TO:<address>";
		return -1;
	}
	cmd_r->args = rest;
	return 0;
}

/* ---- domains and address literals ------------------------------------------------- */

/*
 * RFC 5321 4.1.2: sub-domain = Let-dig [Ldh-str]; with SMTPUTF8 a label may
 * also be a U-label (RFC 6531 3.3), which we accept as any well-formed
 * UTF-8. Returns the label's length, 0 if there is no valid label at p.
 */
static size_t scan_label(struct slice s, bool utf8, bool helo)
{
	size_t i = 0, n;

	while (i < s.len) {
		unsigned char c = (unsigned char)s.p[i];

		if (is_alnum(c) || c == '-' || (helo && c == '_'))
			i++;
		else if (c >= 0x80 && utf8 && (n = utf8_char_len((const unsigned char *)s.p + i, s.len - i)) > 0)
			i += n;
		else
			break;
	}
	if (i == 0 || i > 63 || s.p[0] == '-' || s.p[i - 1] == '-')
		return 0;
	return i;
}

/* Domain = sub-domain *("." sub-domain). Returns its length or 0. Unbounded: callers check the length. */
static size_t scan_domain(struct slice s, bool utf8, bool helo)
{
	size_t i = 0, n;

	for (;;) {
		n = scan_label(slice_make(s.p + i, s.len - i), utf8, helo);
		if (n == 0)
			return 0; /* also for a trailing or doubled dot */
		i += n;
		if (i >= s.len || s.p[i] != '.')
			return i;
		i++;
	}
}

/*
 * address-literal = "[" ( IPv4-address-literal / IPv6-address-literal ) "]".
 * The General-address-literal form needs an IANA-registered tag and none
 * exists, so it is refused. inet_pton is strict (dotted quad, RFC 4291 text).
 * Returns the literal's length including brackets, or 0.
 */
static size_t scan_address_literal(struct slice s)
{
	char tmp[64];
	unsigned char addr[16];
	const char *close;
	size_t n;

	if (s.len < 2 || s.p[0] != '[')
		return 0;
	close = memchr(s.p, ']', s.len);
	if (close == NULL)
		return 0;
	n = (size_t)(close - s.p) - 1;
	if (n >= sizeof(tmp))
		return 0;
	memcpy(tmp, s.p + 1, n);
	tmp[n] = '\0';
	if (n > 5 && strncasecmp(tmp, "IPv6:", 5) == 0) {
		if (inet_pton(AF_INET6, tmp + 5, addr) != 1)
			return 0;
	} else if (inet_pton(AF_INET, tmp, addr) != 1) {
		return 0;
	}
	return n + 2;
}

int smtp_parse_helo(struct slice args, char *domain_r, size_t domain_size, const char **reply_r)
{
	size_t n;

	args = slice_skip_spaces(args);
	while (args.len > 0 && args.p[args.len - 1] == ' ')
		args.len--;
	if (domain_size > 0)
		domain_r[0] = '\0';
	if (args.len == 0) {
		*reply_r = "501 5.5.4 Syntax: EHLO hostname";
		return -1;
	}
	/*
	 * Underscores are outside RFC 5321's grammar but common in the names
	 * Windows machines give themselves; refusing them would refuse mail
	 * for no benefit, as the HELO name is only informational.
	 */
	if (args.p[0] == '[')
		n = scan_address_literal(args);
	else
		n = scan_domain(args, true, true);
	if (n == 0 || n != args.len || n > SMTP_DOMAIN_MAX) {
		*reply_r = "501 5.5.4 Syntax: EHLO hostname (a domain name or an address literal like [192.0.2.1])";
		return -1;
	}
	if (copy_out(domain_r, domain_size, args) < 0) {
		*reply_r = "501 5.5.4 Syntax: EHLO hostname is too long";
		return -1;
	}
	return 0;
}

/* ---- paths (RFC 5321 4.1.2) ------------------------------------------------------- */

struct path_scan {
	struct slice s;    /* the arguments, starting at '<' */
	size_t pos;
	bool nonascii;     /* UTF-8 seen: needs SMTPUTF8 (RFC 6531 3.3) */
	const char *cause; /* why the path is refused, for the reply */
};

static int path_fail(struct path_scan *ps, const char *cause)
{
	ps->cause = cause;
	return -1;
}

static bool path_at(const struct path_scan *ps, char c)
{
	return ps->pos < ps->s.len && ps->s.p[ps->pos] == c;
}

static struct slice path_rest(const struct path_scan *ps)
{
	return slice_make(ps->s.p + ps->pos, ps->s.len - ps->pos);
}

/* The cause when the character at pos is not what the grammar wants. */
static int path_unexpected(struct path_scan *ps, const char *where)
{
	if (ps->pos >= ps->s.len)
		return path_fail(ps, "missing '>'");
	return path_fail(ps, where);
}

/* Non-ASCII: one well-formed UTF-8 character; its length, or 0. */
static size_t path_utf8(struct path_scan *ps)
{
	struct slice r = path_rest(ps);
	size_t n = utf8_char_len((const unsigned char *)r.p, r.len);

	if (n > 0)
		ps->nonascii = true;
	return n;
}

/*
 * A-d-l = At-domain *( "," At-domain ), followed by ":". Source routes are
 * obsolete (RFC 5321 C.): they are checked for syntax and then ignored.
 */
static int path_source_route(struct path_scan *ps)
{
	size_t n;

	while (path_at(ps, '@')) {
		ps->pos++;
		n = scan_domain(path_rest(ps), false, false);
		if (n == 0)
			return path_fail(ps, "invalid source route");
		ps->pos += n;
		if (path_at(ps, ':')) {
			ps->pos++;
			return 0;
		}
		if (!path_at(ps, ','))
			return path_fail(ps, "invalid source route");
		ps->pos++;
	}
	return path_fail(ps, "invalid source route");
}

/* Appends one byte of the unquoted local part; -1 past SMTP_LOCAL_MAX. */
static int local_put(struct smtp_path *path, size_t *len, char c)
{
	if (*len >= SMTP_LOCAL_MAX)
		return -1;
	path->local[(*len)++] = c;
	path->local[*len] = '\0';
	return 0;
}

/* Quoted-string = DQUOTE *QcontentSMTP DQUOTE, stored without quoting. */
static int path_quoted_local(struct path_scan *ps, struct smtp_path *path)
{
	size_t len = 0, n;

	ps->pos++;
	while (ps->pos < ps->s.len && ps->s.p[ps->pos] != '"') {
		unsigned char c = (unsigned char)ps->s.p[ps->pos];

		if (c == '\\') {
			/* quoted-pairSMTP = "\" %d32-126 */
			ps->pos++;
			if (ps->pos >= ps->s.len)
				break;
			c = (unsigned char)ps->s.p[ps->pos];
			if (c < 32 || c > 126)
				return path_fail(ps, "invalid quoted local part");
		} else if (c >= 0x80) {
			if ((n = path_utf8(ps)) == 0)
				return path_fail(ps, "invalid UTF-8 in the local part");
			for (; n > 1; n--, ps->pos++)
				if (local_put(path, &len, ps->s.p[ps->pos]) < 0)
					return path_fail(ps, "local part is longer than 64 octets");
			c = (unsigned char)ps->s.p[ps->pos];
		} else if (c < 32 || c > 126) {
			return path_fail(ps, "invalid quoted local part");
		}
		if (local_put(path, &len, (char)c) < 0)
			return path_fail(ps, "local part is longer than 64 octets");
		ps->pos++;
	}
	if (!path_at(ps, '"'))
		return path_fail(ps, "missing closing '\"' in the local part");
	ps->pos++;
	return 0;
}

/* Dot-string = Atom *("." Atom), atext plus UTF-8 with SMTPUTF8. */
static int path_dot_local(struct path_scan *ps, struct smtp_path *path)
{
	size_t len = 0, n, start = ps->pos;
	bool after_dot = true;

	while (ps->pos < ps->s.len) {
		unsigned char c = (unsigned char)ps->s.p[ps->pos];

		if (c == '.' && after_dot)
			return path_fail(ps, "a dot cannot start the local part or follow another dot");
		if (c == '.' || is_atext(c))
			n = 1;
		else if (c < 0x80 || (n = path_utf8(ps)) == 0)
			break;
		after_dot = c == '.';
		for (; n > 0; n--, ps->pos++)
			if (local_put(path, &len, ps->s.p[ps->pos]) < 0)
				return path_fail(ps, "local part is longer than 64 octets");
	}
	if (ps->pos == start)
		return path_unexpected(ps, "invalid character in the local part");
	if (after_dot)
		return path_fail(ps, "a dot cannot end the local part");
	return 0;
}

/* Domain / address-literal after the '@'. */
static int path_domain(struct path_scan *ps, struct smtp_path *path)
{
	struct slice r = path_rest(ps);
	size_t n;

	if (r.len == 0 || r.p[0] == '>')
		return path_unexpected(ps, "missing domain after '@'");
	if (r.p[0] == '[') {
		n = scan_address_literal(r);
		if (n == 0)
			return path_fail(ps, "invalid address literal");
	} else {
		n = scan_domain(r, true, false);
		if (n == 0)
			return path_fail(ps, "invalid domain");
		if (n > SMTP_DOMAIN_MAX)
			return path_fail(ps, "domain is longer than 255 octets");
		/* Checked again here: scan_domain may accept UTF-8 labels. */
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)r.p[i] >= 0x80)
				ps->nonascii = true;
	}
	if (copy_out(path->domain, sizeof(path->domain), slice_make(r.p, n)) < 0)
		return path_fail(ps, "domain is longer than 255 octets");
	ps->pos += n;
	return 0;
}

/* Mailbox = Local-part "@" ( Domain / address-literal ), then ">". */
static int path_mailbox(struct path_scan *ps, struct smtp_path *path)
{
	size_t start = ps->pos, local_end;
	int ret;

	if (path_at(ps, '"'))
		ret = path_quoted_local(ps, path);
	else
		ret = path_dot_local(ps, path);
	if (ret < 0)
		return -1;
	local_end = ps->pos;
	if (local_end - start > SMTP_LOCAL_MAX)
		return path_fail(ps, "local part is longer than 64 octets");
	if (!path_at(ps, '@'))
		return path_unexpected(ps, path_at(ps, '>') ? "missing '@domain'" : "invalid character in the local part");
	ps->pos++;
	if (path_domain(ps, path) < 0)
		return -1;
	/* "<a@b SIZE=1": a space here means the '>' was forgotten. */
	if (!path_at(ps, '>'))
		return path_unexpected(ps, path_at(ps, ' ') ? "missing '>'" : "invalid character in the domain");
	if (copy_out(path->address, sizeof(path->address), slice_make(ps->s.p + start, ps->pos - start)) < 0)
		return path_fail(ps, "address is longer than 256 octets");
	return 0;
}

/*
 * Path = "<" [ A-d-l ":" ] Mailbox ">", or "<>" when null_ok. On success
 * ps->pos is just after the '>'.
 */
static int path_parse(struct path_scan *ps, bool null_ok, struct smtp_path *path)
{
	memset(path, 0, sizeof(*path));
	if (!path_at(ps, '<'))
		return path_fail(ps, "missing '<'");
	ps->pos++;
	if (path_at(ps, '>')) {
		if (!null_ok)
			return path_fail(ps, "empty address");
		path->null_path = true;
		ps->pos++;
		return 0;
	}
	if (path_at(ps, '@') && path_source_route(ps) < 0)
		return -1;
	if (path_mailbox(ps, path) < 0)
		return -1;
	ps->pos++;
	/* RFC 5321 4.5.3.1.3: the whole path, brackets included. */
	if (ps->pos > SMTP_PATH_MAX)
		return path_fail(ps, "address is longer than 256 octets");
	return 0;
}

/* RFC 5321 4.1.1.3: "<Postmaster>" without a domain must be accepted. */
static bool is_bare_postmaster(struct slice s, size_t *len_r)
{
	static const char pm[] = "<postmaster>";

	if (!slice_starts_nocase(s, pm))
		return false;
	*len_r = sizeof(pm) - 1;
	return true;
}

/* ---- ESMTP parameters ------------------------------------------------------------ */

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10; /* RFC 3461 says upper case; lower case is harmless */
	return -1;
}

/*
 * xtext (RFC 3461 4): "+" followed by two hex digits encodes one octet.
 * Decoded values must be printable ASCII: they end up in logs, headers and
 * DSNs, where a control character could forge a line. Returns 0 or -1.
 */
static int xtext_decode(struct slice v, char *out, size_t out_size)
{
	size_t i, o = 0;

	for (i = 0; i < v.len; i++) {
		int c = (unsigned char)v.p[i];

		if (c == '+') {
			int hi, lo;

			if (v.len - i < 3 || (hi = hex_value(v.p[i + 1])) < 0 || (lo = hex_value(v.p[i + 2])) < 0)
				return -1;
			c = hi * 16 + lo;
			i += 2;
		}
		if (c < 0x20 || c > 0x7e || o + 1 >= out_size)
			return -1;
		out[o++] = (char)c;
	}
	if (o == 0)
		return -1;
	out[o] = '\0';
	return 0;
}

struct param_ctx {
	struct smtp_mail_params *mail;
	struct smtp_rcpt_params *rcpt;
};

/* A parameter handler: NULL when the value is good, else the reply. */
typedef const char *(*param_fn)(struct slice value, bool has_value, struct param_ctx *ctx);

/*
 * RFC 1870: SIZE=digits. A value past 2^64-1 is saturated rather than
 * refused: it is certainly over the limit, and the session's size check
 * then gives the client the reply that names the limit.
 */
static const char *param_size(struct slice v, bool has_value, struct param_ctx *ctx)
{
	uint64_t size = 0;
	size_t i;

	if (!has_value)
		return "501 5.5.4 Bad SIZE parameter: expected SIZE=<number of bytes>";
	for (i = 0; i < v.len; i++) {
		unsigned d = (unsigned char)v.p[i] - '0';

		if (d > 9)
			return "501 5.5.4 Bad SIZE parameter: expected SIZE=<number of bytes>";
		size = size > (UINT64_MAX - d) / 10 ? UINT64_MAX : size * 10 + d;
	}
	ctx->mail->has_size = true;
	ctx->mail->size = size;
	return NULL;
}

/* RFC 6152 / RFC 3030: BODY=7BIT | 8BITMIME | BINARYMIME. */
static const char *param_body(struct slice v, bool has_value, struct param_ctx *ctx)
{
	if (has_value && slice_eq_nocase(v, "7BIT"))
		ctx->mail->body = SMTP_BODY_7BIT;
	else if (has_value && slice_eq_nocase(v, "8BITMIME"))
		ctx->mail->body = SMTP_BODY_8BITMIME;
	else if (has_value && slice_eq_nocase(v, "BINARYMIME"))
		ctx->mail->body = SMTP_BODY_BINARYMIME;
	else
		return "501 5.5.4 Bad BODY parameter: expected 7BIT, 8BITMIME or BINARYMIME";
	return NULL;
}

/* RFC 6531 3.4: SMTPUTF8 takes no value. */
static const char *param_smtputf8(struct slice v, bool has_value, struct param_ctx *ctx)
{
	if (has_value)
		return "501 5.5.4 Bad SMTPUTF8 parameter: it takes no value";
	ctx->mail->smtputf8 = true;
	return NULL;
}

/* RFC 3461 4.3: RET=FULL | HDRS. */
static const char *param_ret(struct slice v, bool has_value, struct param_ctx *ctx)
{
	if (has_value && slice_eq_nocase(v, "FULL"))
		ctx->mail->ret = SMTP_RET_FULL;
	else if (has_value && slice_eq_nocase(v, "HDRS"))
		ctx->mail->ret = SMTP_RET_HDRS;
	else
		return "501 5.5.4 Bad RET parameter: expected FULL or HDRS";
	return NULL;
}

/* RFC 3461 4.4: ENVID=xtext, at most 100 characters decoded. */
static const char *param_envid(struct slice v, bool has_value, struct param_ctx *ctx)
{
	if (!has_value || xtext_decode(v, ctx->mail->envid, sizeof(ctx->mail->envid)) < 0)
		return "501 5.5.4 Bad ENVID parameter: expected up to 100 characters of xtext";
	return NULL;
}

/* RFC 4954 5: AUTH=xtext (a mailbox, or "<>"). */
static const char *param_auth(struct slice v, bool has_value, struct param_ctx *ctx)
{
	if (!has_value || xtext_decode(v, ctx->mail->auth, sizeof(ctx->mail->auth)) < 0)
		return "501 5.5.4 Bad AUTH parameter: expected an xtext mailbox or <>";
	return NULL;
}

/* RFC 3461 4.1: NOTIFY=NEVER or a comma list of SUCCESS, FAILURE, DELAY. */
static const char *param_notify(struct slice v, bool has_value, struct param_ctx *ctx)
{
	static const char *bad = "501 5.5.4 Bad NOTIFY parameter: expected NEVER or a list of SUCCESS, FAILURE, DELAY";
	unsigned notify = 0;
	size_t i = 0, start = 0;

	if (!has_value)
		return bad;
	for (i = 0; i <= v.len; i++) {
		struct slice item;

		if (i < v.len && v.p[i] != ',')
			continue;
		item = slice_make(v.p + start, i - start);
		if (slice_eq_nocase(item, "NEVER"))
			notify |= SMTP_NOTIFY_NEVER;
		else if (slice_eq_nocase(item, "SUCCESS"))
			notify |= SMTP_NOTIFY_SUCCESS;
		else if (slice_eq_nocase(item, "FAILURE"))
			notify |= SMTP_NOTIFY_FAILURE;
		else if (slice_eq_nocase(item, "DELAY"))
			notify |= SMTP_NOTIFY_DELAY;
		else
			return bad;
		start = i + 1;
	}
	if ((notify & SMTP_NOTIFY_NEVER) && notify != SMTP_NOTIFY_NEVER)
		return "501 5.5.4 Bad NOTIFY parameter: NEVER cannot be combined with other values";
	ctx->rcpt->notify = notify;
	return NULL;
}

/* RFC 3461 4.2: ORCPT=addr-type ";" xtext; stored as "type;decoded". */
static const char *param_orcpt(struct slice v, bool has_value, struct param_ctx *ctx)
{
	static const char *bad = "501 5.5.4 Bad ORCPT parameter: expected ORCPT=rfc822;<xtext address>";
	char *out = ctx->rcpt->orcpt;
	const char *semi;
	size_t tlen, i;

	if (!has_value || (semi = memchr(v.p, ';', v.len)) == NULL)
		return bad;
	tlen = (size_t)(semi - v.p);
	if (tlen == 0 || tlen >= 32)
		return bad;
	for (i = 0; i < tlen; i++)
		if (!is_alnum((unsigned char)v.p[i]) && v.p[i] != '-')
			return bad; /* addr-type is an atom; we are stricter: letters, digits, '-' */
	memcpy(out, v.p, tlen + 1);
	if (xtext_decode(slice_make(semi + 1, v.len - tlen - 1), out + tlen + 1, sizeof(ctx->rcpt->orcpt) - tlen - 1) < 0)
		return bad;
	return NULL;
}

static const struct param_def {
	const char *name;
	bool on_mail; /* else on RCPT */
	param_fn fn;
} param_defs[] = {
	{ "SIZE", true, param_size },	   { "BODY", true, param_body },   { "SMTPUTF8", true, param_smtputf8 },
	{ "RET", true, param_ret },	   { "ENVID", true, param_envid }, { "AUTH", true, param_auth },
	{ "NOTIFY", false, param_notify }, { "ORCPT", false, param_orcpt },
};

/* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
static bool valid_keyword(struct slice k)
{
	size_t i;

	if (k.len == 0 || !is_alnum((unsigned char)k.p[0]))
		return false;
	for (i = 1; i < k.len; i++)
		if (!is_alnum((unsigned char)k.p[i]) && k.p[i] != '-')
			return false;
	return true;
}

/* esmtp-value = 1*(%d33-60 / %d62-126) */
static bool valid_value(struct slice v)
{
	size_t i;

	if (v.len == 0)
		return false;
	for (i = 0; i < v.len; i++)
		if ((unsigned char)v.p[i] < 33 || (unsigned char)v.p[i] > 126 || v.p[i] == '=')
			return false;
	return true;
}

/* One "keyword[=value]"; *seen tracks duplicates (one bit per definition). */
static int parse_param(struct slice tok, bool mail, struct param_ctx *ctx, unsigned *seen, const char **reply_r)
{
	const char *eq = memchr(tok.p, '=', tok.len);
	struct slice key = slice_make(tok.p, eq != NULL ? (size_t)(eq - tok.p) : tok.len);
	struct slice val = eq != NULL ? slice_make(eq + 1, tok.len - key.len - 1) : slice_make(tok.p + tok.len, 0);
	size_t i;

	if (!valid_keyword(key) || (eq != NULL && !valid_value(val))) {
		*reply_r = "501 5.5.4 Syntax error in parameters: expected KEYWORD or KEYWORD=value";
		return -1;
	}
	for (i = 0; i < sizeof(param_defs) / sizeof(param_defs[0]); i++) {
		if (param_defs[i].on_mail != mail || !slice_eq_nocase(key, param_defs[i].name))
			continue;
		if (*seen & (1u << i)) {
			snprintf(reply_buf, sizeof(reply_buf), "501 5.5.4 Duplicate parameter: %s", param_defs[i].name);
			*reply_r = reply_buf;
			return -1;
		}
		*seen |= 1u << i;
		*reply_r = param_defs[i].fn(val, eq != NULL, ctx);
		return *reply_r == NULL ? 0 : -1;
	}
	/* RFC 5321 4.1.1.11: unrecognised parameters get 555. */
	snprintf(reply_buf, sizeof(reply_buf), "555 5.5.4 Unsupported parameter: %.*s", key.len > 64 ? 64 : (int)key.len,
		 key.p);
	*reply_r = reply_buf;
	return -1;
}

/* Mail-parameters / Rcpt-parameters: SP-separated, after the path. */
static int parse_params(struct slice rest, bool mail, struct param_ctx *ctx, const char **reply_r)
{
	unsigned seen = 0;
	size_t n;

	for (;;) {
		rest = slice_skip_spaces(rest);
		if (rest.len == 0)
			return 0;
		for (n = 0; n < rest.len && rest.p[n] != ' '; n++)
			;
		if (parse_param(slice_make(rest.p, n), mail, ctx, &seen, reply_r) < 0)
			return -1;
		rest.p += n, rest.len -= n;
	}
}

/* ---- MAIL, RCPT, BDAT ------------------------------------------------------------ */

static int path_reply(const char *prefix, const char *cause, const char **reply_r)
{
	snprintf(reply_buf, sizeof(reply_buf), "%s: %s", prefix, cause);
	*reply_r = reply_buf;
	return -1;
}

/* What follows the '>' must be nothing or SP-separated parameters. */
static int path_then_params(struct path_scan *ps, struct slice *rest_r)
{
	*rest_r = path_rest(ps);
	if (rest_r->len > 0 && rest_r->p[0] != ' ')
		return path_fail(ps, "unexpected text after '>'");
	return 0;
}

int smtp_parse_mail(struct slice args, struct smtp_path *path_r, struct smtp_mail_params *params_r,
		    const char **reply_r)
{
	static const char *prefix = "501 5.1.7 Bad sender address syntax";
	struct path_scan ps = { slice_skip_spaces(args), 0, false, NULL };
	struct param_ctx ctx = { params_r, NULL };
	struct slice rest;

	memset(params_r, 0, sizeof(*params_r));
	if (path_parse(&ps, true, path_r) < 0 || path_then_params(&ps, &rest) < 0)
		return path_reply(prefix, ps.cause, reply_r);
	if (parse_params(rest, true, &ctx, reply_r) < 0)
		return -1;
	if (ps.nonascii && !params_r->smtputf8) {
		*reply_r = "553 5.6.7 Non-ASCII address requires SMTPUTF8";
		return -1;
	}
	return 0;
}

int smtp_parse_rcpt(struct slice args, bool smtputf8, struct smtp_path *path_r, struct smtp_rcpt_params *params_r,
		    const char **reply_r)
{
	static const char *prefix = "501 5.1.3 Bad recipient address syntax";
	struct path_scan ps = { slice_skip_spaces(args), 0, false, NULL };
	struct param_ctx ctx = { NULL, params_r };
	struct slice rest;
	size_t n;

	memset(params_r, 0, sizeof(*params_r));
	if (is_bare_postmaster(ps.s, &n)) {
		memset(path_r, 0, sizeof(*path_r));
		memcpy(path_r->local, ps.s.p + 1, n - 2);
		memcpy(path_r->address, ps.s.p + 1, n - 2);
		ps.pos = n;
	} else if (path_parse(&ps, false, path_r) < 0) {
		return path_reply(prefix, ps.cause, reply_r);
	}
	if (path_then_params(&ps, &rest) < 0)
		return path_reply(prefix, ps.cause, reply_r);
	if (parse_params(rest, false, &ctx, reply_r) < 0)
		return -1;
	if (ps.nonascii && !smtputf8) {
		*reply_r = "553 5.6.7 Non-ASCII address requires SMTPUTF8";
		return -1;
	}
	return 0;
}

int smtp_parse_bdat(struct slice args, uint64_t *size_r, bool *last_r, const char **reply_r)
{
	struct slice s = slice_skip_spaces(args);
	uint64_t size = 0;
	size_t i;

	*size_r = 0;
	*last_r = false;
	for (i = 0; i < s.len && is_digit((unsigned char)s.p[i]); i++) {
		unsigned d = (unsigned char)s.p[i] - '0';

		/* Unlike SIZE this cannot saturate: the chunk's length frames the stream. */
		if (size > (UINT64_MAX - d) / 10) {
			*reply_r = "501 5.5.4 Syntax: BDAT chunk size is too large";
			return -1;
		}
		size = size * 10 + d;
	}
	if (i == 0 || (i < s.len && s.p[i] != ' '))
		goto syntax;
	s = slice_skip_spaces(slice_make(s.p + i, s.len - i));
	if (slice_starts_nocase(s, "LAST")) {
		*last_r = true;
		s = slice_skip_spaces(slice_make(s.p + 4, s.len - 4));
	}
	if (s.len != 0)
		goto syntax;
	*size_r = size;
	return 0;
syntax:
	*last_r = false;
	*reply_r = "501 5.5.4 Syntax: BDAT <size> [LAST]";
	return -1;
}
