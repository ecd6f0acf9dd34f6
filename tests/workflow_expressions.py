"""GitHub Actions `${{ … }}` expressions, evaluated as the runner does, for the subset the
example workflow uses: property access on the contexts (`github.event.repository.default_branch`;
a missing property is null, and null renders as the empty string), string literals (`'…'`, `''`
for a quote), `true`/`false`/`null`, `==` and `!=` (strings compared ignoring case), `&&`, `||`
(the first truthy operand, else the last: `a || b` is `b` when `a` is null or '') and
parentheses. Anything else is a ValueError, so a workflow using more than this fails its test
instead of being evaluated wrongly. No side effects."""

from __future__ import annotations

import re
from typing import Any

TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<op>\|\||&&|==|!=|\(|\))|(?P<name>[A-Za-z_][\w.-]*))"
)
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)


def _tokens(text: str) -> list[tuple[str, str]]:
    found, at = [], 0
    while text[at:].strip():
        match = TOKEN.match(text, at)
        if match is None:
            raise ValueError(f"unsupported expression syntax at {text[at:]!r} in {text!r}")
        kind = match.lastgroup
        assert kind is not None
        found.append((kind, match[kind]))
        at = match.end()
    return found


def _truthy(value: Any) -> bool:
    return value not in (None, False, 0, "")


def _lookup(path: str, contexts: dict[str, Any]) -> Any:
    if path in ("true", "false", "null"):
        return {"true": True, "false": False, "null": None}[path]
    head, *rest = path.split(".")
    if head not in contexts:
        raise ValueError(f"unknown context {head!r} in {path!r}")
    value: Any = contexts[head]
    for part in rest:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _equal(left: Any, right: Any) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        return left.casefold() == right.casefold()
    return bool(left == right)


class _Parser:
    def __init__(self, text: str, contexts: dict[str, Any]) -> None:
        self.text, self.tokens, self.contexts = text, _tokens(text), contexts

    def parse(self) -> Any:
        value = self.either()
        if self.tokens:
            raise ValueError(f"unexpected {self.tokens[0][1]!r} in {self.text!r}")
        return value

    def take(self, *ops: str) -> str | None:
        if self.tokens and self.tokens[0][0] == "op" and self.tokens[0][1] in ops:
            return self.tokens.pop(0)[1]
        return None

    def either(self) -> Any:
        value = self.both()
        while self.take("||"):
            right = self.both()
            value = value if _truthy(value) else right
        return value

    def both(self) -> Any:
        value = self.comparison()
        while self.take("&&"):
            right = self.comparison()
            value = right if _truthy(value) else value
        return value

    def comparison(self) -> Any:
        value = self.primary()
        while op := self.take("==", "!="):
            equal = _equal(value, self.primary())
            value = equal if op == "==" else not equal
        return value

    def primary(self) -> Any:
        if self.take("("):
            value = self.either()
            if not self.take(")"):
                raise ValueError(f"missing ')' in {self.text!r}")
            return value
        if not self.tokens:
            raise ValueError(f"incomplete expression {self.text!r}")
        kind, token = self.tokens.pop(0)
        if kind == "string":
            return token[1:-1].replace("''", "'")
        if kind == "name":
            return _lookup(token, self.contexts)
        raise ValueError(f"unexpected {token!r} in {self.text!r}")


def evaluate(expression: str, contexts: dict[str, Any]) -> Any:
    """The value of one expression (without `${{ }}`)."""
    return _Parser(expression, contexts).parse()


def render(value: Any) -> str:
    """A value as the runner writes it into a string: null → '', booleans lower-case."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def substitute(text: str, contexts: dict[str, Any]) -> str:
    """`text` with every `${{ … }}` replaced by its rendered value."""
    return EXPRESSION.sub(lambda m: render(evaluate(m[1], contexts)), text)


def condition(text: str, contexts: dict[str, Any]) -> bool:
    """A job's or step's `if:` (with or without `${{ }}`; absent: true)."""
    match = EXPRESSION.fullmatch(text.strip())
    return _truthy(evaluate(match[1] if match else text, contexts)) if text.strip() else True
