"""Helpers shared by the prepaid tests: walking the activation steps over HTTP."""
import re

TOKEN = re.compile(r'name="token" type="hidden" value="([^"]+)"')


def step_token(html):
    """The signed step token of a "Solicitar Clave de Confirmación" panel."""
    match = TOKEN.search(html)
    assert match, "no hay token de paso en la respuesta"
    return match.group(1)


def validate(client, keys, headers=None):
    """POST step 1 with `keys` (a string, or a list joined one per line)."""
    if isinstance(keys, (list, tuple)):
        keys = "\n".join(keys)
    return client.post("/claves-prepago/activar", data={"keys": keys}, headers=headers or {})


def confirm(client, token, destination="mi_negocio", accept=True, headers=None):
    """POST step 2's Confirmar."""
    data = {"token": token, "destination": destination}
    if accept:
        data["accept_license"] = "y"
    return client.post("/claves-prepago/activar/confirmar", data=data, headers=headers or {})
