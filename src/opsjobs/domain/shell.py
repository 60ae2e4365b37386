"""Where a template variable may stand in a shell script, proven by reading the script.

Values never enter a script's text: a variable is rendered as a reference to an environment
variable holding the value (see ``templates.py``), and a shell does not parse what a quoted
reference expands to. That holds only where the shell reads the reference as plain data, so
a script is scanned first (a small lexer for sh and bash, below) and a variable may stand in
exactly two kinds of spot:

- part of an unquoted word that is an argument of a command, or the value of an assignment
  (rendered ``"${V}"``);
- inside a plain ``"..."`` string in such a word (rendered ``${V}``).

Everything else is refused, with the reason: the name of the command to run; ``${...}``,
``$((...))``, ``((...))``, ``[[ ... ]]``, ``$[...]``, array subscripts and literals, where
bash evaluates words as arithmetic and ``a[$(cmd)]`` runs ``cmd`` even when it comes from a
variable; arguments of shell builtins that read them as code, arithmetic or variable names
(``eval``, ``let``, ``read``, ``unset``, ``printf -v``, ``test -v``, ``declare`` with options
and so on; only a short list of builtins is allowed); ``sh -c``-like arguments; redirection
targets, here-documents and here-strings; comments, ``'...'``, ``$'...'``, ``$"..."`` and
backquotes. The lexer reads every script by bash's rules (``/bin/sh`` is bash on some
systems); where shells read a construct differently it refuses whatever follows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Form(StrEnum):
    WORD = "word"  # part of an unquoted word: "${V}"
    QUOTED = "quoted"  # inside "...": ${V}


@dataclass(frozen=True)
class Safe:
    form: Form
    # Nothing but other variables and quotes before it in its word, in an argument: a value
    # starting with "-" would be read as an option, so the value is checked when rendered.
    leading: bool
    # Assigned to a variable that the script then uses as arithmetic, a name or code (see
    # _Flows): the value must be an integer, checked when rendered.
    numeric: bool = False


@dataclass(frozen=True)
class Unsafe:
    """A spot refused; ``reason`` completes "the variable cannot stand ..."."""

    reason: str


Spot = Safe | Unsafe

# -- interpreter ----------------------------------------------------------------------------

# The shells a script with variables may run in: the ones whose reading of a script the
# lexer follows and the security tests run (dash is /bin/sh on Debian).
SHELLS = frozenset({"sh", "bash", "dash"})


def interpreter(script: str) -> str:
    """The program a script's ``#!`` line names (``sh`` without one), e.g. ``python3``."""
    if not script.startswith("#!"):
        return "sh"
    words = script[2:].split("\n", 1)[0].split()
    if not words:
        return "sh"
    program, rest = words[0].rsplit("/", 1)[-1], words[1:]
    # "/usr/bin/env [-S] [-i] [NAME=value] prog" and "/bin/busybox prog" name the real program
    # later. Any other option of env (-Sprog, --split-string=prog, -u NAME, -C DIR) hides
    # which word is the program: then the answer is that option, which no check takes for a
    # shell (a script whose program cannot be told is not a shell script).
    while program in ("env", "busybox") and rest:
        word = rest.pop(0)
        if program == "env" and (word in _ENV_PLAIN_OPTIONS or _ENV_ASSIGNMENT.match(word)):
            continue
        program = word if word.startswith("-") else word.rsplit("/", 1)[-1]
        if word.startswith("-"):
            break
    return program


# Options of env after which the next word is still the program or another option.
_ENV_PLAIN_OPTIONS = frozenset({"-S", "-i", "-", "--ignore-environment"})
_ENV_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")


# -- what commands may take a variable ------------------------------------------------------

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_ASSIGNMENT = re.compile(rf"({_NAME})(\[[^\]]*\])?\+?=")
_OPEN_SUBSCRIPT = re.compile(rf"{_NAME}\[")

# Variables the shell itself (or the loader of every program it starts) reads as code, a
# prompt to expand, or a place to find programs: a value assigned to one would choose what
# runs.
_SPECIAL_VARIABLES = frozenset(
    {
        *("PATH", "ENV", "BASH_ENV", "PS1", "PS2", "PS3", "PS4", "PROMPT_COMMAND", "IFS"),
        *("CDPATH", "FPATH", "SHELLOPTS", "BASHOPTS", "GLOBIGNORE", "BASH_XTRACEFD"),
        *("BASH_LOADABLES_PATH", "EXECIGNORE", "BASH_COMPAT", "PROMPT_DIRTRIM"),
    }
)

# Builtins (and keywords) whose arguments may hold a variable: they treat them as data. Each
# maps to the option letters that would make them read a later argument as a variable name
# (printf -v, test -v, wait -p).
_SAFE_BUILTINS: Mapping[str, str] = {
    **dict.fromkeys(("echo", ":", "true", "false", "cd", "pushd", "popd", "dirs", "pwd"), ""),
    **dict.fromkeys(("exit", "return", "shift", "break", "continue", "kill", "umask"), ""),
    **dict.fromkeys(("ulimit", "type", "times", "help", "caller", "case"), ""),
    "printf": "v",
    "test": "vR",
    "[": "vR",
    "wait": "p",
}
# Declaration builtins: a variable may be the value of NAME=..., without options (-i, -n
# and -a make bash read the value as arithmetic or a name).
_DECLARATIONS = frozenset({"declare", "typeset", "local", "export", "readonly"})
# Every other builtin, refused: each reads some argument as code, arithmetic, a variable
# name, a file to run or a program to load.
_OTHER_BUILTINS = frozenset(
    {
        *(".", "source", "eval", "let", "trap", "alias", "unalias", "unset", "read"),
        *("readarray", "mapfile", "getopts", "enable", "hash", "complete", "compgen"),
        *("compopt", "bind", "fc", "history", "coproc", "fg", "bg", "disown", "logout"),
        *("suspend", "function", "[[", "]]", "((", "exec", "builtin"),
        *("command", "time", "!", "{", "}", "if", "then", "else", "elif", "fi", "while"),
        *("until", "do", "done", "esac", "set", "shopt"),  # a value choosing shell options
        "jobs",  # jobs -x CMD ARGS runs CMD
    }
)
# Words that go before a command and leave it a command: `command eval "$x"` is eval.
_PREFIXES = frozenset({"command", "builtin", "exec", "time", "nohup"})
# After these words (at a command's start) another command starts.
_LEADING_WORDS = frozenset({"then", "do", "else", "elif", "if", "while", "until", "{", "!"})
# Programs that run an argument as code: name -> the options that say which argument.
_CODE_RUNNERS: Mapping[str, str] = {
    **dict.fromkeys(("sh", "bash", "dash", "ash", "ksh", "mksh", "zsh", "yash", "su"), "c"),
    **dict.fromkeys(("fish", "csh", "tcsh", "busybox", "python", "python3", "python2"), "c"),
    **dict.fromkeys(("perl", "ruby", "node", "nodejs"), "eE"),
}


def code_options(program: str) -> str:
    """The option letters after which ``program`` (a path or a name) runs an argument as code
    (``c`` for sh and python, ``eE`` for perl), "" for a program not known to."""
    runner = program.rsplit("/", 1)[-1]
    return _CODE_RUNNERS.get(runner) or _CODE_RUNNERS.get(runner.rstrip("0123456789.")) or ""


@dataclass(frozen=True)
class _Word:
    """A word as the lexer read it: ``text`` without quote characters ("\\0" for a
    variable, "$" for an expansion), ``shape`` with them, ``expanded`` if it holds an
    expansion (whose value could be anything, an option included)."""

    text: str
    shape: str
    expanded: bool


def _options(words: list[_Word]) -> str:
    return "".join(w.text[1:] for w in words if w.text[:1] == "-" and w.text[:2] != "--")


def _argument_spot(name: _Word, before: list[_Word], word: _Word) -> str | None:
    """Why a variable cannot stand in an argument ``word`` of command ``name`` after the
    arguments ``before`` (None when it can)."""
    if name.expanded:
        return "in an argument of a command named by an expansion, which could be eval"
    command = name.text
    if command in _DECLARATIONS:
        if any(w.text[:1] in "-+" or w.expanded for w in before):
            return (
                f"in {command} with options, which (-i, -n, -a) make bash read it as "
                "arithmetic or as a variable's name; assign it first: X={{...}}"
            )
        return _assignment_spot(word, f"as a variable's name in {command}")
    if _OPEN_SUBSCRIPT.match(word.shape) and word.shape.count("[") > word.shape.count("]"):
        return "in an array subscript, which bash evaluates as arithmetic"
    if command in _SAFE_BUILTINS:
        return _builtin_spot(command, before)
    if command in ("for", "select"):
        # for NAME in WORDS: the words are data; NAME, or for (( )), is not.
        if len(before) >= 2 and before[1].text == "in" and not before[0].expanded:
            return None
        return f"as {command}'s variable name"
    if command in _OTHER_BUILTINS:
        return (
            f"in an argument of {command}, a shell builtin or keyword that may read it as "
            "code, arithmetic or a variable's name"
        )
    runner = command.rsplit("/", 1)[-1]
    letters = code_options(command)
    if letters and any(c in _options(before) or w.expanded for c in letters for w in before):
        return f"in {runner} -{letters[0]} ..., which runs it as code"
    return None


def _builtin_spot(command: str, before: list[_Word]) -> str | None:
    letters = _SAFE_BUILTINS[command]
    if command in ("test", "["):
        last = before[-1] if before else None
        if last is not None and (last.expanded or last.text in ("-v", "-R")):
            return f"after {last.text} in {command}, which may read it as a variable's name"
    elif command == "printf":
        first = before[0] if before else None
        if first is not None and (first.expanded or first.text.startswith("-")):
            return "after printf's options (-v reads it as a variable's name)"
    elif letters and any(c in _options(before) or w.expanded for c in letters for w in before):
        return f"after {command} -{letters[0]}, which reads it as a variable's name"
    if command == "case" and before:
        return "in a case pattern"
    return None


def _assignment_spot(word: _Word, otherwise: str) -> str | None:
    match = _ASSIGNMENT.match(word.shape)
    if match is None:
        if _OPEN_SUBSCRIPT.match(word.shape):
            return "in an array subscript, which bash evaluates as arithmetic"
        return otherwise
    if match.group(2) is not None:
        return "in an array element's assignment"
    variable = match.group(1)
    if variable in _SPECIAL_VARIABLES or variable.startswith("LD_"):
        return f"assigned to {variable}, which decides what the shell or a program runs"
    return None


# -- the lexer ------------------------------------------------------------------------------

_BREAKS = frozenset(" \t\n;&|()<>")
_SCRIPT_LIKE = frozenset({"script", "subshell", "cmdsub", "array", "dbracket"})
_KIND_REASONS: Mapping[str, str] = {
    "single": "inside '...', whose text is usually a program for another tool (awk, sed, "
    'jq): use "..." and pass values to such tools as data',
    "ansi": "inside $'...'",
    "locale": 'inside $"..."',
    "backtick": "inside `...`; use $(...) instead",
    "param": "inside ${...}",
    "arith": "inside an arithmetic expression",
    "arith_bracket": "inside an arithmetic expression",
    "dbracket": "inside [[ ... ]], where bash evaluates -eq, -gt, -v and the like as "
    'arithmetic or names; compare with [ "{{...}}" -gt 5 ] instead',
    "comment": "in a comment",
}
# ${name@P}, ${name[...]@P}: the value is expanded as a prompt string, which runs $(...).
_PROMPT_TRANSFORM = re.compile(r"^!?[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?@P$")
_HEREDOC = Unsafe(
    'inside a here-document; assign it first (X={{...}}) and write "$X" in the document'
)


# Commands that read (some of) their arguments as code, arithmetic, variable names or a
# command to run: "*" every argument, "-" every argument once an option is given, else the
# argument right after one of the options named.
# Every builtin that may not hold a variable (_OTHER_BUILTINS) is taken to evaluate all its
# arguments when they come from a variable too (compgen -W "$x" expands $x's value, history -s
# "$x" then fc -s runs it, set -- "$x" feeds $1); keywords are not commands of their own.
_KEYWORDS = frozenset(
    {"[[", "]]", "((", "!", "{", "}", "if", "then", "else", "elif", "fi", "while", "until"}
    | {"do", "done", "esac", "function"}
)
_NAME_READERS: Mapping[str, tuple[str, ...]] = {
    **dict.fromkeys(_OTHER_BUILTINS - _KEYWORDS, ("*",)),
    **dict.fromkeys(("nohup", "time"), ("*",)),
    **dict.fromkeys(("declare", "typeset", "local", "export", "readonly"), ("-",)),
    "printf": ("-v",),
    "test": ("-v", "-R"),
    "[": ("-v", "-R"),
    "wait": ("-p",),
}
# What `bash -c 'declare -p'` shows with -i (bash 5.2).
_INTEGER_VARIABLES = ("RANDOM", "SRANDOM", "OPTIND", "HISTCMD", "BASHPID", "UID", "EUID", "PPID")
_ARITHMETIC_TESTS = frozenset({"-eq", "-ne", "-lt", "-le", "-gt", "-ge"})


@dataclass
class _Flows:
    """Where a variable that holds a value goes next, as far as a script's text tells.

    A value in a variable can still be evaluated by the script's own text: ``i={{args.x}};
    echo "${a[i]}"`` with x = ``a[$(cmd)]`` runs cmd, and so do $((i)), [[ $i -gt 1 ]],
    let, declare -i, unset "$i", eval "$i" and sh -c "$i". Such a variable (or one assigned
    from it, j=$i) must hold an integer, which no evaluation can turn into a command. What
    it cannot see (a function's "$1" evaluated later, a value passed through a file) is
    the script author's; the docs say so."""

    # Text that is evaluated. bash starts every script with variables that have the integer
    # attribute (declare -i): a value assigned to one (RANDOM={{args.x}}, OPTIND=$i) is
    # evaluated as arithmetic, as after the script's own declare -i.
    aliases: bool = False  # the script defines aliases, or lets bash expand them
    evaluated: list[str] = field(default_factory=lambda: [" ".join(_INTEGER_VARIABLES)])
    assignments: list[tuple[str, str]] = field(default_factory=list)  # variable, raw value

    def word(self, words: list[_Word], word: _Word, raw: str) -> None:
        """Note a word of a command as it ends (``words`` are the ones before it)."""
        match = _ASSIGNMENT.match(raw)
        # Aliases, as the shell reads the words (a""lias, \alias, BASH_ALIASES[x]=eval,
        # shopt -s "expand_aliases"): the text search in spots() sees only the plain spelling.
        if word.text in ("alias", "expand_aliases") or (match and match[1] == "BASH_ALIASES"):
            self.aliases = True
        if match:
            self.assignments.append((match.group(1), raw[match.end() :]))
            if match.group(2):
                self.evaluated.append(match.group(2))
        start = 0
        while start < len(words) and _ASSIGNMENT.match(words[start].shape):
            start += 1
        rest = words[start:]
        if not rest:
            if word.expanded and not match:
                self.evaluated.append(raw)  # $cmd args: its value is what runs
            return
        command = rest[0].text
        if len(rest) >= 3 and command in ("for", "select") and rest[2].text == "in":
            self.assignments.append((rest[1].text, raw))
        options = _NAME_READERS.get(command, ())
        runner = _CODE_RUNNERS.get(command.rsplit("/", 1)[-1], "")
        if (
            "*" in options
            or ("-" in options and any(w.text[:1] in "-+" for w in rest[1:]))
            or (len(rest) > 1 and rest[-1].text in options)
            or any(c in _options(rest[1:]) for c in runner)
        ):
            self.evaluated.append(raw)

    def test_words(self, raws: list[str]) -> None:
        """[[ ... ]]: operands of -eq and friends are arithmetic; of -v and -R, names."""
        for n, raw in enumerate(raws):
            if raw in _ARITHMETIC_TESTS:
                self.evaluated += raws[max(n - 1, 0) : n + 2]
            elif raw in ("-v", "-R"):
                self.evaluated += raws[n + 1 : n + 2]

    def evaluated_names(self) -> set[str]:
        """Every variable the script evaluates, directly or through variables assigned from
        it (j=$i, then $((j)): i is evaluated too)."""
        text = "\n".join(self.evaluated)
        found = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))
        sources: dict[str, set[str]] = {}  # variable -> variables its value names
        for target, value in self.assignments:
            for name in re.findall(r"\$\{?!?([A-Za-z_][A-Za-z0-9_]*)", value):
                sources.setdefault(target, set()).add(name)
        frontier = list(found)
        while frontier:
            for name in sources.get(frontier.pop(), ()):
                if name not in found:
                    found.add(name)
                    frontier.append(name)
        return found


def _past_prefixes(words: list[_Word]) -> tuple[int, list[_Word]]:
    """Where a command's words stop being assignments, and its words from the command's
    name on: prefixes (exec, command, ...) and their options skipped."""
    start = 0
    while start < len(words) and _ASSIGNMENT.match(words[start].shape):
        start += 1
    rest = words[start:]
    while rest and rest[0].text in _PREFIXES and not rest[0].expanded:
        prefix, rest = rest[0].text, rest[1:]
        while rest and rest[0].text.startswith("-"):
            takes_value = prefix == "exec" and rest[0].text == "-a"
            rest = rest[2:] if takes_value else rest[1:]
    return start, rest


@dataclass
class _Frame:
    """One level of nesting. ``unsafe``: why nothing in it may hold a variable (inherited
    from the frames around it and from where it opened), None when it may."""

    kind: str
    unsafe: str | None = None
    leading: bool = False  # a "..." that opened at the start of an argument word
    text_seen: bool = False  # literal text inside this "..." or '...' so far
    # Script-like frames: the word being read (see _Word) and the command's words so far.
    text: str = ""
    shape: str = ""
    expanded: bool = False
    quoted_only: bool = True  # the word holds only variables and quotes so far
    words: list[_Word] = field(default_factory=list)
    redirect: str | None = None  # the next word is a redirection's target: why refused
    pattern: bool = False  # reading a case pattern
    case_depth: int = 0
    depth: int = 0  # arithmetic frames: open parentheses or brackets
    begin: int = 0  # where the current word (script-like) or the frame itself began
    assigns: str | None = None  # an array literal's variable
    raws: list[str] = field(default_factory=list)  # [[ ... ]]: its words as written

    def add(self, text: str, shape: str | None = None, *, literal: bool = True) -> None:
        self.text += text
        self.shape += text if shape is None else shape
        if literal:
            self.quoted_only = False

    def take_word(self) -> _Word | None:
        word = _Word(self.text, self.shape, self.expanded) if self.shape else None
        self.text = self.shape = ""
        self.expanded, self.quoted_only = False, True
        return word


def _expansion_in_quotes(frame: _Frame, owner: _Frame | None) -> None:
    """A $ or ` in ``frame`` (quotes): the word of ``owner`` (if any) is now expanded."""
    if owner is not None:
        owner.add("$", "")
        owner.expanded = True
    frame.text_seen = True


class _Scanner:
    def __init__(self, text: str, holes: Mapping[int, int]) -> None:
        self.text = text
        self.holes = holes
        self.spots: dict[int, Spot] = {}
        self.stack = [_Frame("script")]
        self.heredocs: list[tuple[str, bool]] = []
        self.poisoned: str | None = None  # set when shells would read what follows apart
        self.flows = _Flows()
        self.assigned: dict[int, set[str]] = {}  # hole -> the variables it is assigned to

    # -- verdicts --------------------------------------------------------------------------

    def _word_spot(self, frame: _Frame) -> tuple[str | None, bool]:
        """Why the current word of a script-like frame may not hold a variable (None if it
        may), and whether the variable would lead an argument."""
        if frame.unsafe is not None:
            return frame.unsafe, False
        if frame.redirect is not None:
            return frame.redirect, False
        if frame.pattern:
            return "in a case pattern", False
        word = _Word(frame.text, frame.shape, frame.expanded)
        if frame.kind == "array":
            if word.shape.startswith("[") and "]" not in word.shape:
                return "in an array subscript, which bash evaluates as arithmetic", False
            return None, False
        words = frame.words
        start, rest = _past_prefixes(words)
        if not rest:
            if words[start:]:  # only prefixes so far: this word is the command's name
                return "as the name of the command to run", False
            return _assignment_spot(word, "as the name of the command to run"), False
        return _argument_spot(rest[0], rest[1:], word), frame.quoted_only

    def _spot_here(self) -> tuple[str | None, bool]:
        """Why a variable, quote or substitution starting here may not hold a variable
        (None if it may), and whether a variable here would lead an argument."""
        frame = self.stack[-1]
        if self.poisoned is not None:
            return self.poisoned, False
        if frame.kind in _SCRIPT_LIKE:
            return self._word_spot(frame)
        if frame.kind == "double":
            return frame.unsafe, frame.leading and not frame.text_seen
        reason = frame.unsafe or _KIND_REASONS.get(frame.kind)
        return reason or "where the script cannot be read", False

    def _push(self, kind: str, at: int = 0) -> None:
        reason, leading = self._spot_here()
        if kind == "subshell":  # ( list ) is commands, not a word: as safe as its frame
            reason, leading = self.poisoned or self.stack[-1].unsafe, False
        # A kind that may never hold a variable says so itself; a kind that may (quotes and
        # substitutions) is as safe as the spot it opened in.
        reason = _KIND_REASONS.get(kind) or reason
        self.stack.append(_Frame(kind, unsafe=reason, leading=leading, begin=at))

    def _pop(self, end: int) -> None:
        """Close the innermost frame at ``end``; arithmetic keeps its text for _Flows."""
        frame = self.stack.pop()
        if frame.kind in ("arith", "arith_bracket"):
            self.flows.evaluated.append(self.text[frame.begin : end])
        elif frame.kind == "param":
            # ${name...}: what follows the name (subscripts, offsets) is arithmetic; with
            # ${!name} the name's value is a variable's name; with ${name@P} (bash's prompt
            # transform, also ${a[0]@P}) the value itself is expanded, $(...) included.
            inner = self.text[frame.begin + 2 : end]
            if _PROMPT_TRANSFORM.search(inner):
                self.flows.evaluated.append(inner)
            else:
                self.flows.evaluated.append(re.sub(r"^#?[A-Za-z_][A-Za-z0-9_]*", "", inner))

    def _owner(self) -> _Frame | None:
        """The script-like frame whose word the innermost quotes are part of."""
        if len(self.stack) > 1 and self.stack[-2].kind in _SCRIPT_LIKE:
            return self.stack[-2]
        return None

    def _hole(self, i: int) -> int:
        frame = self.stack[-1]
        reason, leading = self._spot_here()
        if reason is not None:
            self.spots[i] = Unsafe(reason)
        elif frame.kind == "double":
            self.spots[i] = Safe(Form.QUOTED, leading)
        else:
            self.spots[i] = Safe(Form.WORD, leading)
        self.assigned[i] = self._assigned_to(i)
        if frame.kind in _SCRIPT_LIKE:
            if not frame.shape:
                frame.begin = i
            frame.add("\0", literal=False)
        elif frame.kind == "double" and (owner := self._owner()) is not None:
            owner.add("\0", "", literal=False)
        return self.holes[i]

    def _assigned_to(self, i: int) -> set[str]:
        """The variables a variable at ``i`` is assigned to: X={{...}}, X="$(f {{...}})",
        local X={{...}}, for X in {{...}}, X=({{...}})."""
        found = set()
        for frame in self.stack:
            if frame.kind not in _SCRIPT_LIKE:
                continue
            if frame.assigns:
                found.add(frame.assigns)
            if frame.shape:
                match = _ASSIGNMENT.match(self.text[frame.begin : i])
                if match:
                    found.add(match.group(1))
            words = frame.words
            if len(words) >= 3 and words[0].text in ("for", "select") and words[2].text == "in":
                found.add(words[1].text)
        return found

    # -- the walk ----------------------------------------------------------------------------

    def run(self) -> dict[int, Spot]:
        i, n = 0, len(self.text)
        while i < n:
            i = self._step(i)
        if self.stack[-1].kind in _SCRIPT_LIKE:
            self._end_word(self.stack[-1], n)  # the script's last word
        # An unclosed quote or frame makes the shell refuse the script: nothing runs.
        self._mark_numeric()
        return self.spots

    def _step(self, i: int) -> int:
        """Read on from ``i`` in the innermost frame; answers where to read on from."""
        frame = self.stack[-1]
        if i in self.holes:
            return self._hole(i)
        if frame.kind in _SCRIPT_LIKE:
            if not frame.shape:
                frame.begin = i
            return self._script(i, frame)
        if frame.kind == "comment":
            if self.text[i] == "\n":
                self.stack.pop()  # the newline itself belongs to the script (here-docs)
                return i
            return i + 1
        if frame.kind == "single":
            return self._single(i, frame)
        return self._quoted(i, frame)

    def _mark_numeric(self) -> None:
        """Variables assigned to a name that the script evaluates as arithmetic."""
        evaluated = self.flows.evaluated_names()
        for start, names in self.assigned.items():
            spot = self.spots.get(start)
            if isinstance(spot, Safe) and names & evaluated:
                self.spots[start] = Safe(spot.form, spot.leading, numeric=True)

    def _single(self, i: int, frame: _Frame) -> int:
        c, owner = self.text[i], self._owner()
        if c == "'":
            self.stack.pop()
            if owner is not None:
                owner.add("", "'", literal=frame.text_seen)
        else:
            frame.text_seen = True
            if owner is not None:
                owner.add(c, "")
        return i + 1

    def _after(self, i: int, what: str) -> int | None:
        """A variable right after a backslash or $ is refused: it would join their meaning."""
        end = self.holes.get(i + 1)
        if end is not None:
            self.spots[i + 1] = Unsafe(f"right after {what}")
        return end

    def _escape(self, i: int) -> int:
        end = self._after(i, "a backslash")
        return end if end is not None else i + 2

    def _dollar(self, i: int, in_double: bool) -> int:
        end = self._after(i, "a $")
        if end is not None:
            return end
        text = self.text
        if text.startswith("$((", i):
            self._push("arith", i)
            return i + 3
        follow = text[i + 1 : i + 2]
        if follow == "[":
            self._push("arith_bracket", i)
            return i + 2
        kinds = {"(": "cmdsub", "{": "param"}
        if not in_double:
            kinds.update({"'": "ansi", '"': "locale"})
        kind = kinds.get(follow)
        if kind is None:
            return i + 1
        self._push(kind, i)
        return i + 2

    def _end_word(self, frame: _Frame, end: int) -> None:
        raw = self.text[frame.begin : end]
        word = frame.take_word()
        if word is None:
            return
        text = word.text
        if frame.kind == "dbracket":
            if text == "]]":
                self.stack.pop()
                self.flows.test_words(frame.raws)
            else:
                frame.raws.append(raw)
            return
        self.flows.word(frame.words, word, raw)
        if frame.kind == "array" or frame.redirect is not None:
            frame.redirect = None
            return
        if frame.pattern:
            if text == "esac":
                frame.pattern = False
                frame.case_depth -= 1
                frame.words = [word]
            return
        self._command_word(frame, word, end)

    def _command_word(self, frame: _Frame, word: _Word, end: int) -> None:
        """A word of a command ends at ``end``: keywords open and close what they open."""
        text = word.text
        if not frame.words and text in _LEADING_WORDS:
            return
        if not frame.words and text == "esac" and frame.case_depth:
            frame.case_depth -= 1
        if text == "in" and len(frame.words) == 2 and frame.words[0].text == "case":
            frame.case_depth += 1
            frame.pattern = True
            frame.words = []
            return
        frame.words.append(word)
        if len(frame.words) == 2 and frame.words[0].text == "function":
            frame.words = []  # function NAME: its body, a command, follows
        before = frame.words[:-1]
        if text == "[[" and not word.expanded and all(w.text in ("time", "-p") for w in before):
            frame.words = []
            self.stack.append(_Frame("dbracket", unsafe=_KIND_REASONS["dbracket"], begin=end))

    def _new_command(self, frame: _Frame) -> None:
        frame.words = []
        frame.redirect = None

    def _script(self, i: int, frame: _Frame) -> int:
        text, c = self.text, self.text[i]
        breaks = " \t\n" if frame.kind == "dbracket" else _BREAKS
        if c not in breaks:
            return self._word_char(i, frame)
        if c in "<>" and text.startswith("(", i + 1):
            # A process substitution: a word naming a file; its commands are a script.
            self._push("cmdsub")
            frame.add(c)
            frame.expanded = True
            return i + 2
        if c in "<>" and frame.text.isdigit():
            frame.take_word()  # a file descriptor's number, not a word: 2>&1
        word_before = frame.shape
        self._end_word(frame, i)
        if frame is not self.stack[-1]:
            return i  # the word opened a frame ([[), which reads on from here
        return self._operator(i, frame, word_before)

    def _operator(self, i: int, frame: _Frame, word_before: str) -> int:
        """At a character that ends a word (after ``word_before``): what it starts."""
        text, c = self.text, self.text[i]
        if c == "(":
            return self._open_paren(i, frame, word_before)
        if c == ")":
            return self._close_paren(i, frame)
        if c in "<>":
            return self._redirection(i, frame)
        if c == "&" and text.startswith(">", i + 1):
            return self._redirection(i + 1, frame)
        if c == "\n" and self.heredocs:
            self._new_command(frame)
            return self._heredoc_bodies(i + 1)
        if c == ";" and frame.case_depth and (text.startswith(";;", i) or text.startswith(";&", i)):
            frame.pattern = True
            self._new_command(frame)
            return i + (3 if text.startswith(";;&", i) else 2)
        if c == "|" and frame.pattern:
            return i + 1
        if c in ";&|\n":
            self._new_command(frame)
        return i + 1

    def _word_char(self, i: int, frame: _Frame) -> int:
        c = self.text[i]
        if c == "#" and not frame.shape:
            self._push("comment")
            return i + 1
        if c == "\\":
            end = self._escape(i)
            frame.add(self.text[i + 1 : i + 2], self.text[i : i + 2])
            return end
        if c == "$":
            end = self._dollar(i, in_double=False)
            frame.add("$")
            frame.expanded = True
            return end
        if c == "`":
            self._push("backtick")
            frame.add("$", "`")
            frame.expanded = True
            return i + 1
        if c in "'\"":
            self._push("single" if c == "'" else "double")
            frame.add("", c, literal=False)
            return i + 1
        frame.add(c)
        return i + 1

    def _open_paren(self, i: int, frame: _Frame, word_before: str) -> int:
        if self.text.startswith("((", i):
            self._push("arith", i)  # bash's (( ... )) command, and for (( ... ))
            return i + 2
        if word_before and re.fullmatch(rf"{_NAME}\+?=", word_before):
            # An array literal, a=( ... ): its spot is that of the word a= .
            frame.add(word_before)
            self._push("array")
            self.stack[-1].assigns = word_before.split("=")[0].rstrip("+")
            self.flows.assignments.append((self.stack[-1].assigns, ""))
            frame.take_word()
            return i + 1
        if frame.pattern:
            return i + 1  # case ( pattern )
        self._push("subshell")
        return i + 1

    def _close_paren(self, i: int, frame: _Frame) -> int:
        if frame.pattern:
            frame.pattern = False  # the pattern's ")": its commands follow
            self._new_command(frame)
            return i + 1
        if frame.kind in ("subshell", "cmdsub", "array"):
            self.stack.pop()
            if frame.kind == "subshell":
                # After ( ... ) or f(): a function's body or an operator; either way the next
                # word would start a command.
                self._new_command(self.stack[-1])
            return i + 1
        self._new_command(frame)  # a stray ")": the shell refuses the script
        return i + 1

    def _redirection(self, i: int, frame: _Frame) -> int:
        text = self.text
        if text.startswith("<<<", i):
            frame.redirect = "in a here-string; pass it as an argument instead"
            return i + 3
        if text.startswith("<<", i):
            return self._heredoc_operator(i + 2)
        j = i + 1
        while j < len(text) and text[j] in "<>&|-":
            j += 1
        frame.redirect = "as a redirection's target (a file the script opens)"
        return j

    def _quoted(self, i: int, frame: _Frame) -> int:
        """Inside "...", `...`, $'...', $"...", ${...} or an arithmetic expression."""
        c, kind = self.text[i], frame.kind
        owner = self._owner() if kind == "double" else None
        if c == "\\":
            if owner is not None:
                owner.add(self.text[i + 1 : i + 2], "")
            frame.text_seen = True
            return self._escape(i)
        closer = {"double": '"', "backtick": "`", "ansi": "'", "locale": '"', "param": "}"}
        if c == closer.get(kind):
            self._pop(i)
            if owner is not None:
                owner.add("", '"', literal=frame.text_seen)
            return i + 1
        if kind in ("backtick", "ansi"):
            return i + 1  # nothing inside them may hold a variable, so nothing is tracked
        if kind in ("arith", "arith_bracket") and c in "()[]":
            return self._arith_bracket(i, frame)
        return self._quoted_char(i, frame, owner)

    def _quoted_char(self, i: int, frame: _Frame, owner: _Frame | None) -> int:
        """The rest of _quoted: what opens inside the quotes, and their literal text."""
        c, kind = self.text[i], frame.kind
        if c == "$":
            _expansion_in_quotes(frame, owner)
            return self._dollar(i, in_double=kind in ("double", "locale"))
        if c == "`":
            _expansion_in_quotes(frame, owner)
            self._push("backtick")
        elif kind == "param" and c == "'" and self._in_double():
            # bash reads '...' inside "${x:-'...'}" as quotes, dash and bash --posix as
            # characters: they part ways here, so nothing after may hold a variable.
            self.poisoned = "after a ${...} that holds a single quote inside double quotes"
            self._push("single")
        elif kind not in ("double", "locale") and c in "'\"":
            self._push("single" if c == "'" else "double")
        elif kind == "double":
            frame.text_seen = True
            if owner is not None:
                owner.add(c, "")
        return i + 1

    def _in_double(self) -> bool:
        return any(f.kind in ("double", "locale") for f in self.stack)

    def _arith_bracket(self, i: int, frame: _Frame) -> int:
        c = self.text[i]
        if c in "([":
            frame.depth += 1
        elif frame.depth:
            frame.depth -= 1
        elif frame.kind == "arith_bracket" and c == "]":
            self._pop(i)
        elif frame.kind == "arith" and self.text.startswith("))", i):
            self._pop(i)
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
                if line.endswith("\\"):
                    # bash joins a body line ending in a backslash to the next before it
                    # looks for the delimiter (when the delimiter is unquoted): where the
                    # document ends is no longer plain, so nothing after may hold a variable.
                    self.poisoned = "after a here-document line that ends in a backslash"
                i = line_end + 1
                if (line.lstrip("\t") if strip_tabs else line) == delimiter:
                    break
        self.heredocs = []
        return i


_ALIASES = re.compile(r"(^|[\s;&|(])(alias|expand_aliases)\b")


def spots(script: str, holes: Mapping[int, int]) -> dict[int, Spot]:
    """The spot of each hole (template variable) in a shell script.

    ``holes`` maps each variable's start offset to its end; the scanner steps over them as
    opaque parts of a word. Answers start offset -> Safe (how to render it) or Unsafe.
    """
    if _ALIASES.search(script):
        # An alias can make any word mean eval; the lexer cannot follow that.
        return dict.fromkeys(holes, Unsafe("in a script that defines aliases"))
    scanner = _Scanner(script, holes)
    found = scanner.run()
    if scanner.flows.aliases:
        return dict.fromkeys(holes, Unsafe("in a script that defines aliases"))
    for start in holes:
        # A hole the scanner stepped over without placing it (e.g. inside an escape).
        found.setdefault(start, Unsafe("where the script cannot be read"))
    return found
