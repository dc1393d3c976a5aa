/*
 * Unit tests for mime: the streaming parser (any split gives the same tree,
 * byte-exact offsets, limits), BODYSTRUCTURE/BODY/ENVELOPE golden strings,
 * sections, header filters, decoders, search text and the cache form.
 *
 * The golden strings were checked against Dovecot 2.3.19 (doveadm fetch
 * imap.bodystructure/imap.body/imap.envelope on the same messages): they
 * agree case-insensitively except where we chose differently on purpose —
 * upper-case type/subtype/encoding/parameter names (RFC 3501's examples),
 * quoted strings with \" escapes where Dovecot sends a literal, a malformed
 * Content-Type read as the RFC 2045 default text/plain (Dovecot keeps the
 * garbage), message/global parsed as a message (RFC 6532; Dovecot 2.3 does
 * not), and one Content-Language as a string instead of a one-element list.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mime/mime.h"
#include "mime/mime_private.h"

struct golden {
	const char *name;
	const char *msg;
	const char *bodystructure;
	const char *body;
	const char *envelope;
};

static const struct golden goldens[] = {
	{ "plain_text",
		"From: Alice <alice@example.org>\r\n"
		"To: bob@example.com\r\n"
		"Subject: Hello\r\n"
		"Date: Tue, 2 Jan 2024 10:00:00 +0100\r\n"
		"Message-ID: <1@example.org>\r\n"
		"\r\n"
		"Hi Bob,\r\n"
		"how are you?\r\n"
		"",
		"(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 23 2 NIL NIL NIL NIL)",
		"(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 23 2)",
		"(\"Tue, 2 Jan 2024 10:00:00 +0100\" \"Hello\" ((\"Alice\" NIL \"alice\" \"example.org\")) ((\"Alice\" NIL \"alice\" \"example.org\")) ((\"Alice\" NIL \"alice\" \"example.org\")) ((NIL NIL \"bob\" \"example.com\")) NIL NIL NIL \"<1@example.org>\")" },
	{ "plain_no_ct_lines",
		"Subject: x\r\n"
		"\r\n"
		"line1\r\n"
		"line2\r\n"
		"line3",
		"(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 19 2 NIL NIL NIL NIL)",
		"(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 19 2)",
		"(NIL \"x\" NIL NIL NIL NIL NIL NIL NIL NIL)" },
	{ "text_html_charset",
		"Content-Type: text/html; charset=\"ISO-8859-1\"\r\n"
		"Content-Transfer-Encoding: quoted-printable\r\n"
		"\r\n"
		"<p>caf=E9</p>\r\n"
		"",
		"(\"TEXT\" \"HTML\" (\"CHARSET\" \"ISO-8859-1\") NIL NIL \"QUOTED-PRINTABLE\" 15 1 NIL NIL NIL NIL)",
		"(\"TEXT\" \"HTML\" (\"CHARSET\" \"ISO-8859-1\") NIL NIL \"QUOTED-PRINTABLE\" 15 1)",
		"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)" },
	{ "alternative",
		"From: a@b.c\r\n"
		"Subject: alt\r\n"
		"MIME-Version: 1.0\r\n"
		"Content-Type: multipart/alternative; boundary=\"=_alt\"\r\n"
		"\r\n"
		"This is a MIME message.\r\n"
		"--=_alt\r\n"
		"Content-Type: text/plain; charset=utf-8\r\n"
		"\r\n"
		"plain\r\n"
		"--=_alt\r\n"
		"Content-Type: text/html; charset=utf-8\r\n"
		"\r\n"
		"<b>html</b>\r\n"
		"--=_alt--\r\n"
		"",
		"((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 5 0 NIL NIL NIL NIL)(\"TEXT\" \"HTML\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 11 0 NIL NIL NIL NIL) \"ALTERNATIVE\" (\"BOUNDARY\" \"=_alt\") NIL NIL NIL)",
		"((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 5 0)(\"TEXT\" \"HTML\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 11 0) \"ALTERNATIVE\")",
		"(NIL \"alt\" ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) NIL NIL NIL NIL NIL)" },
	{ "mixed_attachment",
		"From: a@b.c\r\n"
		"To: d@e.f\r\n"
		"Subject: report\r\n"
		"Content-Type: multipart/mixed; boundary=XyZ\r\n"
		"\r\n"
		"--XyZ\r\n"
		"Content-Type: text/plain\r\n"
		"\r\n"
		"See attached.\r\n"
		"\r\n"
		"--XyZ\r\n"
		"Content-Type: application/pdf; name=\"report.pdf\"\r\n"
		"Content-Transfer-Encoding: base64\r\n"
		"Content-Disposition: attachment; filename=\"report.pdf\"\r\n"
		"\r\n"
		"SGVsbG8gd29ybGQh\r\n"
		"SGVsbG8gd29ybGQh\r\n"
		"--XyZ--\r\n"
		"",
		"((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 15 1 NIL NIL NIL NIL)(\"APPLICATION\" \"PDF\" (\"NAME\" \"report.pdf\") NIL NIL \"BASE64\" 34 NIL (\"ATTACHMENT\" (\"FILENAME\" \"report.pdf\")) NIL NIL) \"MIXED\" (\"BOUNDARY\" \"XyZ\") NIL NIL NIL)",
		"((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 15 1)(\"APPLICATION\" \"PDF\" (\"NAME\" \"report.pdf\") NIL NIL \"BASE64\" 34) \"MIXED\")",
		"(NIL \"report\" ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"d\" \"e.f\")) NIL NIL NIL NIL)" },
	{ "nested_rfc822",
		"Subject: fwd\r\n"
		"Content-Type: multipart/mixed; boundary=\"outer\"\r\n"
		"\r\n"
		"--outer\r\n"
		"Content-Type: text/plain\r\n"
		"\r\n"
		"Forwarded:\r\n"
		"--outer\r\n"
		"Content-Type: message/rfc822\r\n"
		"\r\n"
		"From: Carol <carol@example.net>\r\n"
		"Subject: inner\r\n"
		"Content-Type: multipart/alternative; boundary=inner\r\n"
		"\r\n"
		"--inner\r\n"
		"\r\n"
		"inner plain\r\n"
		"--inner\r\n"
		"Content-Type: text/html\r\n"
		"\r\n"
		"<i>x</i>\r\n"
		"--inner--\r\n"
		"\r\n"
		"--outer--\r\n"
		"",
		"((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 10 0 NIL NIL NIL NIL)(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 185 (NIL \"inner\" ((\"Carol\" NIL \"carol\" \"example.net\")) ((\"Carol\" NIL \"carol\" \"example.net\")) ((\"Carol\" NIL \"carol\" \"example.net\")) NIL NIL NIL NIL NIL) ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 11 0 NIL NIL NIL NIL)(\"TEXT\" \"HTML\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 8 0 NIL NIL NIL NIL) \"ALTERNATIVE\" (\"BOUNDARY\" \"inner\") NIL NIL NIL) 12 NIL NIL NIL NIL) \"MIXED\" (\"BOUNDARY\" \"outer\") NIL NIL NIL)",
		"((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 10 0)(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 185 (NIL \"inner\" ((\"Carol\" NIL \"carol\" \"example.net\")) ((\"Carol\" NIL \"carol\" \"example.net\")) ((\"Carol\" NIL \"carol\" \"example.net\")) NIL NIL NIL NIL NIL) ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 11 0)(\"TEXT\" \"HTML\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 8 0) \"ALTERNATIVE\") 12) \"MIXED\")",
		"(NIL \"fwd\" NIL NIL NIL NIL NIL NIL NIL NIL)" },
	{ "rfc2231_filename",
		"Content-Type: multipart/mixed; boundary=b\r\n"
		"\r\n"
		"--b\r\n"
		"Content-Type: application/octet-stream;\r\n"
		" name*0*=utf-8''%E2%82%AC%20rapport;\r\n"
		" name*1=\" final.txt\"\r\n"
		"Content-Disposition: attachment;\r\n"
		" filename*=iso-8859-1'fr'caf%E9.txt\r\n"
		"\r\n"
		"data\r\n"
		"--b--\r\n"
		"",
		"((\"APPLICATION\" \"OCTET-STREAM\" (\"NAME*\" \"utf-8''%E2%82%AC%20rapport final.txt\") NIL NIL \"7BIT\" 4 NIL (\"ATTACHMENT\" (\"FILENAME*\" \"iso-8859-1'fr'caf%E9.txt\")) NIL NIL) \"MIXED\" (\"BOUNDARY\" \"b\") NIL NIL NIL)",
		"((\"APPLICATION\" \"OCTET-STREAM\" (\"NAME*\" \"utf-8''%E2%82%AC%20rapport final.txt\") NIL NIL \"7BIT\" 4) \"MIXED\")",
		"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)" },
	{ "encoded_subject",
		"Subject: =?UTF-8?B?SMOpbGxv?= =?UTF-8?Q?_w=C3=B6rld?=\r\n"
		"From: =?ISO-8859-1?Q?Andr=E9?= <andre@example.fr>\r\n"
		"\r\n"
		"body\r\n"
		"",
		"(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 6 1 NIL NIL NIL NIL)",
		"(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 6 1)",
		"(NIL \"=?UTF-8?B?SMOpbGxv?= =?UTF-8?Q?_w=C3=B6rld?=\" ((\"=?ISO-8859-1?Q?Andr=E9?=\" NIL \"andre\" \"example.fr\")) ((\"=?ISO-8859-1?Q?Andr=E9?=\" NIL \"andre\" \"example.fr\")) ((\"=?ISO-8859-1?Q?Andr=E9?=\" NIL \"andre\" \"example.fr\")) NIL NIL NIL NIL NIL)" },
	{ "groups_in_to",
		"From: a@b.c\r\n"
		"To: Team: x@y.z, \"Quoted, Name\" <q@y.z>;, undisclosed-recipients:;\r\n"
		"Cc: <@route.a,@route.b:r@dest.c>\r\n"
		"\r\n"
		"",
		"(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0 NIL NIL NIL NIL)",
		"(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0)",
		"(NIL NIL ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"Team\" NIL)(NIL NIL \"x\" \"y.z\")(\"Quoted, Name\" NIL \"q\" \"y.z\")(NIL NIL NIL NIL)(NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) ((NIL \"@route.a,@route.b\" \"r\" \"dest.c\")) NIL NIL NIL)" },
	{ "digest",
		"Content-Type: multipart/digest; boundary=d\r\n"
		"\r\n"
		"--d\r\n"
		"\r\n"
		"Subject: one\r\n"
		"\r\n"
		"1\r\n"
		"--d\r\n"
		"\r\n"
		"Subject: two\r\n"
		"\r\n"
		"2\r\n"
		"--d--\r\n"
		"",
		"((\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 17 (NIL \"one\" NIL NIL NIL NIL NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1 0 NIL NIL NIL NIL) 2 NIL NIL NIL NIL)(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 17 (NIL \"two\" NIL NIL NIL NIL NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1 0 NIL NIL NIL NIL) 2 NIL NIL NIL NIL) \"DIGEST\" (\"BOUNDARY\" \"d\") NIL NIL NIL)",
		"((\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 17 (NIL \"one\" NIL NIL NIL NIL NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1 0) 2)(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 17 (NIL \"two\" NIL NIL NIL NIL NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1 0) 2) \"DIGEST\")",
		"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)" },
	{ "prefix_boundaries",
		"Content-Type: multipart/mixed; boundary=\"ab\"\r\n"
		"\r\n"
		"--ab\r\n"
		"Content-Type: multipart/alternative; boundary=\"abc\"\r\n"
		"\r\n"
		"--abc\r\n"
		"\r\n"
		"one\r\n"
		"--abc\r\n"
		"\r\n"
		"two\r\n"
		"--abc--\r\n"
		"--ab\r\n"
		"\r\n"
		"three\r\n"
		"--ab--\r\n"
		"",
		"(((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 0 NIL NIL NIL NIL)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 0 NIL NIL NIL NIL) \"ALTERNATIVE\" (\"BOUNDARY\" \"abc\") NIL NIL NIL)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 5 0 NIL NIL NIL NIL) \"MIXED\" (\"BOUNDARY\" \"ab\") NIL NIL NIL)",
		"(((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 0)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 0) \"ALTERNATIVE\")(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 5 0) \"MIXED\")",
		"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)" },
	{ "missing_final_boundary",
		"Content-Type: multipart/mixed; boundary=zz\r\n"
		"\r\n"
		"--zz\r\n"
		"\r\n"
		"first\r\n"
		"--zz\r\n"
		"\r\n"
		"second, never closed\r\n"
		"",
		"((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 5 0 NIL NIL NIL NIL)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 22 1 NIL NIL NIL NIL) \"MIXED\" (\"BOUNDARY\" \"zz\") NIL NIL NIL)",
		"((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 5 0)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 22 1) \"MIXED\")",
		"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)" },
	{ "boundary_trailing_ws",
		"Content-Type: multipart/mixed; boundary=ws\r\n"
		"\r\n"
		"preamble\r\n"
		"--ws   \x09""\r\n"
		"\r\n"
		"A\r\n"
		"--ws--  \r\n"
		"epilogue\r\n"
		"",
		"((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1 0 NIL NIL NIL NIL) \"MIXED\" (\"BOUNDARY\" \"ws\") NIL NIL NIL)",
		"((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1 0) \"MIXED\")",
		"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)" },
	{ "lf_only",
		"Subject: lf\r\n"
		"Content-Type: multipart/mixed; boundary=q\r\n"
		"\r\n"
		"--q\r\n"
		"\r\n"
		"x\r\n"
		"--q--\r\n"
		"",
		"((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1 0 NIL NIL NIL NIL) \"MIXED\" (\"BOUNDARY\" \"q\") NIL NIL NIL)",
		"((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1 0) \"MIXED\")",
		"(NIL \"lf\" NIL NIL NIL NIL NIL NIL NIL NIL)" },
	{ "no_blank_line",
		"Subject: only header\r\n"
		"From: x@y.z",
		"(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0 NIL NIL NIL NIL)",
		"(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0)",
		"(NIL \"only header\" ((NIL NIL \"x\" \"y.z\")) ((NIL NIL \"x\" \"y.z\")) ((NIL NIL \"x\" \"y.z\")) NIL NIL NIL NIL NIL)" },
	{ "empty",
		"",
		"(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0 NIL NIL NIL NIL)",
		"(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0)",
		"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)" },
	{ "header_only_part",
		"Content-Type: multipart/mixed; boundary=h\r\n"
		"\r\n"
		"--h\r\n"
		"Content-Type: text/plain\r\n"
		"--h\r\n"
		"\r\n"
		"body\r\n"
		"--h--\r\n"
		"",
		"((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0 NIL NIL NIL NIL)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 4 0 NIL NIL NIL NIL) \"MIXED\" (\"BOUNDARY\" \"h\") NIL NIL NIL)",
		"((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 4 0) \"MIXED\")",
		"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)" },
	{ "bad_content_type",
		"Content-Type: garbage\r\n"
		"Content-Transfer-Encoding: BASE64\r\n"
		"\r\n"
		"!!!notbase64\r\n"
		"",
		"(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"BASE64\" 14 1 NIL NIL NIL NIL)",
		"(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"BASE64\" 14 1)",
		"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)" },
	{ "unquoted_boundary_specials",
		"Content-Type: multipart/mixed; boundary==_Part_1/2?x\r\n"
		"\r\n"
		"--=_Part_1/2?x\r\n"
		"\r\n"
		"ok\r\n"
		"--=_Part_1/2?x--\r\n"
		"",
		"((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 2 0 NIL NIL NIL NIL) \"MIXED\" (\"BOUNDARY\" \"=_Part_1/2?x\") NIL NIL NIL)",
		"((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 2 0) \"MIXED\")",
		"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)" },
	{ "message_global",
		"Content-Type: message/global\r\n"
		"\r\n"
		"Subject: g\r\n"
		"\r\n"
		"global body\r\n"
		"",
		"(\"MESSAGE\" \"GLOBAL\" NIL NIL NIL \"7BIT\" 27 (NIL \"g\" NIL NIL NIL NIL NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 13 1 NIL NIL NIL NIL) 3 NIL NIL NIL NIL)",
		"(\"MESSAGE\" \"GLOBAL\" NIL NIL NIL \"7BIT\" 27 (NIL \"g\" NIL NIL NIL NIL NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 13 1) 3)",
		"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)" },
	{ "language_location_md5",
		"Content-Type: text/plain; format=flowed\r\n"
		"Content-Language: en\r\n"
		"Content-Location: http://example.org/x\r\n"
		"Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\n"
		"Content-ID: <cid@x>\r\n"
		"Content-Description: a description\r\n"
		"\r\n"
		"x\r\n"
		"",
		"(\"TEXT\" \"PLAIN\" (\"FORMAT\" \"flowed\" \"CHARSET\" \"US-ASCII\") \"<cid@x>\" \"a description\" \"7BIT\" 3 1 \"Q2hlY2sgSW50ZWdyaXR5IQ==\" NIL \"en\" \"http://example.org/x\")",
		"(\"TEXT\" \"PLAIN\" (\"FORMAT\" \"flowed\" \"CHARSET\" \"US-ASCII\") \"<cid@x>\" \"a description\" \"7BIT\" 3 1)",
		"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)" },
	{ "address_forms",
		"From: \"Joe \\\"Q\\\" Public\" <joe@example.com>\r\n"
		"Sender: joe@example.com (Joe Public)\r\n"
		"Reply-To: Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>\r\n"
		"To: <boss@nil.test>, \"Giant; \\\"Big\\\" Box\" <sysservices@example.net>\r\n"
		"\r\n"
		"",
		"(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0 NIL NIL NIL NIL)",
		"(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0)",
		"(NIL NIL ((\"Joe \\\"Q\\\" Public\" NIL \"joe\" \"example.com\")) ((\"Joe Public\" NIL \"joe\" \"example.com\")) ((\"Mary Smith\" NIL \"mary\" \"x.test\")(NIL NIL \"jdoe\" \"example.org\")(\"Who?\" NIL \"one\" \"y.test\")) ((NIL NIL \"boss\" \"nil.test\")(\"Giant; \\\"Big\\\" Box\" NIL \"sysservices\" \"example.net\")) NIL NIL NIL NIL)" },
	{ "eight_bit_header",
		"Subject: caf\xc3""\xa9"" \"quoted\"\r\n"
		"\r\n"
		"x\r\n"
		"",
		"(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 1 NIL NIL NIL NIL)",
		"(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 1)",
		"(NIL {14}\r\ncaf\xc3\xa9 \"quoted\" NIL NIL NIL NIL NIL NIL NIL NIL)" },
};

#define N_GOLDEN (sizeof(goldens) / sizeof(goldens[0]))

/* ---- helpers -------------------------------------------------------------------------------------- */

static struct mime_message *parse_split(const char *msg, size_t len, const size_t *cuts, size_t ncuts)
{
	struct mime_parser *p = mime_parser_new();
	size_t start = 0;

	for (size_t i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : len;
		mime_parser_feed(p, msg + start, end - start);
		start = end;
	}
	return mime_parser_finish(p);
}

static struct mime_message *parse(const char *msg, size_t len)
{
	return parse_split(msg, len, NULL, 0);
}

static struct mime_message *parse_bytewise(const char *msg, size_t len)
{
	struct mime_parser *p = mime_parser_new();

	for (size_t i = 0; i < len; i++)
		mime_parser_feed(p, msg + i, 1);
	return mime_parser_finish(p);
}

static uint64_t rng_state = 88172645463325252ULL;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static struct mime_message *parse_random(const char *msg, size_t len)
{
	size_t cuts[16], n = 0;

	for (size_t pos = 0; n < 16 && len > 0;) {
		pos += 1 + rng() % (len / 4 + 1);
		if (pos >= len)
			break;
		cuts[n++] = pos;
	}
	return parse_split(msg, len, cuts, n);
}

/* Everything the tree says, offsets included, as text. */
static void dump_part(const struct mime_part *p, struct buf *out, int depth)
{
	(void)buf_appendf(out, "%d h=%llu+%llu b=%llu+%llu l=%u %s/%s %s|", depth,
			(unsigned long long)p->header_offset, (unsigned long long)p->header_size,
			(unsigned long long)p->body_offset, (unsigned long long)p->body_size, p->body_lines, p->type,
			p->subtype, p->encoding);
	if (p->envelope != NULL)
		mime_imap_envelope(p->envelope, out);
	for (const struct mime_part *c = p->children; c != NULL; c = c->next)
		dump_part(c, out, depth + 1);
}

static char *dump(const struct mime_message *m)
{
	struct buf b;

	buf_init(&b, 0);
	(void)buf_appendf(&b, "parts=%u limits=%d ", m->part_count, m->limits_hit);
	dump_part(m->root, &b, 0);
	mime_imap_bodystructure(m, true, &b);
	mime_imap_envelope(&m->envelope, &b);
	return b.data;
}

static char *render(const struct mime_message *m, int what)
{
	struct buf b;

	buf_init(&b, 0);
	if (what == 0)
		mime_imap_bodystructure(m, true, &b);
	else if (what == 1)
		mime_imap_bodystructure(m, false, &b);
	else
		mime_imap_envelope(&m->envelope, &b);
	if (b.data == NULL)
		(void)buf_append(&b, "", 0);
	return b.data;
}

/* ---- golden BODYSTRUCTURE / BODY / ENVELOPE ---------------------------------------------------------- */

static void test_golden(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_GOLDEN; i++) {
		const struct golden *g = &goldens[i];
		struct mime_message *m = parse(g->msg, strlen(g->msg));
		char *bs = render(m, 0), *b = render(m, 1), *env = render(m, 2);

		if (strcmp(bs, g->bodystructure) != 0 || strcmp(b, g->body) != 0 || strcmp(env, g->envelope) != 0)
			fail_msg("case %s:\n bodystructure %s\n body %s\n envelope %s", g->name, bs, b, env);
		free(bs);
		free(b);
		free(env);
		mime_message_free(m);
	}
}

/* Whole, byte by byte and in random pieces: the same tree every time. */
static void test_any_split(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_GOLDEN; i++) {
		const char *msg = goldens[i].msg;
		size_t len = strlen(msg);
		struct mime_message *whole = parse(msg, len);
		char *want = dump(whole);

		struct mime_message *bytes = parse_bytewise(msg, len);
		char *got = dump(bytes);
		if (strcmp(want, got) != 0)
			fail_msg("case %s byte by byte:\n%s\n%s", goldens[i].name, want, got);
		free(got);
		mime_message_free(bytes);
		for (int k = 0; k < 50; k++) {
			struct mime_message *r = parse_random(msg, len);
			got = dump(r);
			if (strcmp(want, got) != 0)
				fail_msg("case %s random split %d:\n%s\n%s", goldens[i].name, k, want, got);
			free(got);
			mime_message_free(r);
		}
		free(want);
		mime_message_free(whole);
	}
}

static void test_serialize_roundtrip(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_GOLDEN; i++) {
		struct mime_message *m = parse(goldens[i].msg, strlen(goldens[i].msg));
		struct buf blob;
		buf_init(&blob, 0);
		mime_message_serialize(m, &blob);
		struct mime_message *d = mime_message_deserialize(blob.data, blob.len);
		assert_non_null(d);
		char *a = dump(m), *b = dump(d);
		assert_string_equal(a, b);
		free(a);
		free(b);
		/* every truncation is refused, never misread */
		for (size_t cut = 0; cut < blob.len; cut++)
			assert_null(mime_message_deserialize(blob.data, cut));
		blob.data[0] ^= 0x55; /* another version */
		assert_null(mime_message_deserialize(blob.data, blob.len));
		buf_free(&blob);
		mime_message_free(d);
		mime_message_free(m);
	}
	assert_null(mime_message_deserialize("", 0));
	assert_null(mime_message_deserialize("\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11));
}

/* ---- offsets ------------------------------------------------------------------------------------------- */

static const struct mime_part *child(const struct mime_part *p, int n)
{
	const struct mime_part *c = p->children;

	while (c != NULL && n-- > 0)
		c = c->next;
	assert_non_null(c);
	return c;
}

/* Offsets against the text itself: header + blank line, then the body up to the CRLF before the delimiter. */
static void test_offsets(void **state)
{
	static const char msg[] = "Content-Type: multipart/mixed; boundary=abc\r\n" /* 45 */
				  "\r\n"                                            /* 47 */
				  "pre\r\n"                                         /* 52 */
				  "--abc\r\n"                                       /* 59 */
				  "\r\n"                                            /* 61 */
				  "hello\r\n"                                       /* 68 */
				  "--abc\r\n"                                       /* 75 */
				  "Content-Type: text/html\r\n"                     /* 100 */
				  "\r\n"                                            /* 102 */
				  "<b>x</b>\r\n\r\n"                                /* 114 */
				  "--abc--   \r\n"                                  /* 126 */
				  "epi\r\n";                                        /* 131 */
	(void)state;
	struct mime_message *m = parse(msg, sizeof(msg) - 1);
	const struct mime_part *r = m->root, *a = child(r, 0), *b = child(r, 1);

	assert_int_equal(r->header_offset, 0);
	assert_int_equal(r->header_size, 47);
	assert_int_equal(r->body_offset, 47);
	assert_int_equal(r->body_size, 131 - 47);
	assert_int_equal(r->body_lines, 11);
	assert_int_equal(a->header_offset, 59);
	assert_int_equal(a->header_size, 2);
	assert_int_equal(a->body_offset, 61);
	assert_int_equal(a->body_size, 5); /* "hello": the CRLF is the delimiter's */
	assert_int_equal(a->body_lines, 0);
	assert_int_equal(b->header_offset, 75);
	assert_int_equal(b->header_size, 27);
	assert_int_equal(b->body_offset, 102);
	assert_int_equal(b->body_size, 10);
	assert_int_equal(b->body_lines, 1);
	assert_null(b->next);
	assert_false(m->limits_hit);
	assert_int_equal(m->part_count, 3);
	mime_message_free(m);
}

/* A CR alone is not a line break, and an LF alone is. */
static void test_line_breaks(void **state)
{
	static const char msg[] = "Content-Type: multipart/mixed; boundary=x\n\n--x\n\na\rb\n--x\r\n\r\nc\n--x--";
	(void)state;
	struct mime_message *m = parse(msg, sizeof(msg) - 1);
	const struct mime_part *a = child(m->root, 0), *b = child(m->root, 1);

	assert_int_equal(m->root->header_size, 43);
	assert_int_equal(a->body_size, 3);
	assert_int_equal(a->body_lines, 0);
	assert_int_equal(b->body_size, 1);
	assert_int_equal(m->root->body_offset + m->root->body_size, sizeof(msg) - 1);
	mime_message_free(m);
}

static void test_nul_and_8bit(void **state)
{
	static const char msg[] = "Subject: a\0b\xff\r\nX: \x80\r\nbroken header line\r\n\r\nbody\0with\0nuls\r\n";
	(void)state;
	struct mime_message *m = parse(msg, sizeof(msg) - 1);

	assert_int_equal(m->root->header_size, 43);
	assert_int_equal(m->root->body_size, sizeof(msg) - 1 - 43);
	assert_string_equal(m->envelope.subject, "a"); /* the NUL ends the C string, not the parse */
	mime_message_free(m);
}

/* ---- limits --------------------------------------------------------------------------------------------- */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_many_parts(void **state)
{
	struct buf b;
	(void)state;

	buf_init(&b, 0);
	(void)buf_appendf(&b, "Content-Type: multipart/mixed; boundary=p\r\n\r\n");
	for (int i = 0; i < 10000; i++)
		(void)buf_appendf(&b, "--p\r\nContent-Type: text/plain\r\n\r\npart %d\r\n", i);
	(void)buf_appendf(&b, "--p--\r\n");
	double t0 = now();
	struct mime_message *m = parse(b.data, b.len);
	double dt = now() - t0;
	assert_true(m->limits_hit);
	assert_int_equal(m->part_count, MIME_PARTS_MAX);
	/* the rest is the last part's body: the tree still covers every byte */
	assert_int_equal(m->root->body_offset + m->root->body_size, b.len);
	struct buf bs;
	buf_init(&bs, 0);
	mime_imap_bodystructure(m, true, &bs);
	assert_true(bs.len > 0);
	buf_free(&bs);
	print_message("10000 parts: %.2f ms\n", dt * 1e3);
	assert_true(dt < 1.0);
	mime_message_free(m);
	buf_free(&b);
}

static void test_deep_nesting(void **state)
{
	struct buf b;
	(void)state;

	buf_init(&b, 0);
	for (int i = 0; i < 1000; i++)
		(void)buf_appendf(&b, "Content-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n--b%d\r\n", i, i);
	(void)buf_appendf(&b, "\r\ndeep\r\n");
	for (int i = 999; i >= 0; i--)
		(void)buf_appendf(&b, "--b%d--\r\n", i);
	double t0 = now();
	struct mime_message *m = parse(b.data, b.len);
	double dt = now() - t0;
	assert_true(m->limits_hit);
	int depth = 0;
	for (const struct mime_part *p = m->root; p->children != NULL; p = p->children)
		depth++;
	assert_int_equal(depth, MIME_DEPTH_MAX);
	struct buf bs;
	buf_init(&bs, 0);
	mime_imap_bodystructure(m, true, &bs);
	assert_true(bs.len > 0);
	buf_free(&bs);
	print_message("1000 deep: %.2f ms\n", dt * 1e3);
	assert_true(dt < 1.0);
	mime_message_free(m);

	/* 1000 nested message/rfc822 */
	buf_reset(&b);
	for (int i = 0; i < 1000; i++)
		(void)buf_appendf(&b, "Subject: level %d\r\nContent-Type: message/rfc822\r\n\r\n", i);
	(void)buf_appendf(&b, "\r\nend\r\n");
	m = parse(b.data, b.len);
	assert_true(m->limits_hit);
	assert_int_equal(m->root->body_offset + m->root->body_size, b.len);
	mime_message_free(m);
	buf_free(&b);
}

static void test_header_limit(void **state)
{
	struct buf b;
	(void)state;

	buf_init(&b, 0);
	(void)buf_appendf(&b, "Subject: big\r\n");
	while (b.len < MIME_HEADER_MAX + 1000)
		(void)buf_appendf(&b, "X-Filler: %0100d\r\n", 7);
	(void)buf_appendf(&b, "\r\nbody\r\n");
	struct mime_message *m = parse_bytewise(b.data, b.len);
	assert_true(m->limits_hit);
	assert_int_equal(m->root->header_size, MIME_HEADER_MAX);
	assert_int_equal(m->root->body_offset, MIME_HEADER_MAX);
	assert_int_equal(m->root->body_size, b.len - MIME_HEADER_MAX);
	assert_string_equal(m->envelope.subject, "big");
	mime_message_free(m);

	/* one line longer than the limit, no line break at all */
	buf_reset(&b);
	while (b.len < MIME_HEADER_MAX * 2)
		(void)buf_append(&b, "aaaaaaaaaaaaaaaa", 16);
	m = parse(b.data, b.len);
	assert_true(m->limits_hit);
	assert_int_equal(m->root->header_size + m->root->body_size, b.len);
	mime_message_free(m);
	buf_free(&b);
}

/* ---- sections --------------------------------------------------------------------------------------------- */

static const char section_msg[] =
	"Content-Type: multipart/mixed; boundary=o\r\n\r\n"
	"--o\r\nContent-Type: multipart/alternative; boundary=i\r\n\r\n"
	"--i\r\n\r\n1.1\r\n--i\r\nContent-Type: text/html\r\n\r\n1.2\r\n--i--\r\n"
	"--o\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\n2.1 body\r\n"
	"--o\r\nContent-Type: message/rfc822\r\n\r\nSubject: multi\r\nContent-Type: multipart/mixed; boundary=m\r\n\r\n"
	"--m\r\n\r\n3.1\r\n--m\r\n\r\n3.2\r\n--m--\r\n"
	"--o--\r\n";

static void check_section(const struct mime_message *m, const char *spec, const char *body)
{
	const struct mime_part *p;

	if (body == NULL) {
		if (mime_section_part(m, spec, &p) != -1)
			fail_msg("section '%s' should not exist", spec);
		return;
	}
	if (mime_section_part(m, spec, &p) != 0)
		fail_msg("section '%s' not found", spec);
	size_t len = strlen(body);
	if (p->body_size != len || memcmp(section_msg + p->body_offset, body, len) != 0)
		fail_msg("section '%s': got '%.*s'", spec, (int)p->body_size, section_msg + p->body_offset);
}

static void test_sections(void **state)
{
	(void)state;
	struct mime_message *m = parse(section_msg, sizeof(section_msg) - 1);
	const struct mime_part *p;

	assert_int_equal(mime_section_part(m, "", &p), 0);
	assert_ptr_equal(p, m->root);
	check_section(m, "1.1", "1.1");
	check_section(m, "1.2", "1.2");
	check_section(m, "2.1", "2.1 body");
	check_section(m, "3.1", "3.1");
	check_section(m, "3.2", "3.2");
	assert_int_equal(mime_section_part(m, "2", &p), 0);
	assert_string_equal(p->type, "message");
	assert_string_equal(p->envelope->subject, "inner");
	assert_int_equal(mime_section_part(m, "1", &p), 0);
	assert_string_equal(p->subtype, "alternative");
	static const char *const bad[] = { "4", "0", "1.3", "2.2", "1.1.1", "1.", ".1", "1..2", "a", "01",
		"3.3", "99999999999999999999", "1 ", "-1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		check_section(m, bad[i], NULL);
	mime_message_free(m);

	/* a single-part message: "1" is its body */
	static const char single[] = "Subject: s\r\n\r\nonly\r\n";
	m = parse(single, sizeof(single) - 1);
	assert_int_equal(mime_section_part(m, "1", &p), 0);
	assert_ptr_equal(p, m->root);
	assert_int_equal(mime_section_part(m, "2", &p), -1);
	assert_int_equal(mime_section_part(m, "1.1", &p), -1);
	mime_message_free(m);
}

/* ---- header filter / value -------------------------------------------------------------------------------- */

static const char hdr_block[] = "From: a@b.c\r\nSubject: folded\r\n  line\r\nTo: x@y.z\r\nsubject: second\r\n"
				"no colon here\r\nX-Empty:\r\n\r\nbody";

static void test_header_filter(void **state)
{
	struct buf out;
	static const char *const names[] = { "SUBJECT", "x-empty" };
	(void)state;

	buf_init(&out, 0);
	mime_header_filter(slice_cstr(hdr_block), names, 2, false, &out);
	assert_string_equal(out.data, "Subject: folded\r\n  line\r\nsubject: second\r\nX-Empty:\r\n\r\n");
	buf_reset(&out);
	mime_header_filter(slice_cstr(hdr_block), names, 2, true, &out);
	assert_string_equal(out.data, "From: a@b.c\r\nTo: x@y.z\r\n\r\n");
	buf_reset(&out);
	mime_header_filter(slice_cstr(hdr_block), names, 0, false, &out);
	assert_string_equal(out.data, "\r\n");
	buf_reset(&out);
	/* a block cut off without its last line break */
	mime_header_filter(slice_cstr("Subject: x"), names, 1, false, &out);
	assert_string_equal(out.data, "Subject: x\r\n\r\n");
	buf_reset(&out);
	assert_int_equal(mime_header_value(slice_cstr(hdr_block), "subject", &out), 1);
	assert_string_equal(out.data, "folded  line");
	buf_reset(&out);
	assert_int_equal(mime_header_value(slice_cstr(hdr_block), "x-empty", &out), 1);
	assert_int_equal(out.len, 0);
	assert_int_equal(mime_header_value(slice_cstr(hdr_block), "cc", &out), 0);
	assert_int_equal(mime_header_value(slice_cstr(hdr_block), "no colon here", &out), 0);
	buf_free(&out);
}

/* ---- decoders ----------------------------------------------------------------------------------------------- */

struct decode_case {
	const char *encoding, *in, *out;
	int rc;
};

static const struct decode_case transfer_cases[] = {
	{ "base64", "SGVsbG8gd29ybGQh", "Hello world!", 0 },
	{ "BASE64", "SGVs\r\nbG8=\r\n", "Hello", 0 },
	{ "base64", "SGVsbG8", "Hel" "lo", 0 },
	{ "base64", "S!GV*sbG8=", "Hello", -1 },
	{ "base64", "", "", 0 },
	{ "quoted-printable", "caf=C3=A9 =\r\nsoft\r\nnext", "caf\xc3\xa9 soft\r\nnext", 0 },
	{ "quoted-printable", "trailing   \r\nx=3d", "trailing\r\nx=", 0 },
	{ "quoted-printable", "bad =G1 and =", "bad =G1 and ", -1 },
	{ "quoted-printable", "a=\nb", "ab", 0 },
	{ "7bit", "as is=41", "as is=41", 0 },
	{ "x-unknown", "raw", "raw", 0 },
};

static void test_decode_transfer(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(transfer_cases) / sizeof(transfer_cases[0]); i++) {
		const struct decode_case *c = &transfer_cases[i];
		struct buf out;
		buf_init(&out, 0);
		int rc = mime_decode_transfer(c->encoding, slice_cstr(c->in), &out);
		if (rc != c->rc || out.len != strlen(c->out) || memcmp(out.data != NULL ? out.data : "", c->out, out.len) != 0)
			fail_msg("%s '%s': rc %d, '%.*s'", c->encoding, c->in, rc, (int)out.len, out.data);
		buf_free(&out);
	}
}

struct words_case {
	const char *in, *out;
};

static const struct words_case words_cases[] = {
	{ "plain text", "plain text" },
	{ "=?UTF-8?B?SMOpbGxv?=", "H\xc3\xa9llo" },
	{ "=?iso-8859-1?q?caf=E9_cr=E8me?=", "caf\xc3\xa9 cr\xc3\xa8me" },
	/* RFC 2047 8: space between adjacent words disappears, not around text */
	{ "=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=", "ab" },
	{ "=?ISO-8859-1?Q?a?=  \r\n =?ISO-8859-1?Q?b?=", "ab" },
	{ "=?ISO-8859-1?Q?a?= b", "a b" },
	{ "x =?ISO-8859-1?Q?a?=", "x a" },
	/* a character split across two words */
	{ "=?UTF-8?B?4oI=?= =?UTF-8?B?rA==?=", "\xe2\x82\xac" },
	/* RFC 2231 5 language suffix */
	{ "=?US-ASCII*EN?Q?Keith_Moore?=", "Keith Moore" },
	{ "=?x-unknown-charset?Q?abc?= rest", "=?x-unknown-charset?Q?abc?= rest" },
	{ "=?UTF-8?X?abc?=", "=?UTF-8?X?abc?=" },
	{ "=?UTF-8?Q?unterminated", "=?UTF-8?Q?unterminated" },
	{ "=?UTF-8?Q?a b?=", "=?UTF-8?Q?a b?=" },
	{ "=?UTF-8?B?/w==?=", "\xef\xbf\xbd" },
	{ "raw 8bit caf\xc3\xa9 and bad \xff", "raw 8bit caf\xc3\xa9 and bad \xef\xbf\xbd" },
	{ "=?koi8-r?B?8NLJ18XU?=", "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82" },
	{ "=?UTF-8?Q?=?=", "=" },
	{ "", "" },
};

static void test_decode_words(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(words_cases) / sizeof(words_cases[0]); i++) {
		struct buf out;
		buf_init(&out, 0);
		mime_decode_words(slice_cstr(words_cases[i].in), &out);
		if (strcmp(out.data != NULL ? out.data : "", words_cases[i].out) != 0)
			fail_msg("'%s' -> '%s'", words_cases[i].in, out.data);
		buf_free(&out);
	}
}

static void test_charset(void **state)
{
	struct buf out;
	(void)state;

	buf_init(&out, 0);
	assert_int_equal(mime_charset_to_utf8("ISO-8859-15", slice_cstr("\xa4"), &out), 0);
	assert_string_equal(out.data, "\xe2\x82\xac");
	buf_reset(&out);
	assert_int_equal(mime_charset_to_utf8("windows-1252", slice_cstr("\x93q\x94"), &out), 0);
	assert_string_equal(out.data, "\xe2\x80\x9cq\xe2\x80\x9d");
	buf_reset(&out);
	/* an invalid sequence becomes U+FFFD and the rest survives */
	assert_int_equal(mime_charset_to_utf8("UTF-8", slice_cstr("a\xc3(b\xed\xa0\x80z"), &out), 0);
	assert_string_equal(out.data, "a\xef\xbf\xbd(b\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdz");
	buf_reset(&out);
	assert_int_equal(mime_charset_to_utf8("SHIFT_JIS", slice_cstr("\x82\xa0\x82"), &out), 0);
	assert_string_equal(out.data, "\xe3\x81\x82\xef\xbf\xbd");
	buf_reset(&out);
	assert_int_equal(mime_charset_to_utf8("no-such-charset", slice_cstr("x"), &out), -1);
	buf_free(&out);
}

static void test_rfc2231(void **state)
{
	struct mime_arena *a = mime_arena_new();
	struct buf out;
	(void)state;

	struct mime_param *p = mime_params_parse(a, slice_cstr(
		"; title*2=\"c\"; title*0=\"a\"; title*1=b; Other=\"q\\\"x\"; flag; empty=\"\";"
		" name*=UTF-8''%e2%82%ac; x*0*=iso-8859-1'de'caf%E9; x*1=\" 100%\""));
	assert_string_equal(p->name, "title");
	assert_string_equal(p->value, "abc");
	p = p->next;
	assert_string_equal(p->name, "other");
	assert_string_equal(p->value, "q\"x");
	p = p->next;
	assert_string_equal(p->name, "empty");
	assert_string_equal(p->value, "");
	p = p->next;
	assert_string_equal(p->name, "name*");
	assert_string_equal(p->value, "UTF-8''%e2%82%ac");
	p = p->next;
	assert_string_equal(p->name, "x*");
	assert_string_equal(p->value, "iso-8859-1'de'caf%E9 100%25");
	assert_null(p->next);

	buf_init(&out, 0);
	mime_rfc2231_decode(slice_cstr("UTF-8''%e2%82%ac"), &out);
	assert_string_equal(out.data, "\xe2\x82\xac");
	buf_reset(&out);
	mime_rfc2231_decode(slice_cstr("iso-8859-1'de'caf%E9 100%25"), &out);
	assert_string_equal(out.data, "caf\xc3\xa9 100%");
	buf_reset(&out);
	mime_rfc2231_decode(slice_cstr("no quotes %41"), &out);
	assert_string_equal(out.data, "no quotes %41");
	buf_free(&out);
	mime_arena_free(a);
}

/* ---- addresses ---------------------------------------------------------------------------------------------- */

struct addr_case {
	const char *in, *out;
};

static const struct addr_case addr_cases[] = {
	{ "a@b.c", "((NIL NIL \"a\" \"b.c\"))" },
	{ "John Doe <jdoe@machine.example>", "((\"John Doe\" NIL \"jdoe\" \"machine.example\"))" },
	{ "\"Doe, John\" <j@x.y>, k@x.y", "((\"Doe, John\" NIL \"j\" \"x.y\")(NIL NIL \"k\" \"x.y\"))" },
	{ "A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;",
	  "((NIL NIL \"A Group\" NIL)(\"Ed Jones\" NIL \"c\" \"a.test\")(NIL NIL \"joe\" \"where.test\")"
	  "(\"John\" NIL \"jdoe\" \"one.test\")(NIL NIL NIL NIL))" },
	{ "Undisclosed recipients:;", "((NIL NIL \"Undisclosed recipients\" NIL)(NIL NIL NIL NIL))" },
	{ "Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>",
	  "((\"Pete\" NIL \"pete\" \"silly.test\"))" },
	{ "\"quoted local\"@example.org", "((NIL NIL \"quoted local\" \"example.org\"))" },
	{ "<@a.example,@b.example:user@c.example>", "((NIL \"@a.example,@b.example\" \"user\" \"c.example\"))" },
	{ "john.q . public @ example . com", "((NIL NIL \"john.q.public\" \"example.com\"))" },
	{ "x@[192.0.2.1]", "((NIL NIL \"x\" \"[192.0.2.1]\"))" },
	{ "user (User Name)", "((\"User Name\" NIL \"user\" \"MISSING_DOMAIN\"))" },
	{ "<>", "((NIL NIL \"MISSING_MAILBOX\" \"MISSING_DOMAIN\"))" },
	{ ",,a@b.c,,", "((NIL NIL \"a\" \"b.c\"))" },
	{ "Unterminated <x@y", "((\"Unterminated\" NIL \"x\" \"y\"))" },
	{ "\"unterminated quote <a@b>", "((NIL NIL \"unterminated quote <a@b>\" \"MISSING_DOMAIN\"))" },
	{ "=?UTF-8?Q?J=C3=B6?= <j@x>", "((\"=?UTF-8?Q?J=C3=B6?=\" NIL \"j\" \"x\"))" },
	{ "", "NIL" },
};

static void test_addresses(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(addr_cases) / sizeof(addr_cases[0]); i++) {
		struct mime_arena *a = mime_arena_new();
		struct mime_envelope env;
		struct buf out;

		memset(&env, 0, sizeof(env));
		env.to = mime_address_list_parse(a, slice_cstr(addr_cases[i].in));
		buf_init(&out, 0);
		mime_imap_envelope(&env, &out);
		/* (NIL NIL NIL NIL NIL <to> NIL NIL NIL NIL) */
		const char *to = out.data + strlen("(NIL NIL NIL NIL NIL ");
		size_t tolen = out.len - strlen("(NIL NIL NIL NIL NIL ") - strlen(" NIL NIL NIL NIL)");
		if (tolen != strlen(addr_cases[i].out) || memcmp(to, addr_cases[i].out, tolen) != 0)
			fail_msg("'%s' -> %.*s", addr_cases[i].in, (int)tolen, to);
		buf_free(&out);
		mime_arena_free(a);
	}
}

/* ---- search text --------------------------------------------------------------------------------------------- */

static void test_search_text(void **state)
{
	static const char msg[] =
		"Subject: =?UTF-8?B?SMOpbGxv?=\r\nFrom: =?ISO-8859-1?Q?Andr=E9?= <a@b.c>\r\n"
		"Content-Type: multipart/mixed; boundary=s\r\n\r\n"
		"--s\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
		"caf=E9 cr=E8me\r\n"
		"--s\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
		"PGI+d8O2cmxkPC9iPg==\r\n"
		"--s\r\nContent-Type: application/octet-stream\r\n\r\nSECRETBINARY\r\n"
		"--s\r\nContent-Type: message/rfc822\r\n\r\nSubject: =?UTF-8?Q?inn=C3=A9r?=\r\n\r\ninner body\r\n"
		"--s--\r\n";
	struct buf out;
	(void)state;

	struct mime_message *m = parse(msg, sizeof(msg) - 1);
	buf_init(&out, 0);
	mime_search_text(m, slice_make(msg, sizeof(msg) - 1), true, false, &out);
	assert_non_null(strstr(out.data, "H\xc3\xa9llo"));
	assert_non_null(strstr(out.data, "Andr\xc3\xa9 <a@b.c>"));
	assert_null(strstr(out.data, "caf"));
	buf_reset(&out);
	mime_search_text(m, slice_make(msg, sizeof(msg) - 1), false, true, &out);
	assert_null(strstr(out.data, "H\xc3\xa9llo"));
	assert_non_null(strstr(out.data, "caf\xc3\xa9 cr\xc3\xa8me"));
	assert_non_null(strstr(out.data, "<b>w\xc3\xb6rld</b>"));
	assert_non_null(strstr(out.data, "inn\xc3\xa9r"));
	assert_non_null(strstr(out.data, "inner body"));
	assert_null(strstr(out.data, "SECRETBINARY"));
	buf_free(&out);
	/* a message shorter than its tree (a stale cache) is clamped, not overread */
	buf_init(&out, 0);
	mime_search_text(m, slice_make(msg, 40), true, true, &out);
	buf_free(&out);
	mime_message_free(m);
}

/* ---- speed ------------------------------------------------------------------------------------------------------ */

static void test_speed(void **state)
{
	struct buf b;
	(void)state;

	buf_init(&b, 0);
	(void)buf_appendf(&b, "Return-Path: <a@example.org>\r\nReceived: from mx.example.org by hermod; "
			"Tue, 2 Jan 2024 10:00:00 +0100\r\nFrom: Alice <alice@example.org>\r\n"
			"To: Bob <bob@example.com>, carol@example.com\r\nSubject: =?UTF-8?Q?Quarterly_r=C3=A9port?=\r\n"
			"Date: Tue, 2 Jan 2024 10:00:00 +0100\r\nMessage-ID: <abc@example.org>\r\nMIME-Version: 1.0\r\n"
			"Content-Type: multipart/alternative; boundary=\"=_b\"\r\n\r\n--=_b\r\n"
			"Content-Type: text/plain; charset=utf-8\r\n\r\n");
	while (b.len < 2600)
		(void)buf_appendf(&b, "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.\r\n");
	(void)buf_appendf(&b, "--=_b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n");
	while (b.len < 4000)
		(void)buf_appendf(&b, "<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit.</p>\r\n");
	(void)buf_appendf(&b, "--=_b--\r\n");
	int iterations = getenv("MIME_BENCH") != NULL ? 100000 : 10000;
	double t0 = now();
	for (int i = 0; i < iterations; i++) {
		struct mime_parser *p = mime_parser_new();
		mime_parser_feed(p, b.data, b.len);
		mime_message_free(mime_parser_finish(p));
	}
	double us = (now() - t0) / iterations * 1e6;
	print_message("parse of a %zu-byte message: %.2f us (%d iterations)\n", b.len, us, iterations);
	/* generous: sanitizer builds run several times slower */
	assert_true(us < 500.0);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_any_split),
		cmocka_unit_test(test_serialize_roundtrip),
		cmocka_unit_test(test_offsets),
		cmocka_unit_test(test_line_breaks),
		cmocka_unit_test(test_nul_and_8bit),
		cmocka_unit_test(test_many_parts),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_header_limit),
		cmocka_unit_test(test_sections),
		cmocka_unit_test(test_header_filter),
		cmocka_unit_test(test_decode_transfer),
		cmocka_unit_test(test_decode_words),
		cmocka_unit_test(test_charset),
		cmocka_unit_test(test_rfc2231),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_search_text),
		cmocka_unit_test(test_speed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
