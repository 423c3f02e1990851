"""Crime pattern assets and checks: near repeat, Gi* hot spots, crime series, repeats."""
