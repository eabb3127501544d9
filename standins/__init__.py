"""Stand-ins for the outside world, speaking its real protocol: servers our real clients talk to on loopback."""
