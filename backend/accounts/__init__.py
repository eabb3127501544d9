"""Readers (and the children their guardians hold cards for), staff, sessions and the virtual reader card."""
