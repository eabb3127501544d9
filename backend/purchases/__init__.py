"""Reader-chosen purchases (你选书我买单): the library buys the new book a reader picks at a partner bookstore."""
