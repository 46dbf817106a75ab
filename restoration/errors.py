"""The one exception type users see: a problem with their input, explained in one line."""
from __future__ import annotations


class RestorationError(Exception):
    """Bad input (file, image, option, weights). The CLI prints its message and exits non-zero, no traceback."""


class OptionError(RestorationError):
    """An option file or option value is wrong; the message names the key path."""
