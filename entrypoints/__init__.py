"""The processes' entry points and the one composition root that wires what they share."""
