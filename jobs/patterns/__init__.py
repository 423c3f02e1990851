"""Crime pattern kernels: near repeat (Knox) analysis and Getis-Ord Gi* hot spots."""
