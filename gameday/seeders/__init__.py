"""Seeders: create, in the simulated account, the resources a replayed event names."""
