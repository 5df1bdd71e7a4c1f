"""The base class of failures a user fixes by changing input or config, not code.

The CLI prints these (and ValueError / OSError) as one line instead of a traceback. The module
imports nothing, so the CLI can catch the class without loading torch.
"""


class WorldJepaError(Exception):
    """A run stopped for a reason its message names, together with the fix."""
