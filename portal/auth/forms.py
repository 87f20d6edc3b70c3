"""Account forms."""
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, PasswordField
from wtforms.validators import DataRequired, Email, Length


class SignInForm(FlaskForm):
    email = EmailField("Correo electrónico", validators=[
        DataRequired("Captura tu correo electrónico."),
        Length(max=254, message="El correo es demasiado largo."),
        Email("Captura un correo electrónico válido."),
    ])
    password = PasswordField("Contraseña", validators=[
        DataRequired("Captura tu contraseña."),
        Length(max=200, message="La contraseña es demasiado larga."),
    ])
    remember = BooleanField("Mantener la sesión iniciada")
    next = HiddenField()
