"""Subcommands of the `heteropool` command that belong to no single component."""

__all__: list[str] = []
