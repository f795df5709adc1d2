"""Addons: one chart kept at a desired version on every matching cluster, changed by rollouts in waves."""
