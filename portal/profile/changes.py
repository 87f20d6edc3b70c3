"""Mi perfil > Datos generales: the rules for changing one's own account, apart from HTTP.

The account's e-mail is where CDAs and keys are sent, so whoever controls it controls the
licences. Changing it takes the current password (a session left open on a shared computer is not
enough) and a link opened from the new address; the address only changes when that link is used.
"""
from portal.auth.passwords import password_matches, set_password
from portal.auth.sessions import end_all
from portal.auth.signin import find_user_by_email, mark_verified


class WrongPassword(Exception):
    def __init__(self):
        super().__init__("La contraseña actual no es correcta.")


class SameEmail(Exception):
    def __init__(self):
        super().__init__("Ese ya es el correo de tu cuenta.")


class EmailTaken(Exception):
    """The new address belongs to another account by the time the change is confirmed."""

    def __init__(self):
        super().__init__("Ese correo ya pertenece a otra cuenta; el cambio no se hizo.")


def update_details(user, name, phone):
    """Save the name and phone; True when something changed."""
    changed = (user.name, user.phone) != (name, phone)
    user.name, user.phone = name, phone
    return changed


def request_email_change(user, current_password, new_email):
    """Check the password and the new address; returns the other account that owns it, or None.

    The caller sends the confirmation link to a free address, and to a taken one a notice
    instead, and answers the same either way: the form cannot be used to find accounts.
    """
    if not password_matches(user, current_password):
        raise WrongPassword()
    if new_email == user.email:
        raise SameEmail()
    return find_user_by_email(new_email)


def confirm_email_change(user, new_email):
    """Make `new_email` the account's (verified: its link was opened); returns the old address."""
    owner = find_user_by_email(new_email)
    if owner is not None and owner.id != user.id:
        raise EmailTaken()
    old = user.email
    user.email = new_email
    user.email_verified_at = None
    mark_verified(user)
    # Whoever was signed in under the old address is signed out (the caller may start a new session).
    end_all(user)
    return old


def change_password(user, current_password, new_password):
    """Check the current password, then set the new one (which ends the user's other sessions)."""
    if not password_matches(user, current_password):
        raise WrongPassword()
    set_password(user, new_password)
