"""Entry point of the trail playbook."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

import remediation.actions  # noqa: F401  (registers the actions)
from remediation import settings
from remediation.observability import capture_lambda_handler, logger, metrics
from remediation.playbooks import trail


@logger.inject_lambda_context(correlation_id_path="id", clear_state=True)
@metrics.log_metrics
@capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    current = settings.current()
    metrics.add_dimension(name="Playbook", value=current.playbook)
    return trail.handle(event, current)
