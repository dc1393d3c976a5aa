"""Crash test: SIGKILL under load loses no acknowledged message and duplicates none.

20 concurrent SMTP sessions send numbered messages; after a random 1-4 s the
daemon is killed with SIGKILL and restarted on the same instance. Every number
that got a 250 must be in the mailbox exactly once; numbers that did not get a
250 may be there at most once. Three rounds. Run with the plain build
(`pytest -m crash`): sanitizers slow the daemon down too much to load it.
"""
import random
import re
import threading
import time

import pytest

from hermodtest import Closed, message

pytestmark = pytest.mark.crash

SESSIONS = 20
ROUNDS = 3
RCPTS = ["alice@hosted.test", "bob@hosted.test"]  # two recipients: shared bodies must survive too
SUBJECT_RX = re.compile(rb"^Subject: crash r(\d+) s(\d+) n(\d+)\r?$", re.M)


def session(hermod, rnd, sid, acked, attempted, stop):
    seq = 0
    while not stop.is_set():
        try:
            r = hermod.raw(timeout=10)
            r.ehlo()
            while not stop.is_set():
                seq += 1
                key = (rnd, sid, seq)
                body = f"round {rnd} session {sid} seq {seq}\r\n" + "x" * 1500 + "\r\n"
                msg = message(subject=f"crash r{rnd} s{sid} n{seq}", body=body,
                              msgid=f"crash.{rnd}.{sid}.{seq}")
                r.expect(250, "MAIL FROM:<load@remote.test>")
                for rc in RCPTS:
                    r.expect(250, f"RCPT TO:<{rc}>")
                r.expect(354, "DATA")
                attempted.add(key)
                r.send(msg + b".\r\n")
                rep = r.reply()
                if rep.code == 250:
                    acked.add(key)
        except (OSError, Closed, AssertionError):
            # killed mid-session: reconnect until told to stop (the daemon may be down)
            time.sleep(0.05)


def stored_keys(hermod, addr):
    keys = []
    for m in hermod.fetch(addr):
        found = SUBJECT_RX.search(m.raw)
        assert found, f"stored message without a crash subject: {m.raw[:200]!r}"
        keys.append(tuple(int(x) for x in found.groups()))
    return keys


def test_sigkill_under_load_loses_nothing(hermod, capsys):
    rng = random.Random()
    all_acked = set()
    all_attempted = set()
    for rnd in range(1, ROUNDS + 1):
        acked, attempted, stop = set(), set(), threading.Event()
        threads = [threading.Thread(target=session, args=(hermod, rnd, i, acked, attempted, stop),
                                    daemon=True) for i in range(SESSIONS)]
        for t in threads:
            t.start()
        delay = rng.uniform(1.0, 4.0)
        time.sleep(delay)
        hermod.kill()
        time.sleep(0.2)
        stop.set()
        for t in threads:
            t.join(15)
        assert not any(t.is_alive() for t in threads), "client threads hung"
        hermod.start()
        all_acked |= acked
        all_attempted |= attempted
        with capsys.disabled():
            print(f"\ncrash round {rnd}: killed after {delay:.2f}s, {len(acked)} acknowledged, "
                  f"{len(attempted - acked)} in flight or unacknowledged")
        assert acked, f"round {rnd}: no message was acknowledged in {delay:.1f}s"

    problems = []
    totals = {}
    for addr in RCPTS:
        keys = stored_keys(hermod, addr)
        seen = {}
        for k in keys:
            seen[k] = seen.get(k, 0) + 1
        dups = sorted(k for k, n in seen.items() if n > 1)
        lost = sorted(all_acked - set(seen))
        ghosts = sorted(set(seen) - all_attempted)
        extra = len(set(seen) - all_acked)
        totals[addr] = (len(keys), extra)
        if lost:
            problems.append(f"{addr}: {len(lost)} acknowledged messages lost, e.g. {lost[:5]}")
        if dups:
            problems.append(f"{addr}: {len(dups)} messages stored more than once, e.g. {dups[:5]}")
        if ghosts:
            problems.append(f"{addr}: {len(ghosts)} stored messages that were never sent: {ghosts[:5]}")
        folders = hermod.folders(addr)
        if folders["INBOX"][0] != len(keys):
            problems.append(f"{addr}: folder list says {folders['INBOX'][0]} messages, export has {len(keys)}")
    with capsys.disabled():
        print(f"crash test: {ROUNDS} rounds, {len(all_acked)} acknowledged, "
              f"{len(all_attempted - all_acked)} unacknowledged; stored (total, unacknowledged extras): "
              + ", ".join(f"{a}={t}" for a, t in totals.items()))
    assert not problems, "\n".join(problems)
