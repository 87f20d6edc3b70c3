"""How soon something falls due, in the words of the grids' badges."""

SOON_DAYS = 7


def due_label(due, today):
    """"Vence hoy", "Vence mañana", "Vence en N días" within SOON_DAYS, else None."""
    days = (due - today).days
    if days < 0 or days > SOON_DAYS:
        return None
    if days == 0:
        return "Vence hoy"
    if days == 1:
        return "Vence mañana"
    return f"Vence en {days} días"
