"""The one table of names the name rule refuses: `?name=` and a token's name claim are tested against it both.

Each is refused with `invalid_field` (see docs/protocol.md, "Names"), whichever way it came.
"""

from __future__ import annotations

REFUSED_NAMES: list[tuple[str, str]] = [
    ("lone surrogate", "ada\ud800"),
    ("lone low surrogate", "\udfff"),
    ("NUL", "ada\x00"),
    ("newline", "ada\nINFO fake log line"),
    ("escape", "\x1b[31mred"),
    ("DEL", "ada\x7f"),
    ("C1 control", "ada\x85"),
    ("right-to-left override", "ada\u202egnp.exe"),
    ("left-to-right embedding", "\u202aada"),
    ("pop directional formatting", "ada\u202c"),
    ("right-to-left isolate", "\u2067ada"),
    ("pop directional isolate", "ada\u2069"),
    ("left-to-right mark", "ada\u200e"),
    ("soft hyphen", "a\u00adda"),
    ("zero-width space", "ad\u200ba"),
    ("byte order mark", "\ufeffada"),
    ("invisible tag characters", "ada\U000e0041\U000e0042"),
    ("line separator", "ada\u2028"),
    ("paragraph separator", "ada\u2029"),
]
