"""Seeders: create in the simulated account what a replayed event names, and rewrite moto's ids into it.

Each module exposes `seed(event) -> event`; it must run inside an active moto `mock_aws()`.
"""
