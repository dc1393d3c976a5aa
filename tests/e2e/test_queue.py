"""The outbound queue end to end (issue 4: Proof 0 and Proof 3), with compressed time.

Mail is put in the queue by authenticated submission (alice@hosted.test) and
leaves through hermod's queue runner to real servers on loopback:

  * Postfix's smtp-sink as the remote of `transport remote.test 127.0.0.1:PORT`;
  * a scripted SMTP server (queueutil.ScriptedSMTP) that answers 4xx then 250,
    5xx for one recipient, or nothing at all, to test retries, per-recipient
    results and the notices: a delay notice after delay_warning with the
    seed's wording, a failure notice after max_lifetime, an immediate failure
    notice on 5xx, nothing when a 4xx recovers;
  * Debian's nsd serving MX records for remote.test (Proof 0): no transport
    override, the first MX host never answers, the next preference is tried;
  * the daemon SIGKILLed with a full queue and restarted: every message is
    delivered exactly once.

Notices land in the sender's INBOX and are read back with `hermod export`.
Time is compressed by configuration only (retry 1s, delay_warning 3s,
max_lifetime 8s, 2s timeouts), so every test finishes in seconds.
"""
import re
import signal
import time

import pytest

from hermodtest import free_port
from queueutil import (NSD, SMTP_SINK, ConnTracker, Nsd, Script, ScriptedSMTP, SmtpSink, have_tools, message, submit,
                       wait_for)

SENDER = "alice@hosted.test"

# compressed time: the defaults are 5m 10m ..., 4h, 3d
FAST = ("queue {{ retry 1s; delay_warning {warn}; max_lifetime {life}; connect_timeout 2s; "
        "command_timeout {cmd}; data_timeout 5s; scan_interval 1s{more} }}")


def queue_config(warn="3s", life="8s", extra="", more="", cmd="2s"):
    return FAST.format(warn=warn, life=life, more=more, cmd=cmd) + ("\n" + extra if extra else "")


def start(hermod_factory, extra_config):
    inst = hermod_factory(extra_config=extra_config)
    # the shared fixture gives submission ports once submission lands; until then, add our own
    if not getattr(inst, "submission_port", None):
        inst.submission_port = free_port()
        inst.extra_config += f"\nlisten submission 127.0.0.1:{inst.submission_port}"
        inst.write_config()
    inst.start()
    return inst


def notices(inst, addr=SENDER):
    """The delivery status notices in addr's INBOX (From MAILER-DAEMON, multipart/report)."""
    return [m for m in inst.fetch(addr) if (m.get_content_type() == "multipart/report")]


def status_fields(notice):
    """The message/delivery-status part's per-recipient fields, as a list of dicts."""
    for part in notice.walk():
        if part.get_content_type() == "message/delivery-status":
            payload = part.get_payload()
            blocks = payload if isinstance(payload, list) else []
            out = []
            for b in blocks[1:]:  # the first block is per-message
                out.append({k.lower(): v for k, v in b.items()})
            if not blocks:  # compat32 may leave it as text
                text = part.get_payload(decode=True).decode()
                for blk in re.split(r"\r?\n\r?\n", text.strip())[1:]:
                    out.append({m.group(1).lower(): m.group(2).strip()
                                for m in re.finditer(r"(?m)^([A-Za-z-]+):(.*)$", blk)})
            return out
    raise AssertionError("no message/delivery-status part")


def human_text(notice):
    for part in notice.walk():
        if part.get_content_type() == "text/plain":
            return " ".join(part.get_payload(decode=True).decode("utf-8").split())
    raise AssertionError("no text/plain part")


def queue_log_count(inst, event):
    return len(re.findall(rf"queue event={event} ", inst.log()))


# ---------------------------------------------------------------- (a) smtp-sink

@pytest.mark.skipif(not have_tools(SMTP_SINK), reason="Postfix's smtp-sink is not installed (scripts/install-deps)")
def test_delivers_to_smtp_sink(hermod_factory):
    sink = SmtpSink().start()
    try:
        inst = start(hermod_factory, queue_config(warn="30s", life="60s",
                                                  extra=f"transport remote.test 127.0.0.1:{sink.port}"))
        submit(inst, ["user@remote.test", "other@remote.test"], message("to the sink 1", msgid="sink1@hosted.test"))
        submit(inst, ["user@remote.test"], message("to the sink 2", msgid="sink2@hosted.test"))
        dumps = sink.wait_dumps(2, timeout=20)
        time.sleep(1.5)  # nothing more arrives: no duplicate
        dumps = sink.dumps()
        assert len(dumps) == 2, dumps
        both = b"".join(dumps)
        assert b"sink1@hosted.test" in both and b"sink2@hosted.test" in both
        # one transaction carried both recipients of the first message
        first = next(d for d in dumps if b"sink1@hosted.test" in d)
        assert b"user@remote.test" in first and b"other@remote.test" in first
        inst.wait_log(r"queue event=delivered id=\d+ rcpt=other@remote.test")
        assert notices(inst) == []
    finally:
        sink.stop()


# ---------------------------------------------------------------- (b) scripted remote

@pytest.fixture
def remote():
    servers = []

    def make(script=None, host="127.0.0.1", port=None, start=True):
        s = ScriptedSMTP(script, host=host, port=port)
        servers.append(s)
        return s.start() if start else s
    yield make
    for s in servers:
        s.stop()


def test_4xx_then_recovery_delivered_once_without_notice(hermod_factory, remote):
    # the first two transactions are refused at RCPT with 451 (then DATA fails: each
    # connection ends, none is reused); the third is accepted
    srv = remote(Script(rcpt=lambda n, a: "451 4.3.0 try again later" if n <= 2 else None))
    inst = start(hermod_factory, queue_config(warn="30s", life="60s",
                                              extra=f"transport remote.test 127.0.0.1:{srv.port}"))
    submit(inst, ["user@remote.test"], message("retry me", msgid="retry@hosted.test"))
    srv.wait_messages(1, timeout=20)
    time.sleep(2.5)  # two more scan intervals: nothing is sent again
    assert len(srv.messages) == 1
    assert srv.connections == 3
    assert srv.messages[0].header("Message-ID") == "<retry@hosted.test>"
    assert srv.messages[0].mail_from == SENDER
    assert queue_log_count(inst, "deferred") == 2
    assert notices(inst) == []


def test_5xx_gives_immediate_failure_notice(hermod_factory, remote):
    srv = remote(Script(rcpt=lambda n, a: "550 5.1.1 <%s>: Recipient address rejected: User unknown" % a))
    inst = start(hermod_factory, queue_config(warn="30s", life="60s",
                                              extra=f"transport remote.test 127.0.0.1:{srv.port}"))
    t0 = time.monotonic()
    submit(inst, ["nobody@remote.test"], message("bounce me", msgid="bounce@hosted.test"))
    found = wait_for(lambda: notices(inst), 15, "a failure notice")
    assert time.monotonic() - t0 < 15  # long before delay_warning (30s)
    assert len(found) == 1
    n = found[0]
    assert n["Subject"] == "Undelivered Mail Returned to Sender"
    assert "<MAILER-DAEMON@mx.test.local>" in n["From"]
    assert re.search(r"(?m)^Return-Path: <>", n.raw.decode()), "a notice comes from the null sender"
    st = status_fields(n)
    assert len(st) == 1
    assert st[0]["action"] == "failed"
    assert st[0]["status"] == "5.1.1"
    assert "nobody@remote.test" in st[0]["final-recipient"]
    assert "User unknown" in st[0]["diagnostic-code"]
    assert st[0]["remote-mta"] == "dns; 127.0.0.1"
    assert "Message-ID: <bounce@hosted.test>" in n.raw.decode()  # the original's header comes back
    assert srv.connections == 1  # a 5xx is never retried
    time.sleep(2.5)
    assert srv.connections == 1 and len(notices(inst)) == 1


def test_per_recipient_results_in_one_connection(hermod_factory, remote):
    # ok@ accepted, bad@ refused for good, later@ deferred once then accepted
    def rcpt(n, a):
        if a.startswith("bad@"):
            return "550 5.1.1 no such user"
        if a.startswith("later@") and n == 1:
            return "452 4.2.2 mailbox full, try later"
        return None
    srv = remote(Script(rcpt=rcpt))
    inst = start(hermod_factory, queue_config(warn="30s", life="60s",
                                              extra=f"transport remote.test 127.0.0.1:{srv.port}"))
    submit(inst, ["ok@remote.test", "bad@remote.test", "later@remote.test"],
           message("three fates", msgid="fates@hosted.test"))
    srv.wait_messages(2, timeout=20)
    time.sleep(2.5)
    # the first transaction carried all three RCPTs; the retry only the deferred one
    first = [a for (n, a, r) in srv.rcpt_log if n == 1]
    assert sorted(first) == ["bad@remote.test", "later@remote.test", "ok@remote.test"]
    retried = [a for (n, a, r) in srv.rcpt_log if n > 1]
    assert retried == ["later@remote.test"]
    assert [m.rcpts for m in srv.messages] == [["ok@remote.test"], ["later@remote.test"]]
    # one failure notice, for bad@ only
    found = wait_for(lambda: notices(inst), 10, "the failure notice")
    assert len(found) == 1
    st = status_fields(found[0])
    assert [s["final-recipient"].split(";")[-1].strip() for s in st] == ["bad@remote.test"]
    assert st[0]["action"] == "failed"


def test_silent_remote_delay_notice_then_failure_notice(hermod_factory, remote):
    srv = remote(Script(banner="silent"))
    inst = start(hermod_factory, queue_config(warn="3s", life="8s",
                                              extra=f"transport remote.test 127.0.0.1:{srv.port}"))
    t0 = time.monotonic()
    submit(inst, ["user@remote.test"], message("never answered", msgid="silent@hosted.test"))

    delay = wait_for(lambda: notices(inst), 12, "the delay notice")
    assert time.monotonic() - t0 >= 3 - 0.5
    assert len(delay) == 1
    d = delay[0]
    assert d["Subject"] == "Delivery delayed: never answered"
    text = human_text(d)
    # the seed's wording, with the configured durations
    assert ("Deferred - Delayed - Warning: message still undelivered after 3 seconds, "
            "will keep trying until message is 8 seconds old") in text
    st = status_fields(d)
    assert st[0]["action"] == "delayed"
    assert st[0]["status"].startswith("4.")

    both = wait_for(lambda: len(notices(inst)) >= 2 and notices(inst), 20, "the failure notice")
    assert time.monotonic() - t0 >= 8 - 0.5
    f = both[1]
    assert f["Subject"] == "Undelivered Mail Returned to Sender"
    st = status_fields(f)
    assert st[0]["action"] == "failed"
    assert st[0]["status"] == "4.4.7"
    assert "could not be delivered within 8 seconds" in human_text(f)
    inst.wait_log(r"queue event=expired id=\d+ rcpt=user@remote.test")
    time.sleep(2.5)
    assert len(notices(inst)) == 2  # exactly one of each
    assert srv.messages == []


def test_notify_never_and_success(hermod_factory, remote):
    srv = remote(Script(rcpt=lambda n, a: "550 5.1.1 no such user" if a.startswith("bad@") else None))
    inst = start(hermod_factory, queue_config(warn="30s", life="60s",
                                              extra=f"transport remote.test 127.0.0.1:{srv.port}"))
    with_dsn = "DSN" in inst_ehlo_keywords(inst)
    if not with_dsn:
        pytest.fail("submission does not advertise DSN (RFC 3461)")
    submit(inst, ["bad@remote.test"], message("never tell me", msgid="never@hosted.test"),
           rcpt_options=["NOTIFY=NEVER"])
    submit(inst, ["good@remote.test"], message("tell me it arrived", msgid="success@hosted.test"),
           rcpt_options=["NOTIFY=SUCCESS"])
    found = wait_for(lambda: notices(inst), 15, "the success report")
    time.sleep(2.5)
    found = notices(inst)
    assert len(found) == 1, [m["Subject"] for m in found]  # nothing for NOTIFY=NEVER
    n = found[0]
    assert n["Subject"] == "Successful Mail Delivery Report"
    st = status_fields(n)
    assert st[0]["action"] == "delivered"
    assert "good@remote.test" in st[0]["final-recipient"]


def inst_ehlo_keywords(inst):
    import smtplib
    with smtplib.SMTP("127.0.0.1", inst.submission_port, timeout=10) as s:
        s.ehlo("printer.test")
        return " ".join(k.upper() for k in s.esmtp_features)


def test_one_connection_per_domain(hermod_factory, remote):
    a = remote()
    b = remote()
    inst = start(hermod_factory, queue_config(warn="30s", life="60s",
                                              extra=f"transport a.test 127.0.0.1:{a.port}\n"
                                                    f"transport b.test 127.0.0.1:{b.port}"))
    submit(inst, ["x@a.test", "y@b.test", "z@A.TEST", "w@b.test"], message("two domains"))
    a.wait_messages(1)
    b.wait_messages(1)
    time.sleep(1.5)
    assert a.connections == 1 and b.connections == 1
    assert sorted(a.messages[0].rcpts) == ["x@a.test", "z@A.TEST"]
    assert sorted(b.messages[0].rcpts) == ["w@b.test", "y@b.test"]


def test_connection_reuse_to_one_destination(hermod_factory, remote):
    # messages to one destination share connections (RSET between transactions), each
    # arrives exactly once, per_domain still bounds the connections open at once, and an
    # idle connection is QUIT after its idle time
    srv = remote()
    inst = start(hermod_factory, queue_config(warn="30s", life="60s", more="; per_domain 2",
                                              extra=f"transport remote.test 127.0.0.1:{srv.port}"))
    n = 12
    for i in range(n):
        submit(inst, [f"user{i % 3}@remote.test"], message(f"reuse {i}", msgid=f"reuse{i}@hosted.test"))
    srv.wait_messages(n)
    time.sleep(1.0)
    ids = sorted(m.header("Message-ID") for m in srv.messages)
    assert ids == sorted(f"<reuse{i}@hosted.test>" for i in range(n)), ids  # each exactly once
    assert srv.connections < n, srv.connections
    assert srv.rsets >= n - srv.connections
    assert srv.max_concurrent <= 2
    assert "smtp-client id=" in inst.log() and re.search(r"event=reuse host=", inst.log())
    inst.wait_log(r'event=idle-closed host=\S+ transactions=\d+ reason="idle timeout"', timeout=10)
    wait_for(lambda: srv.concurrent == 0, 5, "the idle connections to be QUIT")
    assert srv.quits == srv.connections
    assert notices(inst) == []


def test_connection_closed_by_remote_while_idle(hermod_factory, remote):
    # the remote hangs up after every message: each next message gets a fresh
    # connection, nothing is deferred or sent twice
    srv = remote(Script(close_after_data=True))
    inst = start(hermod_factory, queue_config(warn="30s", life="60s",
                                              extra=f"transport remote.test 127.0.0.1:{srv.port}"))
    n = 5
    for i in range(n):
        submit(inst, ["user@remote.test"], message(f"closed {i}", msgid=f"closed{i}@hosted.test"))
        srv.wait_messages(i + 1)
        time.sleep(0.2)
    time.sleep(1.0)
    ids = sorted(m.header("Message-ID") for m in srv.messages)
    assert ids == sorted(f"<closed{i}@hosted.test>" for i in range(n)), ids
    assert srv.connections == n
    assert queue_log_count(inst, "deferred") == 0


def test_sigterm_quits_idle_connections(hermod_factory, remote):
    srv = remote()
    inst = start(hermod_factory, queue_config(warn="30s", life="60s",
                                              extra=f"transport remote.test 127.0.0.1:{srv.port}"))
    for i in range(3):
        submit(inst, ["user@remote.test"], message(f"idle {i}"))
    srv.wait_messages(3)
    assert srv.concurrent >= 1  # still open, idle
    assert inst.stop(signal.SIGTERM, timeout=15) == 0
    wait_for(lambda: srv.concurrent == 0, 5, "the connections to end")
    assert srv.quits == srv.connections  # politely, not dropped
    assert "queue event=connections-closed idle=" in inst.log()


def test_8bitmime_and_smtputf8_from_the_message(hermod_factory, remote):
    srv = remote()
    inst = start(hermod_factory, queue_config(warn="30s", life="60s",
                                              extra=f"transport remote.test 127.0.0.1:{srv.port}"))
    ascii_msg = message("plain", msgid="ascii@hosted.test")
    body8 = message("latin", body="Gr\u00fc\u00dfe aus K\u00f6ln\r\n", msgid="body8@hosted.test")
    body8 = body8.decode().encode("utf-8")
    hdr8 = ("From: alice@hosted.test\r\nTo: user@remote.test\r\nSubject: Gr\u00fc\u00dfe\r\n"
            "Message-ID: <hdr8@hosted.test>\r\n\r\nhello\r\n").encode("utf-8")
    submit(inst, ["user@remote.test"], ascii_msg)
    submit(inst, ["user@remote.test"], body8, mail_options=["BODY=8BITMIME"])
    submit(inst, ["user@remote.test"], hdr8, mail_options=["BODY=8BITMIME", "SMTPUTF8"])
    srv.wait_messages(3)
    by_id = {m.header("Message-ID"): m for m in srv.messages}
    assert "BODY=8BITMIME" not in by_id["<ascii@hosted.test>"].mail_params.upper()
    assert "SMTPUTF8" not in by_id["<ascii@hosted.test>"].mail_params.upper()
    assert "BODY=8BITMIME" in by_id["<body8@hosted.test>"].mail_params.upper()
    assert "SMTPUTF8" not in by_id["<body8@hosted.test>"].mail_params.upper()
    assert "SMTPUTF8" in by_id["<hdr8@hosted.test>"].mail_params.upper()
    assert "Gr\u00fc\u00dfe aus K\u00f6ln".encode() in by_id["<body8@hosted.test>"].data  # bytes intact


def test_per_domain_and_total_connection_limits(hermod_factory, remote):
    # each transaction holds the end of its DATA for 0.8 s, so transactions that the
    # queue runs at once overlap there; count them per domain and in total
    total, per = ConnTracker(), {"a": ConnTracker(), "b": ConnTracker()}

    def slow(dom):
        def hook(n):
            total.enter(), per[dom].enter()
            time.sleep(0.8)
            total.leave(), per[dom].leave()
        return hook
    # both remotes are down while the 12 messages are queued, then come up together:
    # everything is due at once and only the limits hold the queue back
    a = remote(Script(data_end=slow("a")), port=free_port(), start=False)
    b = remote(Script(data_end=slow("b")), port=free_port(), start=False)
    inst = start(hermod_factory, queue_config(warn="30s", life="60s", more="; per_domain 2; concurrency 3",
                                              extra=f"transport a.test 127.0.0.1:{a.port}\n"
                                                    f"transport b.test 127.0.0.1:{b.port}"))
    for i in range(6):
        submit(inst, [f"u{i}@a.test"], message(f"a{i}"))
        submit(inst, [f"u{i}@b.test"], message(f"b{i}"))
    time.sleep(1.5)  # every entry has been tried once and is due again
    a.start()
    b.start()
    a.wait_messages(6, timeout=30)
    b.wait_messages(6, timeout=30)
    assert per["a"].max_concurrent == 2 and per["b"].max_concurrent == 2  # per_domain reached, never passed
    assert total.max_concurrent == 3  # concurrency reached, never passed
    assert len(a.messages) == 6 and len(b.messages) == 6


def test_sigterm_abandons_attempt_which_is_retried_after_restart(hermod_factory, remote):
    port = free_port()
    silent = remote(Script(banner="silent"), port=port)
    inst = start(hermod_factory, queue_config(warn="60s", life="120s", cmd="30s",
                                              extra=f"transport remote.test 127.0.0.1:{port}"))
    submit(inst, ["user@remote.test"], message("in flight", msgid="inflight@hosted.test"))
    wait_for(lambda: silent.connections >= 1, 10, "the attempt to connect")
    t0 = time.monotonic()
    assert inst.stop(signal.SIGTERM, timeout=15) == 0  # a clean exit, not a hang on the silent server
    assert time.monotonic() - t0 < 10
    assert "queue event=stopped abandoned=1" in inst.log()
    silent.stop()
    good = remote(port=port)
    inst.start()
    good.wait_messages(1, timeout=20)
    time.sleep(1.5)
    assert [m.header("Message-ID") for m in good.messages] == ["<inflight@hosted.test>"]
    assert notices(inst) == []


def test_sigterm_records_deliveries_of_an_attempt_in_flight(hermod_factory, remote):
    # one message for two domains: a.test takes it at once, b.test holds the end of its
    # DATA for 4 s; SIGTERM while b.test's transaction is in flight. What a.test took is
    # recorded before the exit, so after the restart only b.test is tried again (and may
    # get it twice: at-least-once for the transaction that was cut off)
    a = remote()
    b = remote(Script(data_end=lambda n: time.sleep(4) if n == 1 else None))
    inst = start(hermod_factory, queue_config(warn="60s", life="120s", cmd="30s",
                                              extra=f"transport a.test 127.0.0.1:{a.port}\n"
                                                    f"transport b.test 127.0.0.1:{b.port}"))
    submit(inst, ["x@a.test", "y@b.test"], message("half done", msgid="half@hosted.test"))
    a.wait_messages(1, timeout=10)
    wait_for(lambda: b.transactions >= 1, 10, "b.test's transaction")
    inst.wait_log(r"queue event=delivered id=\d+ rcpt=x@a.test", timeout=5)
    assert inst.stop(signal.SIGTERM, timeout=15) == 0
    assert "queue event=shutdown-record attempts=1 partial=1" in inst.log()
    inst.start()
    wait_for(lambda: len(b.messages) >= 2, 20, "b.test to get the message after the restart")
    time.sleep(2.0)
    assert [m.header("Message-ID") for m in a.messages] == ["<half@hosted.test>"]  # once, not again
    assert all(m.header("Message-ID") == "<half@hosted.test>" for m in b.messages)
    assert notices(inst) == []


def test_reload_changes_the_transport(hermod_factory, remote):
    down_port = free_port()
    good = remote()
    inst = start(hermod_factory, queue_config(warn="60s", life="120s",
                                              extra=f"transport remote.test 127.0.0.1:{down_port}"))
    submit(inst, ["user@remote.test"], message("rerouted", msgid="reroute@hosted.test"))
    inst.wait_log(r"queue event=deferred id=\d+ rcpt=user@remote.test", timeout=10)
    inst.extra_config = inst.extra_config.replace(str(down_port), str(good.port))
    inst.write_config()
    inst.send_signal(signal.SIGHUP)
    inst.expected_exit = False
    good.wait_messages(1, timeout=20)
    assert good.messages[0].header("Message-ID") == "<reroute@hosted.test>"


# ---------------------------------------------------------------- (c) Proof 0: MX through nsd

@pytest.mark.skipif(not have_tools(NSD), reason="nsd is not installed (scripts/install-deps)")
def test_mx_resolution_with_nsd_tries_next_preference(hermod_factory, remote, tmp_path):
    port = free_port()
    # mx1 (preference 10) accepts connections and never answers; mx2 (20) takes the mail
    silent = remote(Script(banner="silent"), host="127.0.0.2", port=port)
    good = remote(host="127.0.0.3", port=port)
    zone = (
        "$ORIGIN remote.test.\n$TTL 60\n"
        "@ IN SOA ns.remote.test. hostmaster.remote.test. 1 3600 600 86400 60\n"
        "@ IN NS ns.remote.test.\n"
        "ns IN A 127.0.0.1\n"
        "@ IN MX 10 mx1.remote.test.\n"
        "@ IN MX 20 mx2.remote.test.\n"
        "mx1 IN A 127.0.0.2\n"
        "mx2 IN A 127.0.0.3\n"
    )
    nsd = Nsd(str(tmp_path), {"remote.test": zone}).start()
    try:
        inst = start(hermod_factory, queue_config(warn="30s", life="60s", more=f"; mx_port {port}",
                                                  extra=f"dns {{ forward 127.0.0.1@{nsd.port}; timeout 5s }}"))
        assert "transport" not in inst.config_text()
        submit(inst, ["user@remote.test"], message("by MX", msgid="mx@hosted.test"))
        msgs = good.wait_messages(1, timeout=20)
        assert msgs[0].header("Message-ID") == "<mx@hosted.test>"
        assert silent.connections >= 1  # the first preference was tried first
        inst.wait_log(r"queue event=delivered id=\d+ rcpt=user@remote.test relay=mx2.remote.test")
        assert notices(inst) == []
    finally:
        nsd.stop()


# ---------------------------------------------------------------- (d) SIGKILL with a full queue

def test_sigkill_with_full_queue_then_everything_delivered_once(hermod_factory, remote):
    port = free_port()
    srv = remote(port=port, start=False)  # the remote is down
    inst = start(hermod_factory, queue_config(warn="60s", life="120s",
                                              extra=f"transport remote.test 127.0.0.1:{port}"))
    n = 12
    for i in range(n):
        submit(inst, [f"user{i % 3}@remote.test"], message(f"queued {i}", msgid=f"kill{i}@hosted.test"))
    inst.wait_log(r"queue event=deferred ", timeout=10)
    inst.send_signal(signal.SIGKILL)
    inst.proc.wait(timeout=10)

    srv.start()  # the remote comes back, then hermod does
    inst.start()
    wait_for(lambda: len(srv.messages) >= n, 30, f"{n} messages at the remote")
    time.sleep(2.5)
    ids = sorted(m.header("Message-ID") for m in srv.messages)
    assert ids == sorted(f"<kill{i}@hosted.test>" for i in range(n)), ids  # each exactly once
    assert notices(inst) == []
