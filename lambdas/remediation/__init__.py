"""Runtime of the auto-remediation playbooks (the Lambda asset). No CDK imports here."""
