"""Making event content safe to print.

Everything an alert quotes from a CloudTrail record (user agents, names, ARNs, error
messages) was written by whoever made the failing call. A user agent can carry newlines
that forge extra alert lines, ANSI escapes that recolour a terminal, bidi overrides that
make `evil.sh` read as `hs.live`, NUL bytes, lone surrogates that make SNS reject the
message as invalid UTF-8, or 5 KB of padding that pushes the useful lines off screen.
"""

from __future__ import annotations

import re
import unicodedata

from credfix.keys import redact

FIELD_LIMIT = 200  # characters of one quoted field in human text
ELLIPSIS = "…"

# ESC-introduced sequences: CSI (colours, cursor moves), OSC (titles, hyperlinks), and
# two-character escapes. Removed whole so that no "[31m" debris is left behind.
_ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC, terminated by BEL or ST (or by nothing)
    r"|\x1b[@-Z\\-_]"  # other Fe escapes
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
)
# Categories that never belong in one line of text: control (Cc, includes \t \r \n NUL
# NEL), format (Cf: bidi embeddings/overrides/isolates U+202A-U+202E, U+2066-U+2069,
# zero-width characters), line/paragraph separators (Zl, Zp) and lone surrogates (Cs).
_BLANKED = {"Cc", "Cf", "Zl", "Zp", "Zs"}
# No word boundaries: a key glued to other text ("10.0.0.1AKIA…") is redacted too; a false
# positive only shortens human text.
_KEY_ID = re.compile(r"(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}")
_MAX_COMBINING = 2  # stacked combining marks ("zalgo") spill over neighbouring lines


def sanitise(text: object, limit: int = FIELD_LIMIT) -> str:
    """One line of plain, printable text of at most `limit` characters.

    Escape sequences are removed, every control/format/separator character becomes a
    space, runs of spaces collapse to one, lone surrogates become U+FFFD, access key IDs
    are redacted and long text ends in an ellipsis. `None` gives an empty string.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if text is None:
        return ""
    # Only a bounded prefix can end up in the result; don't scan megabytes to print 200 chars.
    raw = _ANSI.sub(" ", str(text)[: 8 * limit + 1024])
    # Human text shows key IDs redacted, even when one turns up inside a quoted field.
    raw = _KEY_ID.sub(lambda m: redact(m.group(0)), raw)
    out: list[str] = []
    combining = 0
    for ch in raw:
        category = unicodedata.category(ch)
        if category in _BLANKED:
            ch = " "
        elif category == "Cs":
            ch = "\ufffd"
        if category in ("Mn", "Me"):
            combining += 1
            if combining > _MAX_COMBINING:
                continue
        else:
            combining = 0
        if ch == " " and (not out or out[-1] == " "):
            continue
        out.append(ch)
        if len(out) > limit + 1:  # enough to know it must be cut; stop scanning 5 KB of padding
            break
    clean = "".join(out).strip()
    if len(clean) <= limit:
        return clean
    return clean[: limit - 1].rstrip() + ELLIPSIS


def ascii_line(text: str) -> str:
    """For SNS subjects, which must be printable ASCII: the ellipsis becomes '...' and any
    other non-ASCII character '?'."""
    clean = sanitise(text, limit=10_000).replace(ELLIPSIS, "...")
    return "".join(ch if " " <= ch <= "~" else "?" for ch in clean)
