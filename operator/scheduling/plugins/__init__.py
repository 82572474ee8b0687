"""Built-in scheduling plugins: one plugin per module, the module docstring is its README."""

__all__: list[str] = []
