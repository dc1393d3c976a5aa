/* Unit tests for imap/imap_sort: base subject (RFC 5256 2.1), RFC 5322 dates, SORT, THREAD. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap_sort.h"
#include "lib/xalloc.h"

static void check_base(const char *subject, const char *want, bool want_reply)
{
	struct buf b;
	bool reply = !want_reply;

	buf_init(&b, 0);
	imap_base_subject(slice_cstr(subject), &b, &reply);
	if (strcmp(b.data ? b.data : "", want) != 0 || reply != want_reply)
		fail_msg("base subject of \"%s\": got \"%s\" reply=%d, want \"%s\" reply=%d", subject,
			 b.data ? b.data : "", reply, want, want_reply);
	buf_free(&b);
}

static void test_base_subject(void **state)
{
	check_base("Hello", "Hello", false);
	check_base("Re: Hello", "Hello", true);
	check_base("RE: re: Re:  Hello  ", "Hello", true);
	check_base("Fwd: Hello", "Hello", true);
	check_base("Fw: Hello", "Hello", true);
	check_base("Hello (fwd)", "Hello", true);
	check_base("Hello (fwd) (FWD)  ", "Hello", true);
	check_base("[fwd: Hello]", "Hello", true);
	check_base("[Fwd: Re: [list] Hello]", "Hello", true);
	check_base("[list] Hello", "Hello", false);
	check_base("[list] Re: Hello", "Hello", true);
	check_base("Re: [list] Hello", "Hello", true);
	check_base("Re[2]: Hello", "Hello", true);
	check_base("Re [2]: Hello", "Hello", true);
	check_base("[list]", "[list]", false);          /* a blob alone is kept: subj-base must stay non-empty */
	check_base("[a][b] Re: x", "x", true);
	check_base("\tHello\r\n\tworld", "Hello world", false);
	check_base("Hello   world", "Hello world", false);
	check_base("", "", false);
	check_base("Re:", "", true);
	check_base("Reply to this", "Reply to this", false);
	check_base("Fwdx: a", "Fwdx: a", false);
	check_base("Re: (fwd)", "", true);
}

static void test_rfc5322_date(void **state)
{
	int64_t t;
	int off;

	assert_int_equal(imap_rfc5322_date("Tue, 1 Jul 2003 10:52:37 +0200", &t, &off), 0);
	assert_int_equal(t, 1057049557);
	assert_int_equal(off, 7200);
	assert_int_equal(imap_rfc5322_date("1 Jul 2003 08:52 GMT", &t, &off), 0);
	assert_int_equal(t, 1057049520);
	assert_int_equal(imap_rfc5322_date("Tue, 01 Jul 03 08:52:37 EST", &t, &off), 0);
	assert_int_equal(t, 1057049557 + 5 * 3600);
	assert_int_equal(off, -5 * 3600);
	assert_int_equal(imap_rfc5322_date("(comment) 1 jul 1999 00:00:00 -0000", &t, &off), 0);
	assert_int_equal(imap_rfc5322_date("yesterday", &t, &off), -1);
	assert_int_equal(imap_rfc5322_date("", &t, &off), -1);
	assert_int_equal(imap_rfc5322_date("32 Jan 2000 00:00 +0000", &t, &off), -1);
	assert_int_equal(imap_rfc5322_date("1 Foo 2000 00:00 +0000", &t, &off), -1);
	assert_int_equal(imap_rfc5322_date("1 Jan 2000 25:00 +0000", &t, &off), -1);
}

static struct imap_arg atom(const char *s)
{
	struct imap_arg a = { .type = IMAP_ARG_ATOM, .str = s, .len = strlen(s) };
	return a;
}

static void test_sort_parse(void **state)
{
	struct imap_arg items[4] = { atom("REVERSE"), atom("date"), atom("SUBJECT"), atom("DISPLAYFROM") };
	struct imap_arg list = { .type = IMAP_ARG_LIST, .list = items, .count = 4 };
	struct imap_sort_program prog;
	const char *err;

	assert_int_equal(imap_sort_parse(&list, &prog, &err), 0);
	assert_int_equal(prog.count, 3);
	assert_int_equal(prog.crit[0].key, IMAP_SORT_DATE);
	assert_true(prog.crit[0].reverse);
	assert_int_equal(prog.crit[1].key, IMAP_SORT_SUBJECT);
	assert_false(prog.crit[1].reverse);
	list.count = 1; /* REVERSE alone */
	assert_int_equal(imap_sort_parse(&list, &prog, &err), -1);
	items[0] = atom("COLOUR");
	assert_int_equal(imap_sort_parse(&list, &prog, &err), -1);
	assert_string_equal(err, "unknown sort criterion");
	list.count = 0;
	assert_int_equal(imap_sort_parse(&list, &prog, &err), -1);
	assert_int_equal(imap_sort_parse(&items[1], &prog, &err), -1); /* not a list */
}

/* A message for SORT/THREAD tests: strings are copied. */
static void msg_set(struct imap_sort_msg *m, uint32_t seq, int64_t date, const char *subject, const char *from,
		    const char *id, const char *refs)
{
	struct buf b;

	memset(m, 0, sizeof(*m));
	m->seq = seq;
	m->uid = seq * 10;
	m->size = 1000 - seq;
	m->arrival = 1000 + seq;
	m->date = date;
	buf_init(&b, 0);
	imap_base_subject(slice_cstr(subject), &b, &m->reply);
	m->subject = xstrdup(b.data ? b.data : "");
	buf_free(&b);
	m->from = xstrdup(from);
	m->to = xstrdup("");
	m->cc = xstrdup("");
	m->display_from = xstrdup(from);
	m->display_to = xstrdup("");
	m->message_id = id != NULL ? xstrdup(id) : NULL;
	while (refs != NULL && *refs != '\0') {
		const char *sp = strchr(refs, ' ');
		size_t n = sp != NULL ? (size_t)(sp - refs) : strlen(refs);
		m->references = xrealloc(m->references, (m->ref_count + 1) * sizeof(char *));
		m->references[m->ref_count++] = xstrndup(refs, n);
		refs += n;
		while (*refs == ' ')
			refs++;
	}
}

static void msgs_clear(struct imap_sort_msg *m, size_t n)
{
	for (size_t i = 0; i < n; i++)
		imap_sort_msg_clear(&m[i]);
}

static void check_sort(const struct imap_sort_msg *msgs, size_t n, const char *crit, const char *want)
{
	struct imap_arg items[8];
	struct imap_arg list = { .type = IMAP_ARG_LIST, .list = items, .count = 0 };
	struct imap_sort_program prog;
	const char *err;
	char copy[128], got[256] = "";
	size_t order[16];

	snprintf(copy, sizeof(copy), "%s", crit);
	for (char *tok = strtok(copy, " "); tok != NULL; tok = strtok(NULL, " "))
		items[list.count++] = atom(tok);
	assert_int_equal(imap_sort_parse(&list, &prog, &err), 0);
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	imap_sort_run(&prog, msgs, order, n);
	for (size_t i = 0; i < n; i++)
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%u", i ? " " : "", msgs[order[i]].seq);
	if (strcmp(got, want) != 0)
		fail_msg("SORT (%s): got %s, want %s", crit, got, want);
}

static void test_sort_run(void **state)
{
	struct imap_sort_msg m[5];

	msg_set(&m[0], 1, 500, "Re: banana", "carol", NULL, NULL);
	msg_set(&m[1], 2, 100, "apple", "Alice", NULL, NULL);
	msg_set(&m[2], 3, 300, "[list] Cherry", "bob", NULL, NULL);
	msg_set(&m[3], 4, 300, "BANANA", "alice", NULL, NULL);
	msg_set(&m[4], 5, 200, "Fwd: apple", "Bob", NULL, NULL);
	check_sort(m, 5, "ARRIVAL", "1 2 3 4 5");
	check_sort(m, 5, "REVERSE ARRIVAL", "5 4 3 2 1");
	check_sort(m, 5, "DATE", "2 5 3 4 1");
	check_sort(m, 5, "REVERSE DATE", "1 3 4 5 2"); /* ties stay in sequence order */
	check_sort(m, 5, "SIZE", "5 4 3 2 1");
	check_sort(m, 5, "SUBJECT", "2 5 1 4 3");
	check_sort(m, 5, "SUBJECT REVERSE DATE", "5 2 1 4 3");
	check_sort(m, 5, "FROM", "2 4 3 5 1");
	check_sort(m, 5, "FROM DATE", "2 4 5 3 1");
	check_sort(m, 5, "DISPLAYFROM REVERSE SIZE", "2 4 3 5 1");
	msgs_clear(m, 5);
}

static void check_thread(enum imap_thread_algo algo, const struct imap_sort_msg *m, size_t n, const char *want)
{
	struct buf out;

	buf_init(&out, 0);
	imap_thread_run(algo, m, n, false, &out);
	if (strcmp(out.data ? out.data : "", want) != 0)
		fail_msg("THREAD: got %s, want %s", out.data ? out.data : "", want);
	buf_free(&out);
}

static void test_thread_orderedsubject(void **state)
{
	struct imap_sort_msg m[6];

	msg_set(&m[0], 1, 100, "hello", "a", NULL, NULL);
	msg_set(&m[1], 2, 400, "Re: hello", "a", NULL, NULL);
	msg_set(&m[2], 3, 200, "other", "a", NULL, NULL);
	msg_set(&m[3], 4, 300, "Re: Hello", "a", NULL, NULL);
	msg_set(&m[4], 5, 50, "third", "a", NULL, NULL);
	msg_set(&m[5], 6, 250, "re: other", "a", NULL, NULL);
	/* threads by date of the first message; children of the first, by date */
	check_thread(IMAP_THREAD_ORDEREDSUBJECT, m, 6, "(5)(1 (4)(2))(3 6)");
	msgs_clear(m, 6);
}

static void test_thread_references(void **state)
{
	struct imap_sort_msg m[8];
	struct buf out;

	/* 1 <- 2 <- 3, and 4 replies to 1 too; 5 replies to a message we do not have (x). */
	msg_set(&m[0], 1, 100, "topic", "a", "m1", NULL);
	msg_set(&m[1], 2, 200, "Re: topic", "a", "m2", "m1");
	msg_set(&m[2], 3, 300, "Re: topic", "a", "m3", "m1 m2");
	msg_set(&m[3], 4, 250, "Re: topic", "a", "m4", "m1");
	msg_set(&m[4], 5, 500, "Re: lost", "a", "m5", "x");
	msg_set(&m[5], 6, 600, "Re: lost", "a", "m6", "x");
	msg_set(&m[6], 7, 50, "unrelated", "a", NULL, NULL);
	/* 8 has no references but the subject of 7 and is not a reply: a dummy holds both */
	msg_set(&m[7], 8, 700, "unrelated", "a", "m8", NULL);
	check_thread(IMAP_THREAD_REFERENCES, m, 8, "((7)(8))(1 (2 3)(4))((5)(6))");
	/* UIDs instead of sequence numbers */
	buf_init(&out, 0);
	imap_thread_run(IMAP_THREAD_REFERENCES, m, 2, true, &out);
	assert_string_equal(out.data, "(10 20)");
	buf_free(&out);
	msgs_clear(m, 8);
}

static void test_thread_subject_merge(void **state)
{
	struct imap_sort_msg m[4];

	/* a reply without References joins the original by subject (step 5: reply becomes child) */
	msg_set(&m[0], 1, 100, "plans", "a", "p1", NULL);
	msg_set(&m[1], 2, 200, "Re: plans", "a", "p2", NULL);
	msg_set(&m[2], 3, 150, "RE: PLANS", "a", "p3", NULL);
	msg_set(&m[3], 4, 120, "", "a", "p4", NULL); /* empty subjects are never grouped */
	check_thread(IMAP_THREAD_REFERENCES, m, 4, "(1 (3)(2))(4)");
	msgs_clear(m, 4);
}

static void test_thread_loops_and_duplicates(void **state)
{
	struct imap_sort_msg m[4];

	/* a References loop (a->b->a) and a duplicate Message-ID must not hang or crash */
	msg_set(&m[0], 1, 100, "s1", "a", "a", "b");
	msg_set(&m[1], 2, 200, "s2", "a", "b", "a");
	msg_set(&m[2], 3, 300, "s3", "a", "a", NULL);  /* duplicate id */
	msg_set(&m[3], 4, 400, "s4", "a", "d", "d");   /* refers to itself */
	/* 1 is linked under b (its References), 2 cannot then become 1's parent's child: no loop */
	check_thread(IMAP_THREAD_REFERENCES, m, 4, "(2 1)(3)(4)");
	msgs_clear(m, 4);
}

static void test_thread_deep_chain(void **state)
{
	enum { N = 20000 };
	struct imap_sort_msg *m = xcalloc(N, sizeof(*m));
	struct buf out;
	char id[32], ref[32];

	for (int i = 0; i < N; i++) {
		snprintf(id, sizeof(id), "id%d", i);
		snprintf(ref, sizeof(ref), "id%d", i - 1);
		msg_set(&m[i], (uint32_t)i + 1, 1000 + i, "Re: long", "a", id, i > 0 ? ref : NULL);
	}
	buf_init(&out, 0);
	imap_thread_run(IMAP_THREAD_REFERENCES, m, N, false, &out);
	assert_true(strncmp(out.data, "(1 2 3 4 ", 9) == 0);
	assert_true(out.len > 5 * N);
	assert_int_equal(out.data[out.len - 1], ')');
	buf_free(&out);
	msgs_clear(m, N);
	free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base_subject),	     cmocka_unit_test(test_rfc5322_date),
		cmocka_unit_test(test_sort_parse),	     cmocka_unit_test(test_sort_run),
		cmocka_unit_test(test_thread_orderedsubject), cmocka_unit_test(test_thread_references),
		cmocka_unit_test(test_thread_subject_merge), cmocka_unit_test(test_thread_loops_and_duplicates),
		cmocka_unit_test(test_thread_deep_chain),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
