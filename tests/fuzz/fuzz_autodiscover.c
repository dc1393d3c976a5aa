/*
 * libFuzzer target: the Outlook autodiscover request reader (network bytes
 * from anyone). On success the address must be non-empty, trimmed, within
 * the buffer, free of markup characters and NULs, and found in the input;
 * on failure the error must be one of the reader's sentences.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "autoconfig/autoconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) ((cond) ? (void)0 : abort())

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char addr[64];
	const char *err = NULL;
	size_t len;

	if (autoconfig_outlook_request((const char *)data, size, addr, sizeof(addr), &err) < 0) {
		CHECK(err != NULL && strncmp(err, "the ", 4) == 0);
		return 0;
	}
	len = strlen(addr);
	CHECK(len > 0 && len < sizeof(addr));
	CHECK(strpbrk(addr, "<&") == NULL);
	CHECK(addr[0] != ' ' && addr[len - 1] != ' ' && addr[0] != '\n' && addr[len - 1] != '\n');
	CHECK(memmem(data, size, addr, len) != NULL);
	return 0;
}
