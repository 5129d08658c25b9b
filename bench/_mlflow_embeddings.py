"""Run in bench/.venv-mlflow: save the bundled all-MiniLM-L6-v2 folder as an MLflow sentence-transformers model.

python _mlflow_embeddings.py MODEL_FOLDER OUT_FOLDER
"""

from __future__ import annotations

import sys

import mlflow.sentence_transformers
from sentence_transformers import SentenceTransformer

folder, out = sys.argv[1], sys.argv[2]
mlflow.sentence_transformers.save_model(SentenceTransformer(folder, device="cpu"), out)
