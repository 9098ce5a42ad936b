"""Text a student controls (file names, error messages, printed output), made safe to show anywhere.

A name or message may hold anything: bytes that are not UTF-8, lone surrogates (from JSON escapes or file names
Python decoded with surrogateescape), terminal escapes that forge "[PASS]" lines or recolour a report, carriage
returns that overwrite a line, bidirectional overrides that reorder it, Unicode line separators that start a new
one. `shown` turns any of it into plain
printable text that every writer (terminal, results.json, report.txt, HTML, CSV) can encode, and never raises.
Standard library only: locked/upload.py runs before anything heavy is importable.
"""
import re

_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_SEPARATORS = "\u2028\u2029"  # line and paragraph separators: str.splitlines() and some viewers break lines there
# C0 controls but newline and tab, DEL, C1 controls, bidirectional controls, Unicode line separators, lone surrogates
_UNSAFE = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}{_SEPARATORS}\ud800-\udfff]")
_UNSAFE_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}{_SEPARATORS}\ud800-\udfff]")  # newline and tab too


def _escape(match):
    ch = match.group()
    return {"\n": "\\n", "\t": "\\t", "\r": "\\r"}.get(ch) or (
        f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")


def shown(value, limit=None, one_line=False):
    """`value` (str, bytes or anything) as safe printable text: invalid UTF-8 and control characters written as
    backslash escapes (newlines and tabs kept unless `one_line`), cut to `limit` characters with a note."""
    try:
        if isinstance(value, (bytes, bytearray)):
            text = bytes(value).decode("utf-8", "backslashreplace")
        elif isinstance(value, str):
            text = str.__str__(value)  # a str subclass's own __str__ never runs
        else:
            text = repr(value) if value is not None else ""
        text = (_UNSAFE_LINE if one_line else _UNSAFE).sub(_escape, text)
    except Exception:  # noqa: BLE001  a value whose repr raises: say what it was, never fail the caller
        text = f"<{type(value).__name__}>"
    if limit is not None and len(text) > limit:
        text = text[:limit] + f" [... {len(text) - limit:,} characters cut]"
    return text
