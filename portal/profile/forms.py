"""Mi perfil forms: three on Datos generales, told apart by their prefixes; Notificaciones."""
from wtforms import BooleanField, EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Length, ValidationError

from portal.forms import TextForm
from portal.numbers import whole_number

from portal.alerts.preferences import MAX_THRESHOLD
from portal.auth.forms import Cleaned, check_strength, confirm_field, password_field
from portal.auth.validation import clean_email, clean_name, clean_phone


def current_password_field():
    return PasswordField("Contraseña actual", validators=[
        DataRequired("Captura tu contraseña actual."),
        Length(max=200, message="La contraseña actual no es correcta."),
    ])


class DetailsForm(TextForm):
    name = StringField("Nombre", validators=[Cleaned(clean_name, 120, "El nombre")])
    phone = StringField("Teléfono", validators=[Cleaned(clean_phone)])


class EmailForm(TextForm):
    new_email = EmailField("Nuevo correo electrónico", validators=[Cleaned(clean_email)])
    current_password = current_password_field()


class PasswordForm(TextForm):
    current_password = current_password_field()
    new_password = password_field("Nueva contraseña")
    new_password_confirm = confirm_field("Confirma la nueva contraseña", "new_password")

    def __init__(self, *args, email="", **kwargs):
        super().__init__(*args, **kwargs)
        self.account_email = email

    def validate_new_password(self, field):
        check_strength(self, field, self.account_email)


class NotificationsForm(TextForm):
    """Mi perfil > Notificaciones: which alerts, and the stamp threshold (blank: no alert)."""

    payments = BooleanField("Próximo pago de mis suscripciones (7 días y 1 día antes)")
    validity = BooleanField("Fin de vigencia de pólizas, servidores virtuales, espacio y cursos (30 y 7 días antes)")
    expiring_keys = BooleanField("Claves de prepago Disponibles que vencen sin usarse en los próximos 30 días")
    low_stamps = BooleanField("Saldo de timbres por debajo del mínimo")
    threshold = StringField("Mínimo de timbres", validators=[Length(max=20, message="Captura un número de timbres.")])

    def validate_threshold(self, field):
        text = _digits(field.data)
        if text and whole_number(text, MAX_THRESHOLD) is None:
            raise ValidationError(f"Captura un número entero de timbres, de 0 a {MAX_THRESHOLD:,}.")

    def threshold_number(self):
        """The validated threshold as a number, or None when left blank."""
        text = _digits(self.threshold.data)
        return whole_number(text, MAX_THRESHOLD) if text else None


def _digits(text):
    # "1,000" and "1 000" are how people write a thousand stamps.
    return (text or "").replace(",", "").replace(" ", "").strip()


class PasswordAndCodeForm(TextForm):
    """Proof for a two-factor change: the password, and a code (from the app, or a recovery code)."""
    current_password = current_password_field()
    code = StringField("Código de verificación", validators=[
        DataRequired("Captura el código de 6 dígitos de tu aplicación."),
        Length(max=20, message="El código de verificación no es correcto o ya se usó."),
    ], render_kw={"autocomplete": "one-time-code", "spellcheck": "false"})


class DeskRequirementForm(PasswordAndCodeForm):
    """A desk's requirement, changed only with the owner's password and code: a stolen session alone
    cannot switch off the desk's second step."""
    require = BooleanField("Exigir la verificación en dos pasos a todos los usuarios de este escritorio")
