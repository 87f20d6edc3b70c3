"""The grid's large-list strategies, seen from the page: folded client search, groups walked one at
a time with bounded counts, no per-row queries, counts that leave out joins they do not need."""
import re
from datetime import timedelta

import pytest
from sqlalchemy import event

from portal.grid import query as grid_query
from portal.extensions import db
from portal import key_codes
from tests import factories

LIST = "/claves-prepago"
HX = {"HX-Request": "true"}


def _text(response):
    return response.get_data(as_text=True)


def _groups(html):
    return re.findall(r'<th scope="rowgroup"[^>]*>([^<]+)</th>', html)


def _codes(html):
    return re.findall(r'class="key-code">([0-9A-Z-]{19})<', html)


@pytest.fixture
def desk_keys(world):
    """Desk A: keys of two clients (one with accents), keys with no client, one old key; desk B's own."""
    today = factories.today()
    ferreteria = factories.client(world.a.desk, "Ferretería Juárez S.A. de C.V.")
    optica = factories.client(world.a.desk, "Óptica del Bajío")
    idle = factories.client(world.a.desk, "Abarrotes Sin Claves")  # no key in the period: not a group
    keys = {
        "ferreteria": [factories.prepaid_key(world.a.desk, status="utilizada", client=ferreteria,
                                             confirmed_on=today - timedelta(days=n)) for n in range(3)],
        "optica": [factories.prepaid_key(world.a.desk, status="utilizada", client=optica,
                                         confirmed_on=today - timedelta(days=n)) for n in range(2)],
        "none": [factories.prepaid_key(world.a.desk, confirmed_on=today - timedelta(days=n)) for n in range(4)],
    }
    factories.prepaid_key(world.a.desk, status="utilizada", client=idle, confirmed_on=today - timedelta(days=400))
    other = factories.client(world.b.desk, "Ferretería de Otro Escritorio")
    keys["foreign"] = factories.prepaid_key(world.b.desk, status="utilizada", client=other, confirmed_on=today)
    return keys


@pytest.mark.parametrize("typed", ["ferreteria", "Ferretería", "FERRETERÍA juárez", "juarez"])
def test_the_search_finds_a_client_however_its_accents_are_typed(client, world, login, desk_keys, typed):
    login(world.a.user)
    found = _codes(_text(client.get(LIST, query_string={"q": typed}, headers=HX)))
    assert sorted(found) == sorted(key_codes.grouped(k.code) for k in desk_keys["ferreteria"])


def test_the_search_still_finds_a_code_typed_whole_or_in_part(client, world, login, desk_keys):
    login(world.a.user)
    key = desk_keys["none"][0]
    for typed in (key.code.lower(), key_codes.grouped(key.code), key_codes.grouped(key.code)[5:14]):
        assert _codes(_text(client.get(LIST, query_string={"q": typed}, headers=HX))) == [key_codes.grouped(key.code)]
    assert _codes(_text(client.get(LIST, query_string={"q": "otro escritorio"}, headers=HX))) == []


def test_grouped_by_client_the_groups_come_in_name_order_and_unassigned_last(client, world, login, desk_keys):
    login(world.a.user)
    html = _text(client.get(LIST, query_string={"group": "cliente"}, headers=HX))
    assert _groups(html) == ["Cliente: Ferretería Juárez S.A. de C.V. (3)", "Cliente: Óptica del Bajío (2)",
                             "Cliente: Sin asignar (4)"]
    first = _text(client.get(LIST, query_string={"group": "cliente", "per_page": "2"}, headers=HX))
    second = _text(client.get(LIST, query_string={"group": "cliente", "per_page": "2", "page": "2"}, headers=HX))
    third = _text(client.get(LIST, query_string={"group": "cliente", "per_page": "2", "page": "3"}, headers=HX))
    assert _groups(first) == ["Cliente: Ferretería Juárez S.A. de C.V. (3)"]
    assert _groups(second) == ["Cliente: Ferretería Juárez S.A. de C.V. (3)", "Cliente: Óptica del Bajío (2)"]
    assert _groups(third) == ["Cliente: Óptica del Bajío (2)", "Cliente: Sin asignar (4)"]
    pages = [_codes(first), _codes(second), _codes(third)]
    assert [len(p) for p in pages] == [2, 2, 2]
    assert len({code for p in pages for code in p}) == 6  # no row twice, none skipped


def test_a_big_group_shows_mas_de_beyond_the_bound(client, world, login, desk_keys, monkeypatch):
    monkeypatch.setattr(grid_query, "COUNT_BOUND", 2)
    login(world.a.user)
    # A group is counted as far as the page needs (its end and one more) or the bound, whichever is more.
    whole = _text(client.get(LIST, query_string={"group": "estatus"}, headers=HX))
    assert _groups(whole) == ["Estatus: Disponible (4)", "Estatus: Utilizada (5)"]
    first = _text(client.get(LIST, query_string={"group": "estatus", "per_page": "2"}, headers=HX))
    assert _groups(first) == ["Estatus: Disponible (más de 3)"]
    third = _text(client.get(LIST, query_string={"group": "estatus", "per_page": "2", "page": "3"}, headers=HX))
    assert _groups(third) == ["Estatus: Utilizada (más de 3)"]
    assert len(_codes(first)) == len(_codes(third)) == 2


def test_a_keys_page_runs_a_fixed_number_of_statements_and_counts_without_joins(client, world, login, desk_keys):
    login(world.a.user)
    statements = []

    def remember(_conn, _cursor, statement, _parameters, _context, _executemany):
        statements.append(" ".join(statement.split()))

    client.get(LIST, headers=HX)
    event.listen(db.engine, "before_cursor_execute", remember)
    try:
        few = client.get(LIST, query_string={"per_page": "2"}, headers=HX)
        count_few = len(statements)
        statements.clear()
        many = client.get(LIST, query_string={"per_page": "100"}, headers=HX)
    finally:
        event.remove(db.engine, "before_cursor_execute", remember)
    assert few.status_code == many.status_code == 200
    assert len(statements) == count_few  # nothing per row
    counts = [s for s in statements if s.startswith("SELECT count(*)")]
    assert counts and all("clients" not in s for s in counts)


@pytest.mark.parametrize("query", [{"sort": "cliente"}, {"group": "cliente"}, {"sort": "-cliente", "per_page": "2"}])
def test_a_total_under_a_client_sort_or_grouping_is_counted_on_the_keys_alone(client, world, login, desk_keys, query):
    login(world.a.user)
    statements = []

    def remember(_conn, _cursor, statement, _parameters, _context, _executemany):
        statements.append(" ".join(statement.split()))

    event.listen(db.engine, "before_cursor_execute", remember)
    try:
        page = _text(client.get(LIST, query_string=query, headers=HX))
    finally:
        event.remove(db.engine, "before_cursor_execute", remember)
    assert "(9 elementos)" in page  # 3 + 2 keys of the two clients and 4 unassigned, this period
    # The page's total, not a group's own count (that one names the client, so it joins clients).
    totals = [s for s in statements if s.startswith("SELECT count(*)") and "razon_social" not in s]
    assert totals and all("clients" not in s for s in totals), totals


def test_a_count_past_the_bound_is_remembered_and_an_exact_one_never(client, world, login, desk_keys, monkeypatch):
    monkeypatch.setattr(grid_query, "COUNT_BOUND", 5)
    login(world.a.user)
    statements = []

    def remember(_conn, _cursor, statement, _parameters, _context, _executemany):
        statements.append(statement)

    def counts_run(**query):
        statements.clear()
        event.listen(db.engine, "before_cursor_execute", remember)
        try:
            html = _text(client.get(LIST, query_string=query, headers=HX))
        finally:
            event.remove(db.engine, "before_cursor_execute", remember)
        return sum(s.lstrip().startswith("SELECT count(*)") for s in statements), html

    first, html = counts_run(per_page=2)
    assert first == 1 and "más de 5 elementos" in html
    again, html = counts_run(per_page=2, sort="fecha")  # the same filter in another order: "más de 5" is known
    assert again == 0 and "más de 5 elementos" in html
    exact, html = counts_run(per_page=2, estatus="disponible")  # 4 rows: counted every time
    assert exact == 1 and "(4 elementos)" in html
    factories.prepaid_key(world.a.desk, confirmed_on=factories.today())
    exact, html = counts_run(per_page=2, estatus="disponible")
    assert exact == 1 and "(5 elementos)" in html


@pytest.fixture
def small_groups(world):
    """Desk A as a distributor with many clients of one to three keys each, and unassigned keys."""
    today = factories.today()
    expected = {}
    for n in range(14):
        name = f"Cliente {n:02d} S.A."
        buyer = factories.client(world.a.desk, name)
        made = [factories.prepaid_key(world.a.desk, status="utilizada", client=buyer,
                                      confirmed_on=today - timedelta(days=n + d)) for d in range(1 + n % 3)]
        expected[name] = made
    factories.client(world.a.desk, "Cliente 07b sin claves")  # a candidate with no key: no group
    expected[None] = [factories.prepaid_key(world.a.desk, confirmed_on=today - timedelta(days=d)) for d in range(3)]
    factories.prepaid_key(world.b.desk, status="utilizada", client=factories.client(world.b.desk, "Cliente 00 S.A."),
                          confirmed_on=today)
    return expected


def test_many_small_groups_page_as_one_walk_would_in_a_few_statements(client, world, login, small_groups):
    # A desk with many clients and few keys each: past its first group a page reads its groups
    # together, in the same order, with the same counts and no row twice or skipped.
    login(world.a.user)
    order = [(name, sorted(keys, key=lambda k: (k.confirmed_on, k.id), reverse=True))
             for name, keys in sorted(((n, k) for n, k in small_groups.items() if n), key=lambda item: item[0])]
    order.append(("Sin asignar", sorted(small_groups[None], key=lambda k: (k.confirmed_on, k.id), reverse=True)))
    lines = []
    for name, keys in order:
        lines.append(f"Cliente: {name} ({len(keys)})")
        lines.extend(key_codes.grouped(k.code) for k in keys)
    rows = [line for line in lines if not line.startswith("Cliente: ")]
    seen, per_page = [], 20
    statements = []

    def remember(*_args):
        statements.append(1)

    for page in range(1, -(-len(rows) // per_page) + 1):
        statements.clear()
        event.listen(db.engine, "before_cursor_execute", remember)
        try:
            html = _text(client.get(LIST, query_string={"group": "cliente", "per_page": per_page, "page": page},
                                    headers=HX))
        finally:
            event.remove(db.engine, "before_cursor_execute", remember)
        got = re.findall(r'<th scope="rowgroup"[^>]*>([^<]+)</th>|class="key-code">([0-9A-Z-]{19})<', html)
        shown = [group or code for group, code in got]
        assert all(code in rows for code in shown if not code.startswith("Cliente: "))
        seen.extend(code for code in shown if not code.startswith("Cliente: "))
        # Each group header on the page is the one of its first row, with its whole count.
        for header in (s for s in shown if s.startswith("Cliente: ")):
            assert header in lines
        assert len(statements) <= 20, (page, len(statements))  # group by group: 39 and more
    assert seen == rows
    whole = _text(client.get(LIST, query_string={"group": "cliente", "per_page": 100}, headers=HX))
    assert _groups(whole) == [line for line in lines if line.startswith("Cliente: ")]
    assert "Cliente 07b" not in whole and _codes(whole) == rows
