/*
 * cli_password: reading a new password from stdin or the terminal.
 *
 * The password is read with read(2) straight into a buffer we own, never
 * through stdio, so that no copy is left in a FILE buffer we cannot wipe;
 * every buffer is wiped with sodium_memzero before returning.
 */
#include "cli/cli.h"

#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "auth/password.h"
#include "lib/log.h"

/*
 * Set by a terminating signal while the terminal's echo is off: the read is
 * abandoned so that echo can be restored before the process ends.
 */
static volatile sig_atomic_t prompt_interrupted;

static void on_prompt_signal(int sig)
{
	prompt_interrupted = sig;
}


/*
 * Reads one line from fd into buf (NUL-terminated, line ending stripped).
 * Returns the length, or -1 with the error printed.
 */
static ssize_t read_line(int fd, char *buf, size_t size)
{
	size_t len = 0;

	for (;;) {
		char ch;
		ssize_t n = read(fd, &ch, 1);
		if (n < 0 && errno == EINTR && !prompt_interrupted)
			continue;
		if (n < 0) {
			cli_error("cannot read the password: %s", prompt_interrupted ? "interrupted" : strerror(errno));
			return -1;
		}
		if (n == 0 || ch == '\n')
			break;
		if (len + 1 >= size) {
			cli_error("password is too long: at most %d bytes", PASSWORD_MAX_LENGTH);
			return -1;
		}
		buf[len++] = ch;
	}
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	return (ssize_t)len;
}

/* Catches (or restores) the signals that would end us with echo still off. */
static void prompt_signals(bool catch, struct sigaction saved[3])
{
	static const int sigs[3] = { SIGINT, SIGTERM, SIGQUIT };
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_prompt_signal; /* no SA_RESTART: read(2) returns EINTR */
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < 3; i++) {
		if (catch)
			sigaction(sigs[i], &sa, &saved[i]);
		else
			sigaction(sigs[i], &saved[i], NULL);
	}
}

/* Prompts on stderr and reads one line from the terminal with echo off. */
static ssize_t prompt_noecho(const char *prompt, char *buf, size_t size)
{
	struct termios saved, quiet;
	struct sigaction saved_sigs[3];

	if (tcgetattr(STDIN_FILENO, &saved) < 0) {
		cli_error("cannot read the terminal settings: %s", strerror(errno));
		return -1;
	}
	quiet = saved;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	fputs(prompt, stderr);
	fflush(stderr);
	prompt_interrupted = 0;
	prompt_signals(true, saved_sigs);
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) < 0) {
		prompt_signals(false, saved_sigs);
		cli_error("cannot turn terminal echo off: %s", strerror(errno));
		return -1;
	}
	ssize_t len = read_line(STDIN_FILENO, buf, size);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
	prompt_signals(false, saved_sigs);
	fputc('\n', stderr);
	if (prompt_interrupted) {
		/* read_line reported it; now end the way the signal asked. */
		sodium_memzero(buf, size);
		raise(prompt_interrupted);
		return -1;
	}
	return len;
}

static int read_interactive(const char *whose, char *pw, char *again)
{
	char prompt[400];

	if (!isatty(STDIN_FILENO)) {
		cli_error("standard input is not a terminal: give the password on one line with --password-stdin");
		return -1;
	}
	snprintf(prompt, sizeof(prompt), "New password for %s: ", whose);
	if (prompt_noecho(prompt, pw, CLI_PASSWORD_BUF) < 0)
		return -1;
	snprintf(prompt, sizeof(prompt), "Repeat the password for %s: ", whose);
	if (prompt_noecho(prompt, again, CLI_PASSWORD_BUF) < 0)
		return -1;
	if (strcmp(pw, again) != 0) {
		cli_error("the two passwords do not match; nothing was changed");
		return -1;
	}
	return 0;
}

static int read_password(const struct cli_args *a, const char *whose, char *pw, char *again)
{
	if (!cli_opt_flag(a, "password-stdin"))
		return read_interactive(whose, pw, again);
	ssize_t len = read_line(STDIN_FILENO, pw, CLI_PASSWORD_BUF);
	if (len == 0) {
		cli_error("no password on standard input (one line expected)");
		return -1;
	}
	return len < 0 ? -1 : 0;
}

int cli_password_read_hash(const struct cli_args *a, const char *whose, char *hash_r, size_t hash_size)
{
	char pw[CLI_PASSWORD_BUF], again[CLI_PASSWORD_BUF], hash[PASSWORD_HASH_MAX], err[256];
	int r = -1;

	ASSERT(hash_size >= PASSWORD_HASH_MAX);
	pw[0] = again[0] = '\0';
	if (read_password(a, whose, pw, again) == 0) {
		if (password_hash(pw, hash, err, sizeof(err)) < 0) {
			cli_error("%s", err);
		} else {
			memcpy(hash_r, hash, PASSWORD_HASH_MAX);
			r = 0;
		}
	}
	sodium_memzero(pw, sizeof(pw));
	sodium_memzero(again, sizeof(again));
	return r;
}

int cli_password_read(const struct cli_args *a, const char *whose, char pw_r[CLI_PASSWORD_BUF])
{
	char again[CLI_PASSWORD_BUF];
	int r;

	pw_r[0] = again[0] = '\0';
	r = read_password(a, whose, pw_r, again);
	sodium_memzero(again, sizeof(again));
	if (r < 0)
		sodium_memzero(pw_r, CLI_PASSWORD_BUF);
	return r;
}
