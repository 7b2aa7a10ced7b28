"""Registered actions. Importing this package registers every action module."""

from remediation.actions import alarms, cloudtrail, ec2, health, iam, iam_lookup  # noqa: F401
from remediation.actions.base import REGISTRY, ActionSpec, Permission

__all__ = ["REGISTRY", "ActionSpec", "Permission"]
