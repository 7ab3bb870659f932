"""Checks for lesson 2's exercises."""
__all__: list[str] = []
