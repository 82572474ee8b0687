"""Built-in scorers (see each module's docstring)."""

__all__: list[str] = []
