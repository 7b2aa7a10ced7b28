"""Lambda entry points: thin wrappers that hand the event to one playbook."""
