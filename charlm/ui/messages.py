"""Error messages and notices in the user's language, without touching the code that raises them.

The core raises ``CharlmError("the time budget must be between 1 and 900 seconds")`` in English, from f-strings.
``extract_templates`` reads charlm's source (AST) and turns every such message into a *template*: the f-string's
literal text with its ``{expressions}`` as placeholders (``the time budget must be between 1 and {max_seconds}
seconds``). ``locales/messages.zh-CN.json`` maps each template to its translation with the same placeholders, and
``MessageTable.translate`` matches an English message against the templates and fills the translation in. A
message no template matches stays English. ``tests/test_i18n.py`` fails when a template in the code has no
translation, so a new error gets one; ``python -m charlm.ui.messages`` prints the missing ones as JSON to fill in.

Templates are written like ``str.format`` strings: a literal brace is doubled (``{{``).
"""

from __future__ import annotations

import ast
import json
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]  # charlm/
SKIP_DIRS = ("cli",)  # the command line speaks English only; its messages never reach the page
# Exceptions whose message a user can see: every CharlmError (found in charlm/errors.py), plus ValueError and
# RuntimeError (the UI shows their text through CharlmError(str(exc))) and gradio's Error.
SHOWN_EXCEPTIONS = {"ValueError", "RuntimeError", "Error"}
# Lists of texts the UI shows: ``problems.append(...)`` (joined into one error), ``notes``/``warnings`` (notices);
# ``x.warning = ...`` (a metric's notice); and what ``charlm.budget.check(cost, gflop, mb, what, ...)`` names.
SHOWN_LISTS = {"problems", "notes", "notices", "warnings"}
_TOKEN = re.compile(r"\{\{|\}\}|\{(?:[^{}]|\{[^{}]*\})*\}|[^{}]+|[{}]")
# Chinese text puts a space around a placeholder ("有 {n} 个", "{name} 是空的") for numbers and Latin names; a value
# that is Chinese itself ("粘贴的文本 是空的") reads better without it. Values are marked while they are filled in.
_CJK = "\u3000-\u303f\u4e00-\u9fff\uff00-\uffef"
_OPEN, _CLOSE = "\x00", "\x01"
_SPACE_BEFORE = re.compile(f"(?<=[{_CJK}]) {_OPEN}(?=[{_CJK}])")
_SPACE_AFTER = re.compile(f"(?<=[{_CJK}]){_CLOSE} (?=[{_CJK}])")


def mark(value: object) -> object:
    """A value to fill in, marked for ``tidy`` (non-strings pass through: numbers are never CJK)."""
    return f"{_OPEN}{value}{_CLOSE}" if isinstance(value, str) else value


def tidy(text: str) -> str:
    """Drop the space between a Chinese value and the Chinese text around it, then the marks."""
    text = _SPACE_AFTER.sub(_CLOSE, _SPACE_BEFORE.sub(_OPEN, text))
    return text.replace(_OPEN, "").replace(_CLOSE, "")


# --- reading the templates out of the source ---------------------------------------------------------------------
def _error_names(package: Path) -> set[str]:
    tree = ast.parse((package / "errors.py").read_text(encoding="utf-8"))
    return {node.name for node in tree.body if isinstance(node, ast.ClassDef)} | SHOWN_EXCEPTIONS


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _placeholder(value: ast.FormattedValue) -> str:
    out = "{" + ast.unparse(value.value)
    if value.conversion != -1:
        out += "!" + chr(value.conversion)
    if value.format_spec is not None:
        out += ":" + "".join(
            p.value if isinstance(p, ast.Constant) else "{" + ast.unparse(p) + "}" for p in value.format_spec.values
        )
    return out + "}"


def _templates(node: ast.expr) -> list[str]:
    """Every message an expression can produce, as templates (``a + (b if c else d)`` gives two)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [_escape(node.value)]
    if isinstance(node, ast.JoinedStr):
        return ["".join(_escape(v.value) if isinstance(v, ast.Constant) else _placeholder(v) for v in node.values)]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return [a + b for a in _templates(node.left) for b in _templates(node.right)]
    if isinstance(node, ast.IfExp):
        return _templates(node.body) + _templates(node.orelse)
    return ["{" + ast.unparse(node) + "}"]


def _name(node: ast.expr) -> str:
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""


def _messages_in(tree: ast.AST, errors: set[str]) -> Iterator[ast.expr]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args:
            if _name(node.exc.func) in errors:
                yield node.exc.args[0]
        elif isinstance(node, ast.Call) and _name(node.func) == "append" and len(node.args) == 1:
            if isinstance(node.func, ast.Attribute) and _name(node.func.value) in SHOWN_LISTS:
                yield node.args[0]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "check":
            if len(node.args) >= 4:
                yield node.args[3]
        elif isinstance(node, ast.Assign) and any(_name(t) == "warning" for t in node.targets):
            yield node.value


def has_text(template: str) -> bool:
    """A template that is only placeholders (``{exc}``) would match anything: it is not a message."""
    return any(tok[0] not in "{}" and re.search(r"[^\W\d_]", tok) for tok in _TOKEN.findall(template))


def extract_templates(package: Path = PACKAGE) -> dict[str, str]:
    """Every message template in the package's source -> where it is (``path:line``), sorted by template."""
    errors = _error_names(package)
    found: dict[str, str] = {}
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package.parent)
        if any(part in SKIP_DIRS for part in path.relative_to(package).parts[:-1]):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for expr in _messages_in(tree, errors):
            for template in _templates(expr):
                if has_text(template):
                    found.setdefault(template, f"{rel}:{expr.lineno}")
    return dict(sorted(found.items()))


# --- matching a message and filling in its translation -----------------------------------------------------------
def placeholders(template: str) -> list[str]:
    return [tok for tok in _TOKEN.findall(template) if tok.startswith("{") and tok not in ("{{", "{")]


def _literal(tok: str) -> str:
    return {"{{": "{", "}}": "}"}.get(tok, tok)


class MessageTable:
    """English templates -> translated templates; ``translate`` renders an English message in the other language."""

    def __init__(self, translations: dict[str, str], joiner: str = "; ", names: dict[str, str] | None = None) -> None:
        """``names``: values of placeholders that have a translation of their own ("the pasted text")."""
        self.joiner, self.names = joiner, names or {}
        self._exact: dict[str, str] = {}
        self._patterns: list[tuple[int, re.Pattern, list[str], str]] = []
        for en, target in translations.items():
            names = placeholders(en)
            if not names:
                self._exact["".join(map(_literal, _TOKEN.findall(en)))] = "".join(map(_literal, _TOKEN.findall(target)))
                continue
            literal = sum(len(_literal(tok)) for tok in _TOKEN.findall(en) if tok not in names)
            self._patterns.append((literal, self._regex(en), list(dict.fromkeys(names)), target))
        # the most specific template first: "{name} is empty" must not win over "{name} is empty of {what}"
        self._patterns.sort(key=lambda p: -p[0])

    @staticmethod
    def _regex(template: str) -> re.Pattern:
        seen: dict[str, str] = {}
        parts = []
        for tok in _TOKEN.findall(template):
            if tok.startswith("{") and tok not in ("{{", "{"):
                if tok in seen:
                    parts.append(f"(?P={seen[tok]})")
                else:
                    seen[tok] = f"g{len(seen)}"
                    parts.append(f"(?P<{seen[tok]}>.*?)")
            else:
                parts.append(re.escape(_literal(tok)))
        return re.compile("".join(parts), re.DOTALL)

    def translate(self, message: str, depth: int = 0) -> str | None:
        """The message in the table's language, or None when no template matches. A placeholder's value that is
        itself a message (``"... has an invalid model: {exc}"``) is translated too."""
        if message in self._exact:
            return self._exact[message]
        for _, regex, names, target in self._patterns:
            m = regex.fullmatch(message)
            if m is None:
                continue
            values = {name: m.group(f"g{i}") for i, name in enumerate(names)}
            if depth < 2:
                values = {k: self.names.get(v) or self.translate(v, depth + 1) or v for k, v in values.items()}
            filled = (mark(values[tok]) if tok in values else _literal(tok) for tok in _TOKEN.findall(target))
            return tidy("".join(filled))
        return None

    def render(self, message: str) -> str:
        """``translate``, also part by part for problems joined with "; " (``raise ValueError("; ".join(problems))``);
        English where nothing matches."""
        parts = message.split("; ")
        done = [self.translate(p) for p in parts] if len(parts) > 1 else []
        if done and all(d is not None for d in done):  # several problems (a placeholder would swallow the rest)
            return self.joiner.join(done)
        whole = self.translate(message)
        if whole is not None:
            return whole
        if any(d is not None for d in done):
            return self.joiner.join(d or p for p, d in zip(parts, done, strict=True))
        return message


def missing(translations: dict[str, str], templates: Iterable[str]) -> dict[str, str]:
    return {t: "" for t in templates if not translations.get(t)}


if __name__ == "__main__":  # python -m charlm.ui.messages  -> the templates that still need a translation
    table = json.loads((Path(__file__).with_name("locales") / "messages.zh-CN.json").read_text(encoding="utf-8"))
    todo = missing(table, extract_templates())
    stale = sorted(set(table) - set(extract_templates()))
    json.dump({"missing": todo, "stale": stale}, sys.stdout, ensure_ascii=False, indent=2)
    print()
