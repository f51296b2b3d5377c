"""Exceptions raised by the Net2Net transforms.

Every message names the module (or group / point) involved and the reason, so a search loop can
log it and move on to another mutation.
"""

from __future__ import annotations

__all__ = ["Net2NetError", "NotDeepenableError", "NotWidenableError", "VerificationError"]


class Net2NetError(ValueError):
    """Base class: a Net2Net transform could not be applied exactly."""


class NotWidenableError(Net2NetError):
    """The requested width group cannot be widened exactly (and is refused)."""


class NotDeepenableError(Net2NetError):
    """The requested depth point cannot be deepened exactly (and is refused)."""


class VerificationError(Net2NetError):
    """The float64 self-check of a transform failed: the child would not compute the parent's function."""
