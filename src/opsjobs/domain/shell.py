"""Where a template variable stands in a shell script, and how to quote a value for that spot.

``shlex.quote`` makes a value one literal word, but only where the shell reads a bare word.
The same quoted text inside ``"..."``, a comment or a here-document is read differently:
``echo "{{args.x}}"`` with x = ``$(reboot)`` would run reboot. So a script is scanned first
(a small POSIX sh lexer, below) and each variable is quoted for the spot it stands in. Spots
where no quoting is safe (here-documents, backquotes, ``${...}``, arithmetic, right after
``$`` or ``\\``) are refused rather than guessed at; the message says how to write it instead.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Spot(StrEnum):
    WORD = "word"  # unquoted: shlex.quote
    DOUBLE = "double"  # inside "...": backslash before \ $ ` "
    SINGLE = "single"  # inside '...': close, escaped quote, reopen
    COMMENT = "comment"  # after #: has no effect, must not end the comment


@dataclass(frozen=True)
class Unsafe:
    """A spot no quoting makes safe; ``reason`` completes "the variable stands ..."."""

    reason: str


_DOUBLE_SPECIAL = re.compile(r'([\\$`"])')


def quote(spot: Spot, value: str) -> str:
    if spot is Spot.WORD:
        return shlex.quote(value)
    if spot is Spot.DOUBLE:
        return _DOUBLE_SPECIAL.sub(r"\\\1", value)
    if spot is Spot.SINGLE:
        return value.replace("'", "'\\''")
    # A comment ends at a line break; quoting as a word keeps it harmless even were the
    # scanner wrong about this being a comment.
    return shlex.quote(value.replace("\n", " "))


# -- interpreter ----------------------------------------------------------------------------

# Shells whose quoting rules are those above (fish, csh and friends differ).
POSIX_SHELLS = frozenset({"sh", "bash", "dash", "ash", "ksh", "ksh93", "mksh", "zsh", "yash"})


def interpreter(script: str) -> str:
    """The program a script's ``#!`` line names (``sh`` without one), e.g. ``python3``."""
    if not script.startswith("#!"):
        return "sh"
    words = script[2:].split("\n", 1)[0].split()
    names = [w.rsplit("/", 1)[-1] for w in words]
    # "/usr/bin/env [-S] [NAME=value] prog" and "/bin/busybox sh" name the real program later.
    while names and names[0] in ("env", "busybox"):
        names = [n for n in names[1:] if not n.startswith("-") and "=" not in n]
    return names[0] if names else "sh"


# -- the scanner ----------------------------------------------------------------------------
#
# It follows the quoting state of POSIX sh (and what bash adds that matters here: $'...' and
# ((...))). Where its reading could be wrong it errs towards Unsafe, never towards a weaker
# quoting: a wrong WORD or DOUBLE is the one mistake that would let a value run.

_BREAKS = frozenset(" \t\n;&|()<>")
# After these words (at a command's start) another command starts.
_LEADING_WORDS = frozenset({"then", "do", "else", "elif", "if", "while", "until", "{", "!"})
_SPOT_OF_FRAME: Mapping[str, Spot | Unsafe] = {
    "script": Spot.WORD,
    "subshell": Spot.WORD,
    "cmdsub": Spot.WORD,
    "double": Spot.DOUBLE,
    "single": Spot.SINGLE,
    "comment": Spot.COMMENT,
    "ansi": Unsafe("inside $'...'"),
    "backtick": Unsafe("inside `...`; use $(...) instead"),
    "param": Unsafe("inside ${...}"),
    "arith": Unsafe("inside an arithmetic expression"),
}
_HEREDOC = Unsafe(
    'inside a here-document; assign it first (X={{...}}) and write "$X" in the document'
)
_SCRIPT_LIKE = frozenset({"script", "subshell", "cmdsub"})


class _Frame:
    """One level of nesting; script-like frames also track words, for `case` and comments."""

    __slots__ = ("kind", "case_depth", "parens", "word", "word_at_command", "command_pos")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.case_depth = 0  # open `case ... esac`: their `)` closes a pattern, not a frame
        self.parens = 0  # open parentheses inside an arithmetic expression
        self.word = ""
        self.word_at_command = False
        self.command_pos = True  # the next word would start a command
        # (a word in progress is `word != ""`; "#" starts a comment only outside one)

    def add(self, c: str) -> None:
        if not self.word:
            self.word_at_command = self.command_pos
        self.word += c

    def end_word(self) -> None:
        if self.word:
            if self.word_at_command and self.word == "case":
                self.case_depth += 1
            elif self.word_at_command and self.word == "esac" and self.case_depth:
                self.case_depth -= 1
            self.command_pos = self.word_at_command and self.word in _LEADING_WORDS
            self.word = ""


class _Scanner:
    def __init__(self, text: str, holes: Mapping[int, int]) -> None:
        self.text = text
        self.holes = holes
        self.spots: dict[int, Spot | Unsafe] = {}
        self.stack = [_Frame("script")]
        self.heredocs: list[tuple[str, bool]] = []

    def run(self) -> dict[int, Spot | Unsafe]:
        i, n = 0, len(self.text)
        while i < n:
            frame = self.stack[-1]
            end = self.holes.get(i)
            if end is not None:
                self.spots[i] = _SPOT_OF_FRAME[frame.kind]
                if frame.kind in _SCRIPT_LIKE:
                    frame.add("\0")  # part of a word, and never a reserved one
                i = end
            elif frame.kind in _SCRIPT_LIKE:
                i = self._script(i, frame)
            elif frame.kind == "comment":
                if self.text[i] == "\n":
                    self.stack.pop()  # the newline itself belongs to the script (here-docs)
                else:
                    i += 1
            elif frame.kind == "single":
                if self.text[i] == "'":
                    self.stack.pop()
                i += 1
            else:
                i = self._quoted(i, frame)
        return self.spots

    # Each step reads at position i and answers where to go on.

    def _hole_after(self, i: int, what: str) -> int | None:
        """A variable right after a backslash or $ is refused: it would join their meaning."""
        end = self.holes.get(i + 1)
        if end is not None:
            self.spots[i + 1] = Unsafe(f"right after {what}")
        return end

    def _escape(self, i: int) -> int:
        end = self._hole_after(i, "a backslash")
        return end if end is not None else i + 2

    def _dollar(self, i: int, ansi_quotes: bool) -> int:
        end = self._hole_after(i, "a $")
        if end is not None:
            return end
        if self.text.startswith("$((", i):
            self.stack.append(_Frame("arith"))
            return i + 3
        follow = self.text[i + 1 : i + 2]
        kind = {"(": "cmdsub", "{": "param", "'": "ansi" if ansi_quotes else None}.get(follow)
        if kind is None:
            return i + 1
        self.stack.append(_Frame(kind))
        return i + 2

    def _script(self, i: int, frame: _Frame) -> int:
        text, c = self.text, self.text[i]
        if c not in _BREAKS:
            if c == "#" and not frame.word:
                self.stack.append(_Frame("comment"))
                return i + 1
            frame.add(c)
            if c == "\\":
                return self._escape(i)
            if c == "$":
                return self._dollar(i, ansi_quotes=True)
            opened = {"'": "single", '"': "double", "`": "backtick"}.get(c)
            if opened is not None:
                self.stack.append(_Frame(opened))
            return i + 1
        frame.end_word()
        if c == "(":
            if frame.command_pos and text.startswith("((", i):
                self.stack.append(_Frame("arith"))  # bash's (( ... )) command
                return i + 2
            self.stack.append(_Frame("subshell"))
            return i + 1
        if c == ")":
            return self._close_paren(i, frame)
        if c == "<" and text.startswith("<<", i):
            if text.startswith("<<<", i):  # a here-string: an ordinary word follows
                frame.command_pos = False
                return i + 3
            return self._heredoc_operator(i + 2)
        if c == "\n" and self.heredocs:
            frame.command_pos = True
            return self._heredoc_bodies(i + 1)
        if c in ";&|\n":
            frame.command_pos = True
        elif c in "<>":
            frame.command_pos = False
        return i + 1

    def _close_paren(self, i: int, frame: _Frame) -> int:
        if frame.kind == "subshell" or (frame.kind == "cmdsub" and not frame.case_depth):
            self.stack.pop()
            if frame.kind == "subshell":
                self.stack[-1].command_pos = False
            # after $(...) the word it is part of goes on in the outer frame
        else:
            frame.command_pos = True  # a case pattern's ")": its commands follow
        return i + 1

    def _quoted(self, i: int, frame: _Frame) -> int:
        """Inside "...", `...`, $'...', ${...} or an arithmetic expression."""
        c, kind = self.text[i], frame.kind
        if c == "\\":
            return self._escape(i)
        closer = {"double": '"', "backtick": "`", "ansi": "'", "param": "}"}.get(kind)
        if c == closer:
            self.stack.pop()
            return i + 1
        if kind in ("backtick", "ansi"):
            return i + 1  # nothing inside them is trusted, so nothing nested is tracked
        if kind == "arith" and c in "()":
            return self._arith_paren(i, frame)
        if c == "$":
            return self._dollar(i, ansi_quotes=kind == "param")
        if c == "`":
            self.stack.append(_Frame("backtick"))
        elif kind != "double" and c in "'\"":
            self.stack.append(_Frame("single" if c == "'" else "double"))
        return i + 1

    def _arith_paren(self, i: int, frame: _Frame) -> int:
        if self.text[i] == "(":
            frame.parens += 1
        elif frame.parens:
            frame.parens -= 1
        elif self.text.startswith("))", i):
            self.stack.pop()
            return i + 2
        return i + 1

    def _heredoc_operator(self, i: int) -> int:
        """After ``<<``: note the delimiter; the body starts after the end of this line."""
        text, n = self.text, len(self.text)
        strip_tabs = text.startswith("-", i)
        i += strip_tabs
        while i < n and text[i] in " \t":
            i += 1
        delimiter = []
        while i < n and text[i] not in _BREAKS:
            end = self.holes.get(i)
            if end is not None:
                self.spots[i] = Unsafe("in a here-document's delimiter")
                i = end
            elif text[i] in "'\"":
                close = text.find(text[i], i + 1)
                close = n if close < 0 else close
                delimiter.append(text[i + 1 : close])
                i = close + 1
            elif text[i] == "\\":
                delimiter.append(text[i + 1 : i + 2])
                i += 2
            else:
                delimiter.append(text[i])
                i += 1
        self.heredocs.append(("".join(delimiter), strip_tabs))
        self.stack[-1].command_pos = False
        return i

    def _heredoc_bodies(self, i: int) -> int:
        text, n = self.text, len(self.text)
        for delimiter, strip_tabs in self.heredocs:
            while i < n:
                line_end = text.find("\n", i)
                line_end = n if line_end < 0 else line_end
                for start in self.holes:
                    if i <= start < line_end:
                        self.spots[start] = _HEREDOC
                line = text[i:line_end]
                i = line_end + 1
                if (line.lstrip("\t") if strip_tabs else line) == delimiter:
                    break
        self.heredocs = []
        return i


def spots(script: str, holes: Mapping[int, int]) -> dict[int, Spot | Unsafe]:
    """The spot of each hole (template variable) in a shell script.

    ``holes`` maps each variable's start offset to its end; the scanner steps over them as
    opaque parts of a word. Answers start offset -> Spot, or Unsafe with the reason.
    """
    found = _Scanner(script, holes).run()
    for start in holes:
        # A hole the scanner stepped over without placing it (e.g. inside an escape).
        found.setdefault(start, Unsafe("where the script cannot be read"))
    return found
