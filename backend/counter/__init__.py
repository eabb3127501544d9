"""The desk: finding a reader by card number, phone or name, what staff see of them, and the log of every look-up."""
