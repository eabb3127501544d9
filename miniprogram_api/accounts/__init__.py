"""Reader endpoints: WeChat login, sessions, profile, phone, the virtual card and children's cards."""
