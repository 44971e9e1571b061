"""A custom rule check, imported by dotted path in tests (a constitution never holds code)."""


def no_exclamations(text: str, row: dict) -> float:
    return 0.0 if "!" in text else 1.0
