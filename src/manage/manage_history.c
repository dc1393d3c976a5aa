/*
 * manage_history: reading an address's action history (logins by protocol
 * and IP, sends, deletions, settings changes), for those with the
 * "history" right. Entries are written by manage_history() and by the
 * protocol servers.
 */
#include "manage/manage_core.h"
#include "manage/manage_ops.h"
#include "store/store_manage.h"

#define ADDR_TEXT_MAX (MAIL_LOCAL_MAX + MAIL_DOMAIN_MAX + 2)

struct history_page {
	json_t *entries;
	int64_t last_id;
	size_t n;
};

static void history_row(const struct store_history_entry *e, void *arg)
{
	struct history_page *p = arg;

	json_array_append_new(p->entries, json_pack("{s:I, s:o, s:s, s:s, s:s, s:s}", "id", (json_int_t)e->id, "at",
						    manage_time_json(e->at), "actor", e->actor, "action", e->action,
						    "detail", e->detail, "ip", e->ip));
	p->last_id = e->id;
	p->n++;
}

/*
 * history.list {address, limit?, before? (an entry id)} -> {address,
 * entries: [{id, at, actor, action, detail, ip}] newest first, next: the
 * "before" of the next page or null}
 */
static int op_history_list(struct manage_ctx *ctx, json_t *params, json_t **result_r, struct manage_error *err)
{
	char text[ADDR_TEXT_MAX];
	struct store_address addr;
	struct history_page p = { 0 };
	const char *errstr = NULL;
	int64_t limit, before;

	if (manage_param_address(params, "address", text, NULL, NULL, err) < 0 ||
	    manage_param_int(params, "limit", MANAGE_PAGE_DEFAULT, 1, MANAGE_PAGE_MAX, &limit, err) < 0 ||
	    manage_param_int(params, "before", 0, 0, INT64_MAX, &before, err) < 0 ||
	    manage_need_address(ctx, text, PERM_HISTORY, &addr, err) < 0)
		return -1;
	p.entries = json_array();
	if (store_manage_history(ctx->store, addr.id, before, (size_t)limit, history_row, &p, &errstr) < 0) {
		json_decref(p.entries);
		return manage_fail_store(err, errstr);
	}
	*result_r = json_pack("{s:s, s:o, s:o}", "address", text, "entries", p.entries, "next",
			      p.n == (size_t)limit ? json_integer(p.last_id) : json_null());
	return 0;
}

const struct manage_op manage_history_ops[] = {
	{ "history.list", op_history_list, false, false,
	  "An address's action history, newest first {address, limit, before} (right: history)" },
	{ NULL, NULL, false, false, NULL },
};
