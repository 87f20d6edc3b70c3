"""Mi perfil forms: three on one page, told apart by their prefixes."""
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from portal.auth.forms import Cleaned, check_strength, confirm_field, password_field
from portal.auth.validation import clean_email, clean_name, clean_phone


def current_password_field():
    return PasswordField("Contraseña actual", validators=[
        DataRequired("Captura tu contraseña actual."),
        Length(max=200, message="La contraseña actual no es correcta."),
    ])


class DetailsForm(FlaskForm):
    name = StringField("Nombre", validators=[Cleaned(clean_name, 120, "El nombre")])
    phone = StringField("Teléfono", validators=[Cleaned(clean_phone)])


class EmailForm(FlaskForm):
    new_email = EmailField("Nuevo correo electrónico", validators=[Cleaned(clean_email)])
    current_password = current_password_field()


class PasswordForm(FlaskForm):
    current_password = current_password_field()
    new_password = password_field("Nueva contraseña")
    new_password_confirm = confirm_field("Confirma la nueva contraseña", "new_password")

    def __init__(self, *args, email="", **kwargs):
        super().__init__(*args, **kwargs)
        self.account_email = email

    def validate_new_password(self, field):
        check_strength(self, field, self.account_email)


class PasswordAndCodeForm(FlaskForm):
    """Proof for a two-factor change: the password, and a code (from the app, or a recovery code)."""
    current_password = current_password_field()
    code = StringField("Código de verificación", validators=[
        DataRequired("Captura el código de 6 dígitos de tu aplicación."),
        Length(max=20, message="El código de verificación no es correcto o ya se usó."),
    ], render_kw={"autocomplete": "one-time-code", "spellcheck": "false"})


class DeskRequirementForm(FlaskForm):
    require = BooleanField("Exigir la verificación en dos pasos a todos los usuarios de este escritorio")
