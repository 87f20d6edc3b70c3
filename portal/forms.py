"""The base of every form of the portal: text fields only.

Flask-WTF hands an uploaded file to the field of its name, and a text field's validators
(Length, the e-mail rule) then fail on a FileStorage: a 500. No form here takes a file, so a
request that sends one is refused as a whole (400) before any field sees it.
"""
from flask import abort, request
from flask_wtf import FlaskForm

FILES_REFUSED = "Este formulario no admite archivos: envía solo los datos que pide."


class TextForm(FlaskForm):
    class Meta(FlaskForm.Meta):
        def wrap_formdata(self, form, formdata):
            data = super().wrap_formdata(form, formdata)
            if data is not None and request.files:
                abort(400, FILES_REFUSED)
            return data
