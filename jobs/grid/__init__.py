"""Grid kernels: H3 study-area cells, parent cells and the cell-by-period modelling table."""
