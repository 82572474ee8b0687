"""Built-in producers (see each module's docstring)."""

__all__: list[str] = []
