"""Activation forms. The destination is checked by the rules (confirm_key), not by WTForms."""
from portal.forms import TextForm
from wtforms import BooleanField, HiddenField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

MAX_KEYS_PER_REQUEST = 20
MAX_TYPED = MAX_KEYS_PER_REQUEST * 30  # characters: a code and its dashes and spaces, per key


FALSE_VALUES = (False, "false", "", "n", "no", "0", "off")


class ValidateForm(TextForm):
    keys = TextAreaField("Clave Prepago", validators=[
        DataRequired("Captura la clave de prepago."),
        Length(max=MAX_TYPED, message="Captura como máximo 20 claves a la vez."),
    ], render_kw={"rows": 3, "autocomplete": "off", "spellcheck": "false", "autocapitalize": "characters"})

    def key_lines(self):
        """The non-empty lines typed, one key each."""
        return [line.strip() for line in (self.keys.data or "").splitlines() if line.strip()]


class ConfirmForm(TextForm):
    token = HiddenField()
    # "mi_negocio" / "distribuidor", rendered as radios by the template; confirm_key checks the value
    # (and that only a distributor desk may choose "distribuidor") and explains a refusal in Spanish.
    destination = StringField("Destino", default="mi_negocio")
    # Only the checkbox's own value accepts: "n", "no" or "0" typed into a request do not.
    accept_license = BooleanField("Acepto la Licencia de Uso.", false_values=FALSE_VALUES)
