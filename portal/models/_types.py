"""Column helpers shared by the models."""


def check_in(column, values):
    """SQL text for a CHECK that `column` is one of `values`."""
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"
