"""The base class of failures a user fixes by changing input or config, not code, and the shared count check.

The CLI prints these (and ValueError / OSError) as one line instead of a traceback. The module
imports nothing, so the CLI can catch the class without loading torch.
"""


class WorldJepaError(Exception):
    """A run stopped for a reason its message names, together with the fix."""


def check_positive_int(name: str, value: object, example: int = 2) -> None:
    """Reject a count that is not a positive int (bools included), naming the key and a valid value."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}={value!r} must be a positive integer, e.g. {name}={example}")
