"""How the grid package is built: its request flows one way (state → statements → a complete read
→ the page), its functions stay small, and the statements it keeps per shape stay right."""
import ast
import gc
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest
from sqlalchemy import bindparam

import portal
from portal.grid import Grid

GRID = Path(__file__).resolve().parents[1] / "portal" / "grid"
# Each module imports only those after it (http is the only one that imports Flask).
LAYERS = ["http", "page", "reading", "query", "state", "columns", "text"]


def _functions():
    for path in sorted(GRID.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield path.stem, node


def _grid_imports(module):
    tree = ast.parse((GRID / f"{module}.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "portal.grid":
            yield from (alias.name for alias in node.names if alias.name in LAYERS)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("portal.grid."):
            yield node.module.rsplit(".", 1)[1]


@pytest.mark.parametrize("module", LAYERS)
def test_each_module_of_the_grid_imports_only_the_layers_below_it(module):
    below = LAYERS[LAYERS.index(module) + 1:]
    assert [name for name in _grid_imports(module) if name not in below] == []


def test_the_page_is_drawn_from_a_complete_read_never_from_the_statements():
    assert "query" not in set(_grid_imports("page"))


def test_no_function_of_the_grid_takes_more_than_four_parameters_or_forty_lines():
    found = []
    for module, node in _functions():
        args = node.args
        names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs if a.arg not in ("self", "cls")]
        names += [a.arg for a in (args.vararg, args.kwarg) if a is not None]
        lines = node.end_lineno - node.lineno + 1
        if len(names) > 4 or lines > 40:
            found.append(f"{module}.{node.name}: {len(names)} parameters, {lines} lines")
    assert found == []


class Untouchable:
    """A scope value SQLAlchemy may bind but Python must not read: any test, conversion, order or
    hash of it fails. (== is left to the column, which binds it.)"""

    def _read(self, *_args):
        raise AssertionError("a grid's scope read its value in Python")

    __bool__ = __int__ = __index__ = __float__ = __str__ = __hash__ = __len__ = __iter__ = _read
    __lt__ = __le__ = __gt__ = __ge__ = __contains__ = __format__ = __getitem__ = _read

    def __eq__(self, other):
        return NotImplemented

    __ne__ = __eq__


def _every_grid():
    for info in pkgutil.walk_packages(portal.__path__, "portal."):
        importlib.import_module(info.name)
    return sorted({id(g): g for g in gc.get_objects() if isinstance(g, Grid)}.values(), key=lambda g: g.name)


def test_every_grid_of_the_portal_is_found():
    names = {grid.name for grid in _every_grid()}
    assert {"claves-prepago", "actividad", "servicios-suscripciones"} <= names, names


@pytest.mark.parametrize("grid", _every_grid(), ids=lambda grid: grid.name)
def test_no_grid_scope_reads_its_values_in_python(grid):
    """query.statements keeps a list's statements per shape, each scope value a bound parameter:
    right only while a scope compares columns with its values and never reads them."""
    names = list(inspect.signature(grid.scope).parameters)
    conditions = grid.scope(**{name: Untouchable() for name in names})
    assert conditions, grid.name
    # And with bound parameters, as the kept statements are composed.
    assert grid.scope(**{name: bindparam(f"grid_scope_{name}") for name in names})
