"""Plain-text rules every layer applies to what clients send (pure; any module may import this)."""

from __future__ import annotations

import re

#: C0 control characters and DEL; tab, line feed and carriage return are allowed where SQL may go.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_BUT_WHITESPACE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def has_control(text: str, *, allow_whitespace: bool = False) -> bool:
    """True when ``text`` holds a NUL or another control character (tab and line breaks pass when
    ``allow_whitespace``)."""
    return (_CONTROL_BUT_WHITESPACE if allow_whitespace else _CONTROL).search(text) is not None
