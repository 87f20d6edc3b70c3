"""Account forms. Field rules live in plain functions (validation.py, portal.rfc, passwords.py);
these forms only attach them to fields, so every message appears next to its field."""
from portal.forms import TextForm
from wtforms import BooleanField, EmailField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, ValidationError

from portal.auth.passwords import MAX_LENGTH, WeakPassword, check_new_password
from portal.auth.validation import clean_email, clean_name, clean_phone
from portal.rfc import GENERIC, normalise_rfc


class Cleaned:
    """A validator from a function that returns the clean value or raises ValueError."""

    def __init__(self, clean, *args):
        self.clean, self.args = clean, args

    def __call__(self, form, field):
        try:
            field.data = self.clean(field.data, *self.args)
        except ValueError as error:
            raise ValidationError(str(error)) from None


def _rfc(value):
    rfc = normalise_rfc(value)
    if rfc in GENERIC:
        raise ValueError("El RFC genérico no sirve para crear una cuenta: captura el RFC de tu empresa.")
    return rfc


def password_field(label, **extra):
    return PasswordField(label, validators=[
        DataRequired("Captura la contraseña."),
        Length(max=MAX_LENGTH, message=f"La contraseña admite como máximo {MAX_LENGTH} caracteres."),
    ], **extra)


def confirm_field(label, other):
    return PasswordField(label, validators=[
        DataRequired("Captura otra vez la contraseña."),
        Length(max=MAX_LENGTH, message="Las contraseñas no coinciden."),
        EqualTo(other, "Las contraseñas no coinciden."),
    ])


def check_strength(form, field, email=""):
    """A new password's rules, as a message next to the field."""
    try:
        check_new_password(field.data, email)
    except WeakPassword as error:
        raise ValidationError(str(error)) from None


class SignInForm(TextForm):
    # The same rule as Crear cuenta: an address registration accepts can always sign in.
    email = EmailField("Correo electrónico", validators=[Cleaned(clean_email)])
    password = PasswordField("Contraseña", validators=[
        DataRequired("Captura tu contraseña."),
        Length(max=200, message="La contraseña es demasiado larga."),
    ])
    remember = BooleanField("Mantener la sesión iniciada")
    next = HiddenField()


class RegisterForm(TextForm):
    razon_social = StringField("Razón social", validators=[Cleaned(clean_name, 200, "La razón social")])
    rfc = StringField("RFC", validators=[Cleaned(_rfc)])
    name = StringField("Nombre de contacto", validators=[Cleaned(clean_name, 120, "El nombre de contacto")])
    phone = StringField("Teléfono", validators=[Cleaned(clean_phone)])
    email = EmailField("Correo electrónico", validators=[Cleaned(clean_email)])
    password = password_field("Contraseña")
    password_confirm = confirm_field("Confirma la contraseña", "password")
    accept_terms = BooleanField("Acepto los términos y condiciones de uso", validators=[
        DataRequired("Para crear tu cuenta debes aceptar los términos y condiciones."),
    ])

    def validate_password(self, field):
        check_strength(self, field, self.email.data if not self.email.errors else "")


class ForgotForm(TextForm):
    email = EmailField("Correo electrónico", validators=[Cleaned(clean_email)])


class ResetForm(TextForm):
    password = password_field("Nueva contraseña")
    password_confirm = confirm_field("Confirma la nueva contraseña", "password")

    def __init__(self, *args, email="", **kwargs):
        super().__init__(*args, **kwargs)
        self.account_email = email

    def validate_password(self, field):
        check_strength(self, field, self.account_email)


class ConfirmForm(TextForm):
    """A button and its CSRF token: for actions whose data is in the URL or the session."""


class CodeForm(TextForm):
    """The second step of sign-in (and of turning two-factor sign-in off): a code from the app or a recovery code."""
    code = StringField("Código de verificación", validators=[
        DataRequired("Captura el código de 6 dígitos de tu aplicación o uno de tus códigos de recuperación."),
        Length(max=20, message="El código de verificación no es correcto o ya se usó."),
    ], render_kw={"autocomplete": "one-time-code", "inputmode": "text", "autocapitalize": "characters",
                  "spellcheck": "false"})
