"""Behaviour modules, one job each; sim.stages fixes the order they run in every month."""
