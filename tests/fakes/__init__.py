"""Loopback HTTP servers that speak the real protocols of the external services nodes call."""
