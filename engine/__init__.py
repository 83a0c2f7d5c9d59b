"""lambdalet's engine: the Trio supervisor, in rooms by role (ARCHITECTURE.md draws the map).

Only the wiring sits here: `daemon` (``lambdalet serve``), `config` and `errors`; every other
module lives in the subpackage of its role, and rooms import one way, top to bottom.
"""
