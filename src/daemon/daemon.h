/*
 * daemon: `hermod serve`: wires configuration, store, network core and the
 * protocol servers into one event loop, and handles signals (SIGTERM and
 * SIGINT: graceful shutdown; SIGHUP: reload).
 */
#ifndef HERMOD_DAEMON_DAEMON_H
#define HERMOD_DAEMON_DAEMON_H

/* Runs in the foreground until a shutdown signal. Returns the exit status. */
int daemon_serve(const char *config_path);

#endif
