"""How an e-mail address is shown where it must be recognised but not harvested."""


def mask_email(address):
    """j•••@empresa.com.mx: enough to recognise, not enough to harvest."""
    if not address or "@" not in address:
        return ""
    local, domain = address.split("@", 1)
    return f"{local[:1]}•••@{domain}"
