/*
 * config_private: entry points for tests and the fuzzer, not for modules.
 */
#ifndef HERMOD_CONFIG_CONFIG_PRIVATE_H
#define HERMOD_CONFIG_CONFIG_PRIVATE_H

#include "config/config.h"

/* The largest configuration file accepted, in bytes. */
#define CONFIG_FILE_MAX_BYTES (1024 * 1024)

/*
 * Parses text (len bytes, need not be NUL-terminated) as if read from the
 * file `name` in the absolute directory `dir` (relative paths resolve
 * against it). Same contract as config_load.
 */
int config_parse_text(const char *name, const char *dir, const char *text, size_t len,
		      struct config **cfg_r, const char **errstr_r);

#endif
