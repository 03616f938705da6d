from approvals.models.codes import AuthorizationCode, AuthorizationCodeUse, CodeAttemptCounter
from approvals.models.prices import PriceChangeRequest
from approvals.models.rules import RoutingRule, RoutingRuleVersion, RuleTarget
from approvals.models.switches import (
    BypassSwitch,
    BypassUse,
    BypassWindow,
    Obligation,
    SwitchKind,
)

__all__ = [
    "AuthorizationCode",
    "AuthorizationCodeUse",
    "BypassSwitch",
    "BypassUse",
    "BypassWindow",
    "CodeAttemptCounter",
    "Obligation",
    "PriceChangeRequest",
    "RoutingRule",
    "RoutingRuleVersion",
    "RuleTarget",
    "SwitchKind",
]
