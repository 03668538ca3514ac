"""Frozen copies of pure functions as they were before an optimisation, for equivalence tests.

Each module here is the named module copied verbatim at the commit given in its first line
(only its docstring's first line and, for districts, where it reads its data changed). A
test runs it beside the current code over a broad corpus and asserts equal outputs. When a
rule is changed on purpose, change the copy the same way (or delete the copy and its test).
"""
