/*
 * hermod: the single binary. `hermod serve` runs the daemon; every other
 * verb is an administration command (src/cli).
 *
 * Globals: none here. The daemon documents its own (event base, config
 * snapshot, signal flags) in src/daemon.
 */
#include <stdio.h>
#include <string.h>

#include "auth/password.h"
#include "cli/cli.h"
#include "config/config.h"
#include "lib/log.h"

/*
 * Takes `-c FILE`, `--config FILE` or `--config=FILE` out of argv wherever it
 * appears, so that it may follow the verb as well as precede it. The last
 * one wins. Returns the new argc, or -1 when the option has no value.
 */
static int take_config(int argc, char **argv, const char **path_r)
{
	int out = 0;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) {
			if (i + 1 >= argc)
				return -1;
			*path_r = argv[++i];
		} else if (strncmp(argv[i], "--config=", 9) == 0) {
			*path_r = argv[i] + 9;
		} else {
			argv[out++] = argv[i];
		}
	}
	argv[out] = NULL;
	return out;
}

int main(int argc, char **argv)
{
	const char *config_path = NULL;
	int n = take_config(argc - 1, argv + 1, &config_path);

	if (n < 0) {
		fprintf(stderr, "hermod: -c needs a configuration file\n");
		return CLI_USAGE;
	}
	if (config_path == NULL)
		config_path = config_default_path();
	if (password_init() < 0) {
		fprintf(stderr, "hermod: cannot initialise libsodium\n");
		return CLI_ERROR;
	}
	/* Administration commands print their own results; only warnings from below. */
	if (n < 1 || strcmp(argv[1], "serve") != 0)
		log_set_level(LOG_LEVEL_WARN);
	return cli_run(config_path, n, argv + 1);
}
