"""Operations helpers: service processes, lakehouse maintenance and BI views (docs/operations.md)."""
