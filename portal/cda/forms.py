"""The "Reenviar CDA" button's form: CSRF and where to come back to without JavaScript."""
from portal.forms import TextForm
from wtforms import HiddenField


class ResendForm(TextForm):
    next = HiddenField()
