"""Guards shared by playbooks: decide, before any change, whether to act at all."""

from __future__ import annotations

from fnmatch import fnmatchcase

from remediation.settings import Settings


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
