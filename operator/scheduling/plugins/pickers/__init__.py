"""Built-in pickers (see each module's docstring)."""

__all__: list[str] = []
