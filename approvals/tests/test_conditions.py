"""Rule conditions: every operator and combinator, and invalid trees refused with reasons."""

from decimal import Decimal as D

import pytest

from approvals.conditions import (
    InvalidCondition,
    condition_compile,
    condition_describe,
    condition_errors,
)

FACTS = {
    "amount": D("4999.99"),
    "credit_rating": "good",
    "customer_tier": "gold",
    "returning_customer": True,
    "payment_method": "prepaid",
    "item_count": D("3"),
    "coupon_type": "none",
    "price_deviation_pct": D("2.50"),
    "channel": "tmall",
    "presale": False,
}


def leaf(fact, op, value):
    return {"fact": fact, "op": op, "value": value}


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        (leaf("amount", "<", 5000), True),
        (leaf("amount", "<", "4999.99"), False),
        (leaf("amount", "<=", "4999.99"), True),
        (leaf("amount", ">", 4999), True),
        (leaf("amount", ">=", 5000), False),
        (leaf("amount", "=", "4999.99"), True),
        (leaf("amount", "!=", "4999.99"), False),
        (leaf("amount", "between", [1000, 5000]), True),
        (leaf("amount", "between", [5000, 9000]), False),
        (leaf("amount", "in", [1, "4999.99"]), True),
        (leaf("item_count", "<=", 3), True),
        (leaf("price_deviation_pct", "between", [0, 2.5]), True),
        (leaf("credit_rating", "=", "good"), True),
        (leaf("credit_rating", "!=", "good"), False),
        (leaf("customer_tier", "in", ["gold", "vip"]), True),
        (leaf("customer_tier", "in", ["standard"]), False),
        (leaf("returning_customer", "=", True), True),
        (leaf("presale", "!=", False), False),
        (leaf("payment_method", "=", "cod"), False),
        (leaf("coupon_type", "in", ["none", "regular"]), True),
        (leaf("channel", "=", "tmall"), True),
        (leaf("channel", "in", ["jd", "direct"]), False),
    ],
)
def test_every_operator(node, expected):
    assert condition_compile(node)(FACTS) is expected


def test_combinators():
    yes, no = leaf("amount", "<", 5000), leaf("amount", ">", 5000)
    assert condition_compile({"all": [yes, yes]})(FACTS)
    assert not condition_compile({"all": [yes, no]})(FACTS)
    assert condition_compile({"all": []})(FACTS)  # nothing to fail
    assert condition_compile({"any": [no, yes]})(FACTS)
    assert not condition_compile({"any": [no, no]})(FACTS)
    assert condition_compile({"not": no})(FACTS)
    assert not condition_compile({"not": {"not": no}})(FACTS)
    nested = {"any": [{"all": [yes, {"not": yes}]}, {"not": {"any": [no]}}]}
    assert condition_compile(nested)(FACTS)


def test_a_missing_fact_never_makes_a_comparison_true():
    assert not condition_compile(leaf("amount", "<", 5000))({})
    assert not condition_compile(leaf("amount", "!=", 5000))({"amount": None})
    assert not condition_compile(leaf("channel", "in", ["tmall"]))({})


@pytest.mark.parametrize(
    ("tree", "message"),
    [
        ({}, "expected a condition object"),
        ([], "expected a condition object"),
        ({"all": "x"}, "needs a list"),
        ({"any": []}, "never holds"),
        ({"all": [], "any": []}, "use"),
        ({"fact": "amount", "op": "<"}, "use"),
        ({"fact": "colour", "op": "=", "value": "red"}, "unknown fact"),
        ({"fact": "amount", "op": "~", "value": 1}, "cannot use the operator"),
        ({"fact": "presale", "op": "<", "value": True}, "cannot use the operator"),
        ({"fact": "credit_rating", "op": ">", "value": "good"}, "cannot use the operator"),
        ({"fact": "amount", "op": "<", "value": "lots"}, "takes a number"),
        ({"fact": "amount", "op": "<", "value": True}, "takes a number"),
        ({"fact": "amount", "op": "<", "value": "NaN"}, "takes a number"),
        ({"fact": "amount", "op": "between", "value": [5]}, "needs [low, high]"),
        ({"fact": "amount", "op": "between", "value": [9, 5]}, "low end is above"),
        ({"fact": "amount", "op": "in", "value": []}, "non-empty list"),
        ({"fact": "amount", "op": "in", "value": list(range(101))}, "at most 100"),
        ({"fact": "credit_rating", "op": "=", "value": "excellent"}, "is not one of"),
        ({"fact": "presale", "op": "=", "value": "yes"}, "true or false"),
        ({"fact": "channel", "op": "=", "value": ""}, "short text"),
        (
            {"not": {"not": {"not": {"not": {"not": {"not": {"not": {"not": {"not": {}}}}}}}}}},
            "8 levels",
        ),
        ({"all": [leaf("amount", "<", 1)] * 201}, "more than 200"),
    ],
)
def test_invalid_trees_are_refused_with_a_reason(tree, message):
    errors = condition_errors(tree)
    assert errors and any(message in e for e in errors), errors
    with pytest.raises(InvalidCondition):
        condition_compile(tree)


def test_errors_name_the_place_in_the_tree():
    errors = condition_errors({"all": [leaf("amount", "<", 1), leaf("tier", "=", "x")]})
    assert errors == [errors[0]] and errors[0].startswith("condition.all[1]:")


def test_describe_reads_like_a_sentence():
    text = condition_describe(
        {"all": [leaf("amount", "<", 5000), {"not": leaf("presale", "=", True)}]}
    )
    assert "< 5000" in text and "not" in text and " and " in text
