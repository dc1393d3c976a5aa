/*
 * imap_cmd: the IMAP command table (RFC 3501 6, RFC 9051 6 and the
 * extensions we announce) and the CAPABILITY list.
 *
 * Each row gives the states a command is valid in, its flags (UID form,
 * no EXPUNGE responses before its tagged reply, sends a password, needs a
 * writable mailbox) and its handler. The session checks all of that before
 * the handler runs, so handlers deal only with their own arguments.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "imap/imap_private.h"

#define S_ANY IMAP_STATES_ANY
#define S_NOAUTH IMAP_STATE_NOT_AUTHENTICATED
#define S_AUTH IMAP_STATES_AUTH
#define S_SEL IMAP_STATE_SELECTED

static const struct imap_cmd_def commands[] = {
	/* any state (RFC 3501 6.1) */
	{ "CAPABILITY", S_ANY, 0, imap_cmd_capability },
	{ "NOOP", S_ANY, 0, imap_cmd_noop },
	{ "LOGOUT", S_ANY, 0, imap_cmd_logout },
	{ "ID", S_ANY, 0, imap_cmd_id },
	/* not authenticated (6.2) */
	{ "STARTTLS", S_NOAUTH, 0, imap_cmd_starttls },
	{ "AUTHENTICATE", S_NOAUTH, IMAP_CMDF_LOGIN, imap_cmd_authenticate },
	{ "LOGIN", S_NOAUTH, IMAP_CMDF_LOGIN, imap_cmd_login },
	/* authenticated (6.3) */
	{ "ENABLE", S_AUTH, 0, imap_cmd_enable },
	{ "SELECT", S_AUTH, 0, imap_cmd_select },
	{ "EXAMINE", S_AUTH, 0, imap_cmd_select },
	{ "CREATE", S_AUTH, 0, imap_cmd_create },
	{ "DELETE", S_AUTH, 0, imap_cmd_delete },
	{ "RENAME", S_AUTH, 0, imap_cmd_rename },
	{ "SUBSCRIBE", S_AUTH, 0, imap_cmd_subscribe },
	{ "UNSUBSCRIBE", S_AUTH, 0, imap_cmd_subscribe },
	{ "LIST", S_AUTH, 0, imap_cmd_list },
	{ "LSUB", S_AUTH, 0, imap_cmd_list },
	{ "NAMESPACE", S_AUTH, 0, imap_cmd_namespace },
	{ "STATUS", S_AUTH, 0, imap_cmd_status },
	{ "APPEND", S_AUTH, 0, imap_cmd_append },
	{ "IDLE", S_AUTH, 0, imap_cmd_idle },
	{ "GETQUOTA", S_AUTH, 0, imap_cmd_getquota },
	{ "GETQUOTAROOT", S_AUTH, 0, imap_cmd_getquota },
	/* selected (6.4) */
	{ "CHECK", S_SEL, 0, imap_cmd_check },
	{ "CLOSE", S_SEL, 0, imap_cmd_close },
	{ "UNSELECT", S_SEL, 0, imap_cmd_close },
	{ "EXPUNGE", S_SEL, IMAP_CMDF_UID | IMAP_CMDF_WRITE, imap_cmd_expunge },
	{ "COPY", S_SEL, IMAP_CMDF_UID, imap_cmd_copy },
	{ "MOVE", S_SEL, IMAP_CMDF_UID | IMAP_CMDF_WRITE, imap_cmd_copy },
	{ "FETCH", S_SEL, IMAP_CMDF_UID | IMAP_CMDF_NO_EXPUNGE, imap_cmd_fetch },
	{ "STORE", S_SEL, IMAP_CMDF_UID | IMAP_CMDF_NO_EXPUNGE | IMAP_CMDF_WRITE, imap_cmd_store },
	{ "SEARCH", S_SEL, IMAP_CMDF_UID | IMAP_CMDF_NO_EXPUNGE, imap_cmd_search },
	{ "SORT", S_SEL, IMAP_CMDF_UID | IMAP_CMDF_NO_EXPUNGE, imap_cmd_sort },
	{ "THREAD", S_SEL, IMAP_CMDF_UID | IMAP_CMDF_NO_EXPUNGE, imap_cmd_thread },
};

const struct imap_cmd_def *imap_cmd_find(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/* Whether a command is in the table (CAPABILITY announces only what runs). */
static bool have(const char *name)
{
	return imap_cmd_find(name) != NULL;
}

void imap_capability_string(const struct imap_session *s, char *out, size_t size)
{
	bool tls_offer = !conn_is_tls(s->conn) && server_tls_ctx(s->server->srv) != NULL;
	int n;

	if (s->state == IMAP_STATE_NOT_AUTHENTICATED) {
		/* RFC 3501 6.2.3 / 7.2.1: before login, only what a client needs to log in. */
		n = snprintf(out, size, "IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID ENABLE IDLE%s%s",
			     tls_offer ? " STARTTLS" : "",
			     imap_login_allowed(s) ? " AUTH=PLAIN AUTH=LOGIN" : " LOGINDISABLED");
		if (n < 0 || (size_t)n >= size)
			out[0] = '\0';
		return;
	}
	n = snprintf(out, size,
		     "IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UIDPLUS MOVE UNSELECT "
		     "CONDSTORE QRESYNC SPECIAL-USE LIST-EXTENDED LIST-STATUS CHILDREN QUOTA QUOTA=RES-STORAGE "
		     "STATUS=SIZE MULTIAPPEND UTF8=ACCEPT APPENDLIMIT=%llu%s%s%s",
		     (unsigned long long)s->cfg->max_message_size, have("SEARCH") ? " ESEARCH SEARCHRES" : "",
		     have("FETCH") ? " BINARY" : "",
		     have("SORT") ? " SORT ESORT" : "");
	if (n > 0 && (size_t)n < size && have("THREAD"))
		snprintf(out + n, size - (size_t)n, " THREAD=ORDEREDSUBJECT THREAD=REFERENCES");
	if (n < 0 || (size_t)n >= size)
		out[0] = '\0';
}
