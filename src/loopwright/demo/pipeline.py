"""The demo's training pipeline: load → split → fit → score, each step cached by content."""

from __future__ import annotations

import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

import loopwright as lw

TARGET = "target"


@lw.step
def cancer_data() -> pd.DataFrame:
    """scikit-learn's breast-cancer frame (30 numeric features + ``target``), shipped offline."""
    return load_breast_cancer(as_frame=True).frame


@lw.step
def split_data(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    train, test = train_test_split(frame, test_size=0.25, random_state=7, stratify=frame[TARGET])
    return train, test


@lw.step
def fit_model(train: pd.DataFrame, C: float = 1.0) -> Pipeline:
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=1000))
    return model.fit(train.drop(columns=TARGET), train[TARGET])


@lw.step
def score_model(model: Pipeline, test: pd.DataFrame) -> dict:
    proba = model.predict_proba(test.drop(columns=TARGET))[:, 1]
    auc = float(roc_auc_score(test[TARGET], proba))
    lw.log_metric("auc", auc)
    return {"auc": auc}


@lw.pipeline
def cancer(C: float = 1.0) -> object:
    """load → split → fit → score."""
    train, test = split_data(cancer_data())
    return score_model(fit_model(train, C=C), test)
