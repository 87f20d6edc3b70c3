"""The fault and abuse suite's figures: each test records what it measured against its pass bar.

A pytest plugin (tests/conftest.py lists it in pytest_plugins): record_figure() prints the line
(visible with `-s`, as `make stress` runs) and keeps it for a table at the end of every run. The
figures travel in each test's report (user_properties), so the table is whole when pytest-xdist
runs the tests in several processes.
STRESS=1 raises the counts to the issue's full figures (`make stress`); CI runs smaller counts
that still prove each property.
"""
import os
import threading

import pytest

STRESS = os.environ.get("STRESS", "").lower() in {"1", "true", "yes"}

_figures = []  # the table: every test's figures, as their reports arrive
_pending = []  # this process's figures not yet attached to their test
_lock = threading.Lock()
_current = {"backend": ""}


def scale(ci, stress):
    """`stress` under STRESS=1 (make stress), `ci` otherwise."""
    return stress if STRESS else ci


def record_figure(name, value, bar):
    """Keep and print one figure: what was measured (`value`) and what it had to be (`bar`)."""
    if _current["backend"]:
        name = f"{name} [{_current['backend']}]"
    line = (name, " ".join(str(value).split()), str(bar))  # one line each, whatever an error message holds
    with _lock:
        _pending.append(line)
    print(f"\n[figura] {line[0]}: {line[1]}  (meta: {bar})")


def pytest_runtest_setup(item):
    """Figures are labelled with the database they were measured on."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    _current["backend"] = params.get("database_url", "")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Each phase's figures go with the test: the teardown report carries them all."""
    with _lock:
        item.user_properties.extend(("figura", list(line)) for line in _pending)
        _pending.clear()
    yield


def pytest_runtest_logreport(report):
    if report.when == "teardown":
        _figures.extend(tuple(value) for name, value in report.user_properties if name == "figura")


def pytest_terminal_summary(terminalreporter):
    if not _figures:
        return
    terminalreporter.section("figuras de la suite de abuso" + (" (STRESS)" if STRESS else ""))
    width = max(len(name) for name, _, _ in _figures)
    for name, value, bar in _figures:
        terminalreporter.write_line(f"{name:<{width}}  {value}   [meta: {bar}]")
