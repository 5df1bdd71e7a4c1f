"""Training: the JEPA loop (`train`), policy imitation (`imitate`), validation, and their helpers."""
