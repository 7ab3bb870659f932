"""Checks for lesson 1's exercises."""
__all__: list[str] = []
