/*
 * libFuzzer target: an SMTP command line through smtp_parse_command, then
 * the argument parser its verb calls for, as the session does. Invariants
 * are checked with abort() so that a violation is a crash the fuzzer keeps.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) ((cond) ? (void)0 : abort())

/* A refusal is a complete reply: "ddd d.d.d text", printable, one line. */
static void check_reply(const char *reply)
{
	size_t i, len;

	CHECK(reply != NULL);
	len = strlen(reply);
	CHECK(len > 10 && len < 512);
	CHECK(reply[0] >= '4' && reply[0] <= '5');
	CHECK(reply[3] == ' ' && reply[4] == reply[0] && reply[5] == '.');
	for (i = 0; i < len; i++)
		CHECK((unsigned char)reply[i] >= 0x20 && (unsigned char)reply[i] != 0x7f);
}

static void check_path(const struct smtp_path *p)
{
	CHECK(strnlen(p->local, sizeof(p->local)) <= SMTP_LOCAL_MAX);
	CHECK(strnlen(p->domain, sizeof(p->domain)) <= SMTP_DOMAIN_MAX);
	CHECK(strnlen(p->address, sizeof(p->address)) <= SMTP_PATH_MAX - 2);
	if (p->null_path)
		CHECK(p->address[0] == '\0' && p->local[0] == '\0');
	else
		CHECK(p->address[0] != '\0');
}

static void check_args(const struct smtp_command *cmd, bool smtputf8)
{
	const char *reply = NULL;
	struct smtp_path path;
	char domain[SMTP_DOMAIN_MAX + 1];
	int rc = 0;

	switch (cmd->verb) {
	case SMTP_VERB_HELO:
	case SMTP_VERB_EHLO:
		rc = smtp_parse_helo(cmd->args, domain, sizeof(domain), &reply);
		if (rc == 0)
			CHECK(domain[0] != '\0' && strlen(domain) <= SMTP_DOMAIN_MAX);
		break;
	case SMTP_VERB_MAIL: {
		struct smtp_mail_params p;

		rc = smtp_parse_mail(cmd->args, &path, &p, &reply);
		if (rc == 0) {
			check_path(&path);
			CHECK(strlen(p.envid) <= SMTP_XTEXT_MAX && strlen(p.auth) <= SMTP_PATH_MAX);
		}
		break;
	}
	case SMTP_VERB_RCPT: {
		struct smtp_rcpt_params p;

		rc = smtp_parse_rcpt(cmd->args, smtputf8, &path, &p, &reply);
		if (rc == 0) {
			check_path(&path);
			CHECK(!path.null_path);
			CHECK(strnlen(p.orcpt, sizeof(p.orcpt)) < sizeof(p.orcpt));
		}
		break;
	}
	case SMTP_VERB_BDAT: {
		uint64_t size;
		bool last;

		rc = smtp_parse_bdat(cmd->args, &size, &last, &reply);
		break;
	}
	default:
		return;
	}
	if (rc < 0)
		check_reply(reply);
	else
		CHECK(rc == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_command cmd;
	const char *reply = NULL;
	const char *line;
	char *copy;

	if (size == 0)
		return 0;
	/*
	 * The first byte picks the SMTPUTF8 state for RCPT. The line is copied
	 * to a buffer of exactly its size, so that ASan sees any read past it.
	 */
	copy = malloc(size - 1 > 0 ? size - 1 : 1);
	if (copy == NULL)
		return 0;
	memcpy(copy, data + 1, size - 1);
	line = copy;
	if (smtp_parse_command(line, size - 1, &cmd, &reply) < 0) {
		check_reply(reply);
	} else {
		CHECK(cmd.args.p >= line && cmd.args.p + cmd.args.len <= line + size - 1);
		check_args(&cmd, data[0] & 1);
	}
	free(copy);
	return 0;
}
