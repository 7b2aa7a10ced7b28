"""Seeders: create in the simulated account what a real-format event names.

Each seeder takes an event, creates the user, key, instance, trail or security group it
refers to (moto generates its own ids) and returns the event with those ids written in.
"""
