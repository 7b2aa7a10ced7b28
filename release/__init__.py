"""Operator command that reverses the containment recorded in an incident (docs/release.md)."""
