"""The forms of Mi escritorio > Usuarios and of an invitation's page."""
from wtforms import BooleanField, EmailField, StringField
from wtforms.validators import DataRequired

from portal import roles
from portal.auth.forms import Cleaned, check_strength, confirm_field, password_field
from portal.auth.validation import clean_name
from portal.forms import TextForm

ROLE_CHOICES = [(role, roles.label(role)) for role in (roles.MEMBER, roles.VIEWER, roles.OWNER)]


class InviteForm(TextForm):
    email = EmailField("Correo electrónico", validators=[DataRequired("Captura el correo electrónico de la persona.")])
    role = StringField("Rol", default=roles.MEMBER)  # one of roles.ROLES: the rules refuse any other


class NewAccountForm(TextForm):
    """An invited address without an account: the same rules as Crear cuenta."""
    name = StringField("Nombre", validators=[Cleaned(clean_name, 120, "El nombre")])
    password = password_field("Contraseña")
    password_confirm = confirm_field("Confirma la contraseña", "password")
    accept_terms = BooleanField("Acepto los términos y condiciones de uso", validators=[
        DataRequired("Para crear tu cuenta debes aceptar los términos y condiciones."),
    ])

    def __init__(self, *args, email="", **kwargs):
        super().__init__(*args, **kwargs)
        self.account_email = email

    def validate_password(self, field):
        check_strength(self, field, self.account_email)
