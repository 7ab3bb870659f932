"""Checks for lesson 6's exercises."""
__all__: list[str] = []
