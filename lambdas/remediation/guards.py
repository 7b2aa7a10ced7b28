"""Guards shared by playbooks: decide, before any change, whether to act at all."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

from remediation.settings import Settings

if TYPE_CHECKING:
    from remediation.events import GuardDutyFinding


def type_matches(finding_type: str, patterns: list[str] | tuple[str, ...]) -> bool:
    """Finding types are exact names, or prefixes when they end with *."""
    return any(finding_type.startswith(p[:-1]) if p.endswith("*") else finding_type == p for p in patterns)


def allow_listed(settings: Settings, arn: str) -> bool:
    return any(fnmatchcase(arn, pattern) for pattern in settings.principal_allow_list)


def protected(settings: Settings, tags: dict[str, str]) -> bool:
    return tags.get(settings.protected_tag_key) == settings.protected_tag_value


def own_role(settings: Settings, role_name: str) -> bool:
    """The stack's own function roles are never contained (their names start with the stack name)."""
    return role_name.startswith(f"{settings.stack_name}-")


def finding_skip_reason(settings: Settings, finding: GuardDutyFinding) -> str | None:
    """Why a GuardDuty finding is skipped with no AWS call and no notification, or None."""
    if settings.mode == "off":
        return "playbook mode is off"
    if finding.sample:
        return "GuardDuty sample finding"
    if finding.archived:
        return "archived finding"
    if not type_matches(finding.type, settings.option("finding_types")):
        return f"finding type {finding.type} is not configured for this playbook"
    minimum = float(settings.option("min_severity"))
    if finding.severity < minimum:
        return f"severity {finding.severity:g} is below the minimum {minimum:g}"
    return None
