"""Column and filter declarations without a client: text, HTML, CSV, and the one range rule for dates and numbers."""
from datetime import date

from markupsafe import Markup, escape

from portal.grid import Column, DateRange, NumberRange, Range, Text, badge, like_pattern, parse_date
from portal.grid.text import csv_safe, html_text


class Form:
    """What a filter's parse writes into: the form's values and the notices (a GridState's part)."""

    def __init__(self):
        self.form, self.notices = {}, []


def test_dates_and_numbers_share_one_range_rule():
    assert issubclass(DateRange, Range) and issubclass(NumberRange, Range)
    column = Column("fecha", "Fecha", None, kind="date")
    state = Form()
    bounds = DateRange("desde", "hasta").parse({"desde": "2026-12-01", "hasta": "01/10/2026"}, column, state)
    assert bounds == (date(2026, 10, 1), date(2026, 12, 1))
    assert state.notices == ["En Fecha la fecha inicial era posterior a la final; se intercambiaron."]
    assert state.form == {"desde": "01/10/2026", "hasta": "01/12/2026"}
    assert DateRange().url_values(state.form) == {"desde": "2026-10-01", "hasta": "2026-12-01"}
    assert DateRange().describe(column, bounds, state) == "desde 01/10/2026 al 01/12/2026"
    assert DateRange().describe(column, (None, date(2026, 12, 1)), state) == "hasta 01/12/2026"
    amount = Column("cantidad", "Cantidad", None, kind="number")
    numbers = Form()
    bounds = NumberRange("min", "max").parse({"min": "50", "max": "10"}, amount, numbers)
    assert bounds == (10, 50) and numbers.form == {"min": "10", "max": "50"}
    assert numbers.notices == ["En Cantidad el mínimo era mayor que el máximo; se intercambiaron."]
    assert NumberRange("min", "max").describe(amount, (10, 50), numbers) == "de 10 a 50"
    assert NumberRange("min", "max").describe(amount, (1000, None), numbers) == "1,000 o más"


def test_a_bad_bound_is_ignored_with_a_spanish_notice():
    state = Form()
    column = Column("usuarios", "Usuarios", None)
    assert NumberRange("a", "b").parse({"a": "x", "b": str(2**40)}, column, state) is None
    assert state.notices == ["«x» no es un número válido para Usuarios; se ignoró.",
                             f"«{2**40}» no es un número válido para Usuarios; se ignoró."]
    assert parse_date("31/02/2026") is None and parse_date("2026-2-1") is None
    assert parse_date("29/02/2028") == date(2028, 2, 29)


def test_cells_read_as_text_html_and_csv():
    when = Column("fecha", "Fecha", None, kind="date", empty="Inactiva")
    assert (when.text(date(2026, 1, 2)), when.text(None), when.csv(None)) == ("02/01/2026", "Inactiva", "Inactiva")
    status = Column("estatus", "Estatus", None, labels={"activo": "Activo"}, html=lambda v: badge(v, "Activo"))
    assert status.cell("activo") == '<span class="badge badge-activo">Activo</span>'
    assert status.cell(None) == "" and status.text("otro") == "otro"
    assert badge('"><x', "<b>") == Markup('<span class="badge badge-&#34;&gt;&lt;x">&lt;b&gt;</span>')
    flagged = Column("clave", "Clave", None, html=lambda v, marked: Markup("<b>★</b>") if v in marked else v,
                     html_args=("marked",))
    assert flagged.cell("A", marked={"A"}) == "<b>★</b>" and flagged.cell("B", marked={"A"}) == "B"


def test_a_cell_is_escaped_as_jinja_escapes_it_whatever_was_escaped_before():
    # A row's cell is written as HTML text without the template: what Jinja would have printed.
    client = Column("cliente", "Cliente", None, empty="Sin asignar")
    for value in ('Ferretería "El Tornillo" & <Hijos>', "O'Brien", "Años 2026", None):
        assert client.cell(value) == str(escape(client.text(value)))
    assert client.cell('<b>"x"</b>') == "&lt;b&gt;&#34;x&#34;&lt;/b&gt;"
    # `html` giving plain text is escaped; its Markup is kept as it is.
    text_or_markup = Column("n", "N", None, html=lambda v, markup: Markup(v) if markup else v, html_args=("markup",))
    assert text_or_markup.cell("<i>", markup=True) == "<i>"
    assert text_or_markup.cell("<i>", markup=False) == "&lt;i&gt;"
    # A text escaped once is remembered, but a Markup of the same characters never answers for it.
    assert html_text(Markup("<b>")) == "<b>" and html_text("<b>") == "&lt;b&gt;"
    assert Column("d", "D", None, kind="date").cell(date(2026, 3, 9)) == "09/03/2026"


def test_a_filter_takes_bound_parameters_only_where_its_condition_reads_no_value_in_python():
    from dataclasses import dataclass
    from portal.grid import Choice

    symbols, shape, values = DateRange().bound("f", (date(2026, 1, 1), None))
    assert (symbols[0].key, symbols[1], shape, values) == ("f_low", None, (True, False), {"f_low": date(2026, 1, 1)})
    assert NumberRange("a", "b").bound("n", (None, 5))[1:] == ((False, True), {"n_high": 5})
    assert Choice("estatus").bound("c", ("activo", "vencido"))[2] == {"c": ["activo", "vencido"]}

    @dataclass(frozen=True)
    class Days(DateRange):
        def condition(self, column, bounds):  # computes from each bound
            return None

    assert Days().bound("f", (date(2026, 1, 1), None)) is None
    assert Choice("producto", where=lambda codes: None).bound("c", ("SAE",)) is None
    assert Text("serie").bound("t", "sae") is None


def test_csv_keeps_formulas_as_text_and_like_escapes_its_own_characters():
    serial = Column("serie", "No. Serie", None)
    assert [serial.csv(v) for v in ("=1+1", "+5", "-2", "@SUM", "SAE")] == ["'=1+1", "'+5", "'-2", "'@SUM", "SAE"]
    assert Column("n", "N", None, kind="number").csv(-2) == "-2"  # a number is not a formula
    assert csv_safe("\tx") == "'\tx"
    assert like_pattern("50%_a\\b") == "%50\\%\\_a\\\\b%"
    state = Form()
    assert Text("serie").parse({"serie": " SAE12 "}, serial, state) == "sae12" and state.form == {"serie": "SAE12"}
