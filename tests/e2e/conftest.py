"""pytest fixtures for hermod's end-to-end tests.

`hermod` gives each test its own running daemon on free loopback ports (copied
from a template instance built once per session with `hermod init`, the test
domains and addresses). Per-test settings come from a marker:

    @pytest.mark.hermod(limits={"command_timeout": "2s"}, extra_config="...")

On teardown the daemon gets SIGTERM (SIGKILL after 10 s), and the test fails
if it exited unexpectedly, did not exit cleanly, or its log holds a sanitizer
report (AddressSanitizer, UBSan "runtime error:", LeakSanitizer).
"""
import os
import signal

import pytest

import hermodtest
from hermodtest import HERMOD_BIN, HermodError


def pytest_report_header(config):
    return f"hermod binary: {HERMOD_BIN}"


@pytest.fixture(scope="session")
def hermod_template(tmp_path_factory):
    if not os.access(HERMOD_BIN, os.X_OK):
        pytest.fail(f"HERMOD_BIN {HERMOD_BIN} is not an executable: build it first (make build)")
    root = str(tmp_path_factory.mktemp("template") / "inst")
    return hermodtest.build_template(root)


@pytest.fixture
def hermod_factory(hermod_template, tmp_path):
    """Makes instances (not started) from the template; stops and checks them all at teardown."""
    made = []

    def make(name="inst", **kw):
        inst = hermodtest.instance_from_template(hermod_template, str(tmp_path / name), **kw)
        made.append(inst)
        return inst

    yield make
    problems = []
    for inst in made:
        if inst.proc is not None:
            died = inst.proc.poll() is not None and not inst.expected_exit
            if died:
                problems.append(f"hermod exited on its own during the test (status {inst.proc.returncode})")
            try:
                rc = inst.stop(signal.SIGTERM, timeout=10)
                if not died and rc not in (0, -signal.SIGKILL) and not inst.expected_exit:
                    problems.append(f"hermod exited with status {rc} after SIGTERM")
            except HermodError as e:
                problems.append(str(e))
        report = inst.sanitizer_report()
        if report:
            problems.append("sanitizer report in the daemon's log:\n" + report)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def hermod(hermod_factory, request):
    marker = request.node.get_closest_marker("hermod")
    kw = dict(marker.kwargs) if marker else {}
    inst = hermod_factory(**kw)
    inst.start()
    return inst
