"""Back-office operations: the rules the JSON API and the CSV import share, apart from HTTP."""
