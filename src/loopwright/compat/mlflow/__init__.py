"""MLflow compatibility: import an MLflow tracking store, answer MLflow's REST API."""
