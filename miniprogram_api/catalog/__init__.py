"""Reader endpoints of the union catalogue."""
