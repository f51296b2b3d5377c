"""Exact Net2Net transforms (widen / deepen) for any torch.fx-traceable model. Pure torch."""

from __future__ import annotations

from .errors import Net2NetError, NotDeepenableError, NotWidenableError, VerificationError
from .verify import preservation_error

__all__ = [
    "Net2NetError",
    "NotDeepenableError",
    "NotWidenableError",
    "VerificationError",
    "preservation_error",
]
