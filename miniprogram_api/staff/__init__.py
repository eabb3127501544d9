"""Staff endpoints: login, scanning reader cards, staff accounts and the libraries each one manages."""
