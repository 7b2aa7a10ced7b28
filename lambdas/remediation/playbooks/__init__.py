"""Playbooks: parse an event, guard, then run registered actions in order."""
