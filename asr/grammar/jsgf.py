"""Grammars: JSGF text or a phrase list → an expression tree (``Expr``).

JSGF, the CMU/PocketSphinx convention (https://www.w3.org/TR/jsgf/)::

    #JSGF V1.0;
    grammar lights;
    public <command> = [please] (turn | switch) <state> the <room> lights;
    <state> = on {action=on} | off {action=off};
    <room> = /3/ kitchen {room=kitchen} | /1/ living room {room=living};

Supported: rules (``public`` or not), alternatives ``|`` with weights ``/w/``,
groups ``( )``, optional ``[ ]``, repeats ``*`` and ``+``, tags ``{...}``, rule
references (``<NULL>`` matches nothing, ``<VOID>`` nothing at all), quoted
tokens, ``//`` and ``/* */`` comments. Not supported (a ``GrammarError`` names
the line): ``import``, and a rule that refers to itself (write a repeat instead),
which is what keeps every grammar a finite automaton of bounded size.

Our own recursive-descent parser, not pyjsgf's: we need the weights, the tags and
the tree itself to compile an automaton (``asr.decoding.grammar.automaton``),
and a line number in every error; pyjsgf (unmaintained since 2020) gives a
matcher and expansions, and would add a dependency to the device path.

Words go through the project's text normalisation (``asr.text.normalize_text``),
so ``7:30`` in a grammar is the words "seven thirty", as in a transcript.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

from asr.core.errors import ASRError
from asr.text import normalize_text


class GrammarError(ASRError):
    """A grammar file cannot be parsed or compiled (the message names the file and line)."""


@dataclass(frozen=True)
class Words:
    """Words in sequence (already normalised)."""
    words: tuple[str, ...]


@dataclass(frozen=True)
class Seq:
    items: tuple["Expr", ...]


@dataclass(frozen=True)
class Alt:
    """Alternatives, each with its weight (1 when not given)."""
    items: tuple["Expr", ...]
    weights: tuple[float, ...]


@dataclass(frozen=True)
class Repeat:
    """``item`` at least ``least`` times (0: ``*``, or ``[ ]`` when ``most`` is 1; 1: ``+``),
    at most ``most`` (None: any)."""
    item: "Expr"
    least: int
    most: int | None


@dataclass(frozen=True)
class Tagged:
    """``item`` followed by the tag ``tag`` (the text inside ``{ }``)."""
    item: "Expr"
    tag: str


@dataclass(frozen=True)
class Ref:
    name: str
    line: int


Expr = Union[Words, Seq, Alt, Repeat, Tagged, Ref]
NOTHING = Seq(())  # matches the empty sentence (JSGF <NULL>)
NEVER = Alt((), ())  # matches no sentence (JSGF <VOID>)

_TOKEN = re.compile(r"""
    (?P<space>\s+) | (?P<comment>//[^\n]*|/\*.*?\*/) | (?P<weight>/[0-9.eE+-]+/) | (?P<rule><[^<>\s]+>)
  | (?P<tag>\{[^{}]*\}) | (?P<quoted>"[^"]*") | (?P<punct>[=;|()\[\]*+]) | (?P<word>[^\s=;|()\[\]*+{}<>"/]+)
""", re.VERBOSE | re.DOTALL)


def _tokens(text: str, source: str) -> list[tuple[str, str, int]]:
    """``(kind, value, line)`` tokens of a grammar body (header lines already removed)."""
    out, pos, line = [], 0, 1
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise GrammarError(f"{source}:{line}: cannot read {text[pos:pos + 20]!r}")
        kind = m.lastgroup
        if kind not in ("space", "comment"):
            out.append((kind, m.group(), line))
        line += m.group().count("\n")
        pos = m.end()
    return out


class _Parser:
    """Recursive descent over one rule's tokens: alternatives > sequence > unary > primary."""

    def __init__(self, tokens: list[tuple[str, str, int]], source: str):
        self.tokens, self.i, self.source = tokens, 0, source

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def error(self, message: str) -> GrammarError:
        line = self.tokens[min(self.i, len(self.tokens) - 1)][2] if self.tokens else 1
        return GrammarError(f"{self.source}:{line}: {message}")

    def expect(self, value: str) -> None:
        token = self.peek()
        if token is None or token[1] != value:
            raise self.error(f"expected {value!r}, found {token[1] if token else 'the end'!r}")
        self.i += 1

    def alternatives(self) -> Expr:
        items, weights = [], []
        while True:
            token = self.peek()
            weight = 1.0
            if token is not None and token[0] == "weight":
                weight = float(token[1].strip("/"))
                if weight < 0:
                    raise self.error(f"weight {token[1]} is negative")
                self.i += 1
            items.append(self.sequence())
            weights.append(weight)
            if self.peek() is None or self.peek()[1] != "|":
                break
            self.i += 1
        return items[0] if len(items) == 1 and weights[0] == 1.0 else Alt(tuple(items), tuple(weights))

    def sequence(self) -> Expr:
        items = []
        while self.peek() is not None and self.peek()[1] not in ("|", ")", "]", ";"):
            items.append(self.unary())
        if not items:
            raise self.error("an empty alternative (write <NULL> for nothing)")
        return items[0] if len(items) == 1 else Seq(tuple(items))

    def unary(self) -> Expr:
        item = self.primary()
        while self.peek() is not None and (self.peek()[1] in ("*", "+") or self.peek()[0] == "tag"):
            kind, value, _ = self.tokens[self.i]
            self.i += 1
            item = Tagged(item, value[1:-1].strip()) if kind == "tag" else Repeat(item, int(value == "+"), None)
        return item

    def primary(self) -> Expr:
        token = self.peek()
        if token is None:
            raise self.error("unexpected end of rule")
        kind, value, line = token
        self.i += 1
        if value in ("(", "["):
            inner = self.alternatives()
            self.expect(")" if value == "(" else "]")
            return inner if value == "(" else Repeat(inner, 0, 1)
        if kind == "rule":
            name = value[1:-1]
            return {"NULL": NOTHING, "VOID": NEVER}.get(name) or Ref(name, line)
        if kind in ("word", "quoted"):
            words = normalize_text(value.strip('"')).split()
            return Words(tuple(words)) if words else NOTHING
        raise self.error(f"unexpected {value!r}")


def _split_rules(tokens: list[tuple[str, str, int]], source: str) -> dict[str, tuple[bool, list, int]]:
    """``name → (public, body tokens, line)`` of every ``[public] <name> = body ;``."""
    rules: dict[str, tuple[bool, list, int]] = {}
    i = 0
    while i < len(tokens):
        public = tokens[i][1] == "public"
        i += public
        if i + 1 >= len(tokens) or tokens[i][0] != "rule" or tokens[i + 1][1] != "=":
            raise GrammarError(f"{source}:{tokens[min(i, len(tokens) - 1)][2]}: expected '[public] <name> = ...;'")
        name, line = tokens[i][1][1:-1], tokens[i][2]
        end = next((j for j in range(i + 2, len(tokens)) if tokens[j][1] == ";"), None)
        if end is None:
            raise GrammarError(f"{source}:{line}: rule <{name}> has no closing ';'")
        if name in rules:
            raise GrammarError(f"{source}:{line}: rule <{name}> is defined twice")
        rules[name] = (public, tokens[i + 2:end], line)
        i = end + 1
    return rules


def _strip_header(text: str, source: str) -> str:
    """The body after ``#JSGF ...;``, ``grammar name;`` (kept as blank lines, so line numbers hold)."""
    def blank(m: re.Match) -> str:
        return "\n" * m.group().count("\n")
    text = re.sub(r"\A\s*#JSGF[^;]*;", blank, text)
    text = re.sub(r"\A(\s|//[^\n]*|/\*.*?\*/)*grammar\s+[\w.]+\s*;", blank, text, flags=re.DOTALL)
    m = re.search(r"^\s*import\b", text, flags=re.MULTILINE)
    if m:
        raise GrammarError(f"{source}:{text[:m.start()].count(chr(10)) + 1}: import is not supported; "
                           "put the rules in this file")
    return text


def parse_jsgf(text: str, source: str = "<grammar>") -> dict[str, tuple[bool, Expr]]:
    """JSGF text → ``{rule name: (public, expression)}``; raises ``GrammarError`` naming the line."""
    tokens = _tokens(_strip_header(text, source), source)
    rules = {}
    for name, (public, body, line) in _split_rules(tokens, source).items():
        parser = _Parser(body, source)
        if not body:
            raise GrammarError(f"{source}:{line}: rule <{name}> is empty (write <NULL> for nothing)")
        expr = parser.alternatives()
        if parser.peek() is not None:
            raise parser.error(f"unexpected {parser.peek()[1]!r}")
        rules[name] = (public, expr)
    if not any(public for public, _ in rules.values()):
        raise GrammarError(f"{source}: no public rule: mark the rule(s) to recognise `public`")
    return rules


def inline(rules: dict[str, tuple[bool, Expr]], source: str = "<grammar>") -> Expr:
    """The public rules as one expression, every reference replaced by its rule.
    A rule that refers to itself, directly or not, is a ``GrammarError``."""
    def expand(expr: Expr, stack: tuple[str, ...]) -> Expr:
        if isinstance(expr, Ref):
            if expr.name not in rules:
                raise GrammarError(f"{source}:{expr.line}: rule <{expr.name}> is not defined")
            if expr.name in stack:
                cycle = " -> ".join(f"<{n}>" for n in (*stack[stack.index(expr.name):], expr.name))
                raise GrammarError(f"{source}:{expr.line}: recursion ({cycle}) is not supported; use * or +")
            return expand(rules[expr.name][1], (*stack, expr.name))
        if isinstance(expr, Seq):
            return Seq(tuple(expand(e, stack) for e in expr.items))
        if isinstance(expr, Alt):
            return Alt(tuple(expand(e, stack) for e in expr.items), expr.weights)
        if isinstance(expr, Repeat):
            return Repeat(expand(expr.item, stack), expr.least, expr.most)
        if isinstance(expr, Tagged):
            return Tagged(expand(expr.item, stack), expr.tag)
        return expr

    public = [expand(expr, (name,)) for name, (is_public, expr) in rules.items() if is_public]
    return public[0] if len(public) == 1 else Alt(tuple(public), (1.0,) * len(public))


def phrase_list(lines: list[str]) -> Expr:
    """One sentence a line → an expression matching exactly those sentences (normalised)."""
    sentences = sorted({tuple(normalize_text(line).split()) for line in lines} - {()})
    return Alt(tuple(Words(s) for s in sentences), (1.0,) * len(sentences))


def read_grammar(path: str) -> Expr:
    """A ``.jsgf`` / ``.gram`` file (JSGF) or any other text file (a phrase list) → one expression."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise GrammarError(f"{path}: grammar file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GrammarError(f"{path}: cannot read grammar ({exc})") from None
    if path.endswith((".jsgf", ".gram")) or text.lstrip().startswith("#JSGF"):
        return inline(parse_jsgf(text, path), path)
    expr = phrase_list(text.splitlines())
    if not expr.items:
        raise GrammarError(f"{path}: phrase list has no sentences")
    return expr
