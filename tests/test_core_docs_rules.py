"""The README and docs/ as a newcomer reads them: short, naming files that exist, documenting every setting."""
import re
from glob import glob
from pathlib import Path

import pytest

from portal.config import SETTINGS

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md")), ROOT / "bench" / "README.md"]
# A path written in prose or code spans: portal/auth/passwords.py, tests/test_core_*.py, templates/_macros/{grid,modal}.html.
PATH = re.compile(r"(?<![\w/.-])((?:portal|templates|static|tests|deploy|docs|migrations|bench)/[\w./*{},<>-]*)")
# Made by runs, never in a clone: the bench's data and partial results.
GENERATED = ("bench/data/", "bench/results/partial-")
# Read by gunicorn, not by portal/config.py.
NOT_THE_PORTALS = {"SCRIPT_NAME"}


def _expanded(path):
    """templates/_macros/{grid,modal}.html -> each file it names."""
    braces = re.search(r"\{([^{}]*)\}", path)
    if not braces:
        return [path]
    return [each for alternative in braces.group(1).split(",")
            for each in _expanded(path[:braces.start()] + alternative + path[braces.end():])]


def _paths(doc):
    for match in PATH.finditer(doc.read_text()):
        written = match.group(1).rstrip(".,")
        if "<" in written or written.startswith(GENERATED):  # templates/<area>/<page>.html is a pattern
            continue
        yield from _expanded(written)


def test_the_readme_is_a_newcomers_page():
    assert len(README.read_text().splitlines()) <= 200
    assert len(list(_paths(README))) > 20  # the paths test below reads what it should


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: str(doc.relative_to(ROOT)))
def test_every_file_a_page_names_exists(doc):
    named = list(_paths(doc))
    missing = [path for path in named if not (glob(str(ROOT / path)) if "*" in path else (ROOT / path).exists())]
    assert missing == []


def _settings_table():
    """{name: (default column, meaning)} of the README's configuration table, one entry per name in a row."""
    text = README.read_text()
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            names = re.findall(r"`([A-Z_]+)`", cells[0])
            for name in names:
                rows[name] = (cells[1], cells[2], len(names))
    return rows


def test_the_readme_documents_every_setting_and_only_settings():
    table = _settings_table()
    assert sorted(set(SETTINGS) - set(table)) == []
    assert sorted(set(table) - set(SETTINGS) - NOT_THE_PORTALS) == []


def _written(default):
    if isinstance(default, bool):
        return "on" if default else "off"
    if isinstance(default, float) and default.is_integer():
        default = int(default)
    return f"`{default}`"


def test_each_default_the_readme_gives_is_the_one_in_config():
    table = _settings_table()
    wrong = {}
    for name, (default, _parse) in SETTINGS.items():
        written, _meaning, names_in_row = table.get(name, ("", "", 0))
        # None and "" are filled in at load (instance/, the dev server) and the README says with what.
        if default in (None, "") or names_in_row != 1:
            continue
        if not written.startswith(_written(default)):
            wrong[name] = (written, _written(default))
    assert wrong == {}


# A time in ms or µs, or "measured": this week's figure, where the code should state its constraint.
FIGURE = re.compile(r"\d\s?(ms|µs)\b|\bmeasured\b|\d\s?(×|x) (faster|slower|cheaper)")


def _code_and_settings_files():
    yield from (ROOT / "portal").rglob("*.py")
    yield from (ROOT / "deploy").iterdir()
    yield from (ROOT / "migrations").rglob("*.py")
    yield from (ROOT / "app.py", ROOT / "Makefile", *ROOT.glob("requirements*.txt"))


def test_code_and_its_settings_state_constraints_not_figures():
    """Figures belong to bench/README.md and the results (STYLE.md); they go stale in a comment."""
    found = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
             for path in _code_and_settings_files()
             for number, line in enumerate(path.read_text().splitlines(), 1) if FIGURE.search(line)]
    assert found == []


def test_the_suite_uses_flask_through_its_public_api_only():
    """Flask's private context variables change between releases; the suite isolates requests with
    contextvars (tests/conftest.py) instead."""
    private = re.compile(r"flask\.globals|\b_cv_(app|request)\b|\brequest_ctx\b")
    found = [f"{path.name}:{number}" for path in sorted((ROOT / "tests").glob("*.py")) if path.name != Path(__file__).name
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if private.search(line)]
    assert found == []


AREAS = ("accounts", "alerts", "api", "bench", "cda", "clock", "core", "desk_users", "embed", "grid", "mail", "ops",
         "prepaid", "profile", "services", "sso", "two_factor")
KINDS = ("rules", "views", "browser", "text_browser", "server")


def test_test_files_are_named_by_area_and_kind():
    """docs/TESTING.md: tests/test_<area>[_<topic>]_<kind>.py; the abuse suite is a mark, not a name."""
    name = re.compile(rf"test_({'|'.join(AREAS)})(_[a-z0-9]+)*_({'|'.join(KINDS)})\.py")
    misnamed = [path.name for path in sorted((ROOT / "tests").glob("test_*.py")) if not name.fullmatch(path.name)]
    assert misnamed == []
    text_browser_named_views = [path.name for path in (ROOT / "tests").glob("test_*_text_browser.py")
                                if "pytest.mark.text_browser" not in path.read_text(encoding="utf-8")]
    assert text_browser_named_views == []
