"""Segment compaction end to end: mail delivered over SMTP, most of it expunged
over IMAP, the half-dead segments compacted by the daemon's writer in the
background; everything left reads back byte-identical over IMAP (also in a
session that was open across the move) and POP3, the disk usage drops, and
the old files go only after the grace period; and SIGKILL during compaction
loses nothing (marked crash: run with the plain build).

Small segments and short delays come from the environment
(HERMOD_SEGMENT_MAX_BYTES, HERMOD_COMPACT_SCAN_S, HERMOD_COMPACT_GRACE_S).
"""
import os
import random
import re
import time

import pytest

from hermodtest import PASSWORD, message
from pop3util import ALICE

COUNT = 60
GRACE_S = 4
ENV = {"HERMOD_SEGMENT_MAX_BYTES": "20000", "HERMOD_COMPACT_SCAN_S": "1",
       "HERMOD_COMPACT_GRACE_S": str(GRACE_S)}


def msg_dir(inst):
    return os.path.join(inst.root, "data", "msg")


def disk_usage(inst):
    d = msg_dir(inst)
    return sum(os.path.getsize(os.path.join(d, n)) for n in os.listdir(d))


def fetch_all(imap):
    """{uid: full message bytes} of the selected folder."""
    typ, data = imap.uid("FETCH", "1:*", "(BODY.PEEK[])")
    assert typ == "OK", data
    out = {}
    for item in data:
        if isinstance(item, tuple):
            uid = int(re.search(rb"UID (\d+)", item[0]).group(1))
            out[uid] = item[1]
    return out


def login(inst):
    imap = inst.imap()
    imap.login(ALICE, PASSWORD)
    typ, _ = imap.select("INBOX")
    assert typ == "OK"
    return imap


def test_compaction_keeps_every_message(hermod_factory):
    inst = hermod_factory(env=ENV)
    inst.start()
    with inst.smtp() as s:
        for i in range(COUNT):
            body = f"message {i}\r\n" + "".join(f"line {j} of {i}: {'xyz' * (i % 7)}\r\n" for j in range(20 + i))
            s.sendmail("sender@remote.test", [ALICE], message(subject=f"compact {i}", body=body))
    reader = login(inst)          # a session open across the compaction
    before_msgs = fetch_all(reader)
    assert len(before_msgs) == COUNT
    files_before = set(os.listdir(msg_dir(inst)))
    assert len(files_before) >= 4, files_before
    usage_before = disk_usage(inst)

    writer = login(inst)
    keep = sorted(before_msgs)[::4]
    gone = [u for u in before_msgs if u not in keep]
    typ, _ = writer.uid("STORE", ",".join(map(str, gone)), "+FLAGS.SILENT", r"(\Deleted)")
    assert typ == "OK"
    typ, _ = writer.expunge()
    assert typ == "OK"
    expunged_at = time.monotonic()

    inst.wait_log(r"event=segment-compacted segment=\d+ bytes_before=\d+ bytes_after=\d+", timeout=30)
    compacted = {m.group(1) for m in re.finditer(r"event=segment-compacted segment=(\d+)", inst.log())}
    # within the grace period the old files are all still there
    assert compacted <= files_before
    inst.wait_log(r"event=segment-unlinked segment=\d+ reason=compacted", timeout=30)
    assert time.monotonic() - expunged_at >= GRACE_S - 1
    # settle: every retired segment unlinked
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        compacted = {m.group(1) for m in re.finditer(r"event=segment-compacted segment=(\d+)", inst.log())}
        unlinked = {m.group(1) for m in re.finditer(r"event=segment-unlinked segment=(\d+)", inst.log())}
        if compacted and compacted <= unlinked:
            break
        time.sleep(0.2)
    assert compacted <= unlinked, (compacted, unlinked)
    assert not (compacted & set(os.listdir(msg_dir(inst))))
    assert disk_usage(inst) < usage_before * 0.6, (disk_usage(inst), usage_before)

    # the session that was open all along, and a new one, read the same bytes
    for imap in (reader, login(inst)):
        after = fetch_all(imap)
        assert sorted(after) == keep
        for uid in keep:
            assert after[uid] == before_msgs[uid], uid
    reader.logout()
    writer.logout()

    # POP3 too (poplib undoes the dot-stuffing and splits lines)
    pop = inst.pop3()
    pop.user(ALICE)
    pop.pass_(PASSWORD)
    n, _ = pop.stat()
    assert n == len(keep)
    for i, uid in enumerate(keep, 1):
        _, lines, _ = pop.retr(i)
        assert b"\r\n".join(lines) + b"\r\n" == before_msgs[uid], uid
    pop.quit()

    # and after a restart
    inst.stop()
    inst.start()
    imap = login(inst)
    after = fetch_all(imap)
    assert {u: after[u] for u in keep} == {u: before_msgs[u] for u in keep}
    imap.logout()


@pytest.mark.crash
def test_sigkill_during_compaction_loses_nothing(hermod_factory):
    """SIGKILL while segments are being compacted, three times: after each
    restart every message left reads back byte-identical; in the end the
    compaction completes and the space is given back."""
    inst = hermod_factory(env=dict(ENV, HERMOD_COMPACT_GRACE_S="1"))
    inst.start()
    with inst.smtp() as s:
        for i in range(400):
            body = f"crash compaction {i}\r\n" + "".join(f"{j}:{'abcdefgh' * (1 + i % 9)}\r\n" for j in range(30))
            s.sendmail("sender@remote.test", [ALICE], message(subject=f"cc {i}", body=body))
    imap = login(inst)
    before = fetch_all(imap)
    keep = sorted(before)[::4]
    gone = [u for u in before if u not in keep]
    imap.uid("STORE", ",".join(map(str, gone)), "+FLAGS.SILENT", r"(\Deleted)")
    assert imap.expunge()[0] == "OK"
    imap.logout()
    usage = disk_usage(inst)
    rng = random.Random(7)
    for rnd in range(3):
        offset = os.path.getsize(inst.log_path)
        try:  # kill while it works if it still does; a later round may find it done
            inst.wait_log(r"event=(compact-start|segment-compacted|segment-unlinked)", timeout=5, offset=offset)
        except AssertionError:
            assert rnd > 0, "compaction never started"
        time.sleep(rng.random() * 0.05)
        inst.kill()
        inst.start()
        imap = login(inst)
        after = fetch_all(imap)
        imap.logout()
        assert sorted(after) == keep, rnd
        for uid in keep:
            assert after[uid] == before[uid], (rnd, uid)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and disk_usage(inst) > usage * 0.6:
        time.sleep(0.2)
    assert disk_usage(inst) < usage * 0.6, (disk_usage(inst), usage)
    imap = login(inst)
    after = fetch_all(imap)
    imap.logout()
    assert {u: after[u] for u in keep} == {u: before[u] for u in keep}
