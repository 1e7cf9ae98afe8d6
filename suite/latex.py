"""Text into LaTeX that pdflatex compiles, whatever the characters of a label.

LaTeX's special characters are escaped. Latin-1 passes through (the kernel's UTF-8
input handles it). Outside Latin-1, characters with a command of the LaTeX kernel
(quotes, dashes, ellipsis, daggers, arrows, relations, Greek letters) become that
command; any other character (a ✂, a CJK name) becomes ``\\suiteunicode{<char>}{<hex>}``,
defined by :data:`SUITEUNICODE` at the top of every LaTeX report: LuaLaTeX and XeLaTeX
print the character itself (with a font that has it), pdflatex prints its code point,
e.g. ``[U+2702]``, instead of stopping with "Unicode character not set up".
"""

from __future__ import annotations

import unicodedata
from typing import Any

#: The definition every LaTeX report starts with (``\\providecommand``: yours wins).
SUITEUNICODE = (r"\providecommand{\suiteunicode}[2]{\ifdefined\directlua #1\else"
                r"\ifdefined\XeTeXrevision #1\else\texttt{[U+#2]}\fi\fi}")

SPECIALS = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
            "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
            "\\": r"\textbackslash{}", "<": r"\textless{}", ">": r"\textgreater{}",
            "±": r"$\pm$", "—": "---", "–": "--", "“": "``", "”": "''", "‘": "`", "’": "'",
            "…": r"\ldots{}", "•": r"\textbullet{}", "†": r"\dag{}", "‡": r"\ddag{}",
            "−": "$-$", "→": r"$\rightarrow$", "←": r"$\leftarrow$", "≤": r"$\leq$",
            "≥": r"$\geq$", "≈": r"$\approx$", "≠": r"$\neq$", "∞": r"$\infty$",
            "ς": r"$\varsigma$"}

_GREEK_CAPITALS = {"GAMMA", "DELTA", "THETA", "LAMDA", "XI", "PI", "SIGMA", "UPSILON", "PHI",
                   "PSI", "OMEGA"}


def _greek(ch: str) -> str | None:
    name = unicodedata.name(ch, "")
    for prefix, capital in (("GREEK SMALL LETTER ", False), ("GREEK CAPITAL LETTER ", True)):
        if name.startswith(prefix):
            letter = name[len(prefix):]
            if " " in letter or letter == "OMICRON" or (capital and letter not in _GREEK_CAPITALS):
                return None
            letter = "LAMBDA" if letter == "LAMDA" else letter
            command = letter.capitalize() if capital else letter.lower()
            return f"$\\{command}$"
    return None


def escape_char(ch: str) -> str:
    """One character as LaTeX that pdflatex compiles."""
    if ch in SPECIALS:
        return SPECIALS[ch]
    if ord(ch) < 256:
        return ch
    greek = _greek(ch)
    if greek:
        return greek
    return f"\\suiteunicode{{{ch}}}{{{ord(ch):04X}}}"


def latex_escape(text: Any) -> str:
    """Escape ``text`` (a label, a title) for LaTeX: specials, and every character
    outside Latin-1 (see the module's docstring)."""
    return "".join(escape_char(ch) for ch in str(text))
