"""Recuperar / restablecer contraseña: the rule, apart from HTTP."""
from portal.auth.passwords import set_password
from portal.auth.signin import mark_verified


def reset_password(user, password):
    """Set a new password from a reset link: every session ends, and the address is proven."""
    set_password(user, password)
    # The link reached this mailbox, which is all a verification link proves.
    mark_verified(user)
