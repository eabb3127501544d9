"""Demo data, for trying the backend without a real library network."""
