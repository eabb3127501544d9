"""The HTTP API the mini-program, the app and staff devices talk to: thin handlers over `backend` services."""
