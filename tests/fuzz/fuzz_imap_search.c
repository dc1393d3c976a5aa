/*
 * libFuzzer target: SEARCH arguments through the IMAP command parser into
 * imap_search_parse, then evaluation against a fixed message. Invariants:
 * no crash, no leak, evaluation returns 0 or 1 (the loader never fails).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap_parser.h"
#include "imap/imap_search.h"
#include "lib/log.h"
#include "mime/mime.h"
#include "store/store_mail.h"

static const char message[] = "From: =?UTF-8?Q?J=C3=BCrgen?= <j@example.org>\r\n"
			      "Subject: Re: fuzz\r\nDate: 1 Jan 2020 10:00 +0100\r\n"
			      "Content-Type: text/plain; charset=utf-8\r\n\r\nBody text ÉTÉ\r\n";
static struct mime_message *parsed;

static int load(void *arg, const struct mime_message **mime_r, struct slice *message_r)
{
	if (parsed == NULL) {
		struct mime_parser *p = mime_parser_new();
		mime_parser_feed(p, message, sizeof(message) - 1);
		parsed = mime_parser_finish(p);
	}
	*mime_r = parsed;
	*message_r = slice_make(message, sizeof(message) - 1);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char prefix[] = "t SEARCH ";
	struct store_mail mail = { .uid = 5, .flags = STORE_FLAG_SEEN, .keywords = "work", .internal_date = 1577869200,
				   .size = 100, .modseq = 3 };
	struct imap_search_msg msg = { .seq = 2, .mail = &mail, .max_seq = 4, .max_uid = 9, .load = load };
	struct imap_command cmd;
	struct imap_search_program prog;
	const char *err;
	char *text;

	if (size > 64 * 1024)
		return 0;
	log_set_level(LOG_LEVEL_ERROR);
	text = malloc(sizeof(prefix) + size);
	memcpy(text, prefix, sizeof(prefix) - 1);
	memcpy(text + sizeof(prefix) - 1, data, size);
	if (imap_parse_command(text, sizeof(prefix) - 1 + size, &cmd, &err) == 0) {
		if (imap_search_parse(cmd.args, cmd.arg_count, &prog, &err) == 0) {
			int r = imap_search_eval(&prog, &msg);
			if (r != 0 && r != 1)
				abort();
			struct buf words;
			buf_init(&words, 0);
			imap_search_fts_words(&prog, &words);
			buf_free(&words);
		}
		imap_search_free(&prog);
		imap_command_free(&cmd);
	}
	free(text);
	return 0;
}
