"""The benchmark: a generator of a million keys (`make bench-data`) and a driver (`make bench`)."""
