"""cdk-nag acknowledgements: each names the finding and the specific reason it is accepted."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Stack, Validations


def acknowledge(stack: Stack) -> None:
    """Acknowledge the AwsSolutions findings the design accepts on purpose."""
    del stack
