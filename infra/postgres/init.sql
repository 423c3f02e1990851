-- Second database on the same server: MLflow's tracking store (Dagster uses POSTGRES_DB).
CREATE DATABASE mlflow;
