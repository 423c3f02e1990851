"""Crime series linkage: a pairwise same-offender model trained on planted synthetic series."""
