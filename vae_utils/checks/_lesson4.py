"""Checks for lesson 4's exercises."""
__all__: list[str] = []
