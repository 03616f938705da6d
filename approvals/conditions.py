"""Rule conditions: a structured tree over a fixed set of order facts. Never code.

A condition is JSON:

    {"all": [node, ...]}      every child holds (an empty list holds)
    {"any": [node, ...]}      at least one child holds (an empty list does not)
    {"not": node}             the child does not hold
    {"fact": "amount", "op": "<", "value": 5000}

Operators: = != < <= > >= (numbers), = != (yes/no facts), = != in (choices and
text), `between` with [low, high] (inclusive, numbers) and `in` with a list.
A fact the order does not have (e.g. the health score before it is computed) makes
its comparison false, never true: a rule cannot pass an order on missing data.

`condition_errors()` validates a tree (rules are validated on save) and
`condition_compile()` turns a valid tree into a function of a facts dict, so
evaluating fifty rules per order costs microseconds.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext as _

from approvals.facts import FACTS, Fact

MAX_DEPTH = 8
MAX_NODES = 200
MAX_IN_VALUES = 100

NUMBER_OPS = ("=", "!=", "<", "<=", ">", ">=", "in", "between")
BOOL_OPS = ("=", "!=")
CHOICE_OPS = ("=", "!=", "in")
OPERATORS = {"number": NUMBER_OPS, "bool": BOOL_OPS, "choice": CHOICE_OPS, "text": CHOICE_OPS}

Facts = dict[str, Any]
Predicate = Callable[[Facts], bool]


class InvalidCondition(ValueError):
    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


def _number(value) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal | str):
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    return None


def _value_errors(fact: Fact, op: str, value, where: str) -> list[str]:
    label = fact.name
    if op == "between":
        if not isinstance(value, list) or len(value) != 2:
            return [_("%(where)s: “between” needs [low, high].") % {"where": where}]
        low, high = (_number(v) for v in value)
        if low is None or high is None:
            return [_("%(where)s: %(fact)s takes numbers.") % {"where": where, "fact": label}]
        if low > high:
            return [_("%(where)s: the low end is above the high end.") % {"where": where}]
        return []
    if op == "in":
        if not isinstance(value, list) or not value:
            return [_("%(where)s: “in” needs a non-empty list.") % {"where": where}]
        if len(value) > MAX_IN_VALUES:
            return [_("%(where)s: at most 100 values in a list.") % {"where": where}]
        errors: list[str] = []
        for item in value:
            errors.extend(_value_errors(fact, "=", item, where))
        return errors
    if fact.kind == "number":
        if _number(value) is None:
            return [_("%(where)s: %(fact)s takes a number.") % {"where": where, "fact": label}]
    elif fact.kind == "bool":
        if not isinstance(value, bool):
            return [_("%(where)s: %(fact)s takes true or false.") % {"where": where, "fact": label}]
    elif fact.kind == "choice":
        allowed = fact.choice_values()
        if value not in allowed:
            return [
                _("%(where)s: %(value)s is not one of %(allowed)s.")
                % {"where": where, "value": repr(value), "allowed": ", ".join(allowed)}
            ]
    elif not isinstance(value, str) or not value or len(value) > 100:
        return [_("%(where)s: %(fact)s takes a short text.") % {"where": where, "fact": label}]
    return []


def condition_errors(tree, *, allow_empty: bool = False) -> list[str]:
    """Everything wrong with `tree`, in words (empty when valid)."""
    if allow_empty and tree in ({}, None):
        return []
    errors: list[str] = []
    count = 0

    def walk(node, path: str, depth: int) -> None:
        nonlocal count
        count += 1
        if count > MAX_NODES:
            if count == MAX_NODES + 1:
                errors.append(_("The condition has more than 200 parts."))
            return
        if depth > MAX_DEPTH:
            errors.append(_("%(where)s: nested more than 8 levels deep.") % {"where": path})
            return
        if not isinstance(node, dict) or not node:
            errors.append(_("%(where)s: expected a condition object.") % {"where": path})
            return
        keys = set(node)
        if keys in ({"all"}, {"any"}):
            (key,) = keys
            children = node[key]
            if not isinstance(children, list):
                errors.append(_("%(where)s: “%(key)s” needs a list.") % {"where": path, "key": key})
                return
            if key == "any" and not children:
                errors.append(_("%(where)s: “any” of nothing never holds.") % {"where": path})
            for index, child in enumerate(children):
                walk(child, f"{path}.{key}[{index}]", depth + 1)
            return
        if keys == {"not"}:
            walk(node["not"], f"{path}.not", depth + 1)
            return
        if keys != {"fact", "op", "value"}:
            errors.append(
                _(
                    "%(where)s: use {“all”: [...]}, {“any”: [...]}, {“not”: {...}} or "
                    "{“fact”, “op”, “value”}."
                )
                % {"where": path}
            )
            return
        fact = FACTS.get(node["fact"]) if isinstance(node["fact"], str) else None
        if fact is None:
            errors.append(
                _("%(where)s: unknown fact %(fact)s (known: %(known)s).")
                % {"where": path, "fact": repr(node["fact"]), "known": ", ".join(FACTS)}
            )
            return
        op = node["op"]
        if op not in OPERATORS[fact.kind]:
            errors.append(
                _("%(where)s: %(fact)s cannot use the operator %(op)s (allowed: %(allowed)s).")
                % {
                    "where": path,
                    "fact": fact.name,
                    "op": repr(op),
                    "allowed": " ".join(OPERATORS[fact.kind]),
                }
            )
            return
        errors.extend(_value_errors(fact, op, node["value"], path))

    walk(tree, "condition", 0)
    return errors


def condition_validate(tree, *, allow_empty: bool = False) -> None:
    errors = condition_errors(tree, allow_empty=allow_empty)
    if errors:
        raise InvalidCondition(errors)


def _coerce(fact: Fact, value):
    return _number(value) if fact.kind == "number" else value


def _leaf(fact: Fact, op: str, raw) -> Predicate:
    name = fact.name
    if op == "between":
        low, high = (_number(v) for v in raw)
        return lambda f: (v := f.get(name)) is not None and low <= v <= high
    if op == "in":
        values = frozenset(_coerce(fact, v) for v in raw)
        return lambda f: (v := f.get(name)) is not None and v in values
    value = _coerce(fact, raw)
    if op == "=":
        return lambda f: (v := f.get(name)) is not None and v == value
    if op == "!=":
        return lambda f: (v := f.get(name)) is not None and v != value
    if op == "<":
        return lambda f: (v := f.get(name)) is not None and v < value
    if op == "<=":
        return lambda f: (v := f.get(name)) is not None and v <= value
    if op == ">":
        return lambda f: (v := f.get(name)) is not None and v > value
    return lambda f: (v := f.get(name)) is not None and v >= value


def condition_compile(tree, *, allow_empty: bool = False) -> Predicate:
    """A function facts -> bool for a valid tree (validated here)."""
    condition_validate(tree, allow_empty=allow_empty)
    if tree in ({}, None):
        return lambda facts: True
    return _compile(tree)


def _compile(node) -> Predicate:
    if "all" in node:
        parts = tuple(_compile(child) for child in node["all"])
        return lambda f: all(p(f) for p in parts)
    if "any" in node:
        parts = tuple(_compile(child) for child in node["any"])
        return lambda f: any(p(f) for p in parts)
    if "not" in node:
        inner = _compile(node["not"])
        return lambda f: not inner(f)
    return _leaf(FACTS[node["fact"]], node["op"], node["value"])


def condition_describe(tree) -> str:
    """A one-line human reading of a tree, e.g. “amount < 5000 and credit_rating = good”."""
    if not tree:
        return _("always")
    if "all" in tree:
        return "(" + _(" and ").join(condition_describe(c) for c in tree["all"]) + ")"
    if "any" in tree:
        return "(" + _(" or ").join(condition_describe(c) for c in tree["any"]) + ")"
    if "not" in tree:
        return _("not ") + condition_describe(tree["not"])
    fact = FACTS.get(tree.get("fact"))
    label = str(fact.label) if fact else str(tree.get("fact"))
    value = tree.get("value")
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    return f"{label} {tree.get('op')} {value}"
