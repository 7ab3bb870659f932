"""Checks for lesson 5's exercises."""
__all__: list[str] = []
