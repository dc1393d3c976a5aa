"""Daemon lifecycle as an SMTP client sees it: readiness, SIGTERM and SIGHUP."""
import re
import signal
import socket
import threading
import time

import pytest

from hermodtest import HOSTNAME, Closed, message

ALICE = "alice@hosted.test"


def test_ready_and_listening_logged(hermod):
    log = hermod.log()
    assert re.search(rf"server event=listening service=smtp address=127\.0\.0\.1 port={hermod.port}\b", log), log
    if hermod.ipv6:
        assert re.search(rf"event=listening service=smtp address=::1 port={hermod.port6}\b", log), log
    assert "event=ready" in log


def test_sigterm_idle_session_gets_421(hermod):
    r = hermod.raw()
    r.ehlo()
    hermod.send_signal(signal.SIGTERM)
    rest = r.wait_closed(8).decode()
    assert rest == f"421 4.3.2 {HOSTNAME} Service shutting down, try again later\r\n", rest
    assert hermod.stop() == 0
    r.close()


def test_sigterm_session_before_ehlo_gets_421(hermod):
    r = hermod.raw()
    hermod.send_signal(signal.SIGTERM)
    assert r.wait_closed(8).decode().startswith("421 4.3.2")
    assert hermod.stop() == 0


def test_sigterm_stops_listening_and_exits_zero(hermod):
    hermod.send_signal(signal.SIGTERM)
    hermod.proc.wait(10)
    assert hermod.stop() == 0
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", hermod.port), timeout=2).close()


def test_sigterm_in_middle_of_data_loses_nothing_acknowledged(hermod):
    r = hermod.raw(timeout=15)
    r.ehlo()
    r.expect(250, "MAIL FROM:<s@remote.test>")
    r.expect(250, f"RCPT TO:<{ALICE}>")
    r.expect(354, "DATA")
    r.send(b"Subject: in flight\r\n\r\nfirst half\r\n")
    hermod.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    acked = False
    try:
        r.send(b"second half\r\n.\r\n")
        rep = r.reply()
        assert rep.code in (250, 421), rep
        acked = rep.code == 250
    except (Closed, BrokenPipeError, ConnectionResetError):
        pass
    r.close()
    assert hermod.stop() == 0
    hermod.start()
    stored = hermod.fetch(ALICE)
    if acked:
        assert [m["Subject"] for m in stored] == ["in flight"]
    else:
        assert stored == [], "a refused (421) message was stored"


def test_sigterm_while_delivering_many(hermod):
    """Clients hammering the daemon at SIGTERM: every 250 is on disk afterwards."""
    acked = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(n):
        seq = 0
        while not stop.is_set():
            try:
                r = hermod.raw(timeout=10)
                r.ehlo()
                while True:
                    seq += 1
                    subj = f"t{n}-{seq}"
                    r.expect(250, "MAIL FROM:<s@remote.test>")
                    r.expect(250, f"RCPT TO:<{ALICE}>")
                    r.expect(354, "DATA")
                    r.send(message(subject=subj) + b".\r\n")
                    rep = r.reply()
                    if rep.code == 250:
                        with lock:
                            acked.append(subj)
            except (OSError, Closed, AssertionError):
                return

    threads = [threading.Thread(target=client, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    hermod.send_signal(signal.SIGTERM)
    stop.set()
    for t in threads:
        t.join(15)
    assert hermod.stop() == 0
    hermod.start()
    stored = [m["Subject"] for m in hermod.fetch(ALICE)]
    assert acked, "no message was acknowledged before SIGTERM"
    missing = set(acked) - set(stored)
    assert not missing, f"{len(missing)} acknowledged messages lost: {sorted(missing)[:10]}"
    assert len(stored) == len(set(stored)), "a message was stored twice"


@pytest.mark.hermod(limits={"max_recipients": "2"})
def test_sighup_reload_changes_limit_keeps_listener(hermod):
    def third_rcpt_code():
        with hermod.raw() as r:
            r.ehlo()
            r.expect(250, "MAIL FROM:<s@remote.test>")
            r.expect(250, "RCPT TO:<alice@hosted.test>")
            r.expect(250, "RCPT TO:<bob@hosted.test>")
            return r.cmd("RCPT TO:<dave@hosted.test>").code

    assert third_rcpt_code() == 452
    # a session open across the reload keeps working
    old = hermod.raw()
    old.ehlo()
    refused = []
    stop = threading.Event()

    def prober():
        while not stop.is_set():
            try:
                socket.create_connection(("127.0.0.1", hermod.port), timeout=2).close()
            except OSError as e:
                refused.append(e)
            time.sleep(0.01)

    t = threading.Thread(target=prober)
    t.start()
    try:
        hermod.limits["max_recipients"] = "5"
        hermod.write_config()
        hermod.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while third_rcpt_code() != 250:
            assert time.monotonic() < deadline, "SIGHUP did not apply the new max_recipients"
            time.sleep(0.1)
    finally:
        stop.set()
        t.join()
    assert not refused, f"listener dropped during reload: {refused[:3]}"
    old.expect(250, "NOOP")
    old.close()
    assert hermod.running()
    # and mail still flows
    with hermod.smtp() as s:
        s.sendmail("s@remote.test", [ALICE], message(subject="after reload"))
    assert hermod.count(ALICE) == 1


def test_sighup_with_broken_config_keeps_running(hermod):
    with open(hermod.conf, "a") as f:
        f.write("limits { max_recipients banana }\n")
    hermod.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    assert hermod.running(), "a bad config on reload killed the daemon"
    hermod.write_config()  # the CLI below reads the file too
    with hermod.smtp() as s:
        s.sendmail("s@remote.test", [ALICE], message(subject="still up"))
    assert hermod.count(ALICE) == 1
