"""For every test folder: the project's settings start from their defaults, and the skip policy.

Settings: the shell's DERMA_* variables (and their older DERMAMNIST_* names, locked/settings.py) are cleared for the
whole run and restored after it, so DERMA_SYNTHETIC=1 left in a shell cannot switch the data under a test. A test
that needs one sets it itself (monkeypatch.setenv, or a subprocess's env).

Skips: every run ends with a summary of its skips. Under CI (CI set and not 0/false/no), a skip whose reason is not
listed in .ci/allowed_skips.txt is turned into a failure that names the reason, so CI cannot pass while a test it
relies on (the root-only isolation tests, the headless-browser test) quietly did not run. A student's `pytest tests/`
outside CI gets no summary: the policy is about CI, and tests/conftest.py already says why each check skipped.
"""
import os
from pathlib import Path

import pytest

from locked import settings

ROOT = Path(__file__).resolve().parent
ALLOWED_SKIPS = ROOT / ".ci" / "allowed_skips.txt"
PUBLIC_CHECKS = ROOT / "tests"


def is_setting(name):
    """A variable the project reads: the DERMA_ prefix, or an older name settings.py still honours."""
    return name.startswith("DERMA_") or name in settings.OLD_NAMES.values()


@pytest.fixture(scope="session", autouse=True)
def settings_from_defaults():
    """Clear every setting the shell exported, for the whole run; restore them after it."""
    with pytest.MonkeyPatch.context() as mp:
        for name in [name for name in os.environ if is_setting(name)]:
            mp.delenv(name)
        yield


def pytest_addoption(parser):
    parser.addoption("--allowed-skips", metavar="FILE", default=str(ALLOWED_SKIPS),
                     help="skip reasons allowed under CI, one substring per line (default: .ci/allowed_skips.txt)")


def in_ci():
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def allowed_reasons(path):
    """The non-blank, non-comment lines of the allowed-skips file (a missing file allows nothing)."""
    try:
        lines = Path(path).read_text().splitlines()
    except FileNotFoundError:
        return []
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _reason(report):
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return text.removeprefix("Skipped: ")


def public_checks_only(config):
    """The run was `pytest tests/` (or part of it): the student's public checks, nothing of the project's own."""
    paths = [Path(config.invocation_params.dir, arg.split("::")[0]).resolve() for arg in config.args]
    return bool(paths) and all(path.is_relative_to(PUBLIC_CHECKS) for path in paths)


def pytest_configure(config):
    config._skip_policy = {"allowed": allowed_reasons(config.getoption("allowed_skips")), "skipped": [],
                           "failed": [], "quiet": not in_ci() and public_checks_only(config)}


def _enforce(config, report):
    """Record a skip; under CI, turn one with an unlisted reason into a failure of that test (or collector)."""
    if not report.skipped or hasattr(report, "wasxfail"):
        return
    policy, reason = config._skip_policy, _reason(report)
    if in_ci() and not any(allowed in reason for allowed in policy["allowed"]):
        policy["failed"].append((report.nodeid, reason))
        report.outcome = "failed"
        report.longrepr = (f"Skipped under CI: {reason}\nCI runs every test: provide what this test needs (see "
                           f".ci/run), or, if this skip is legitimate in CI, add its reason to "
                           f"{config.getoption('allowed_skips')}.")
    else:
        policy["skipped"].append((report.nodeid, reason))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    _enforce(item.config, report.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    report = yield
    _enforce(collector.config, report.get_result())


def pytest_terminal_summary(terminalreporter, config):
    policy = config._skip_policy
    if policy["quiet"] or not (policy["skipped"] or policy["failed"]):
        return
    terminalreporter.section("skip policy")
    for nodeid, reason in policy["skipped"]:
        terminalreporter.write_line(f"skipped      {nodeid}: {reason}")
    for nodeid, reason in policy["failed"]:
        terminalreporter.write_line(f"NOT ALLOWED  {nodeid}: {reason}")
    terminalreporter.write_line(f"{len(policy['skipped'])} skipped, {len(policy['failed'])} skips failed under CI "
                                f"(allowed reasons: {config.getoption('allowed_skips')})")
