"""The "Reenviar CDA" button's form: CSRF and where to come back to without JavaScript."""
from flask_wtf import FlaskForm
from wtforms import HiddenField


class ResendForm(FlaskForm):
    next = HiddenField()
