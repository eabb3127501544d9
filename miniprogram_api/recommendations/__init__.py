"""Reading recommendations: a reader's picks and their switch, and a record's also-borrowed."""
