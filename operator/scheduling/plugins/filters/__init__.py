"""Built-in filters (see each module's docstring)."""

__all__: list[str] = []
