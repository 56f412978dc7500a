"""The one error type for everything a user can get wrong (the bottom of the layering: no panolift imports).

Library code raises :class:`PanoliftError` (or a subclass such as ``SceneError``) when the *input* is
wrong: a malformed scene folder, a hostile pickle, a bad option value. The message names the file (or the
option) and the problem, on one line. The CLI prints it as ``error: ...`` and exits with status 2; any
other exception is a bug in panolift.
"""

from __future__ import annotations


class PanoliftError(Exception):
    """The input is wrong; the message names the file and the problem."""


class OptionError(PanoliftError, ValueError):
    """An option or parameter value is out of range; the message names the option and what it accepts."""
