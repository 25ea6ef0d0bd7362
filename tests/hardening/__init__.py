"""Hostile input, faults and names: the defences of issue 15."""
