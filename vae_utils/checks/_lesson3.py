"""Checks for lesson 3's exercises."""
__all__: list[str] = []
