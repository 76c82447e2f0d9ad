"""The quickstart pipeline: load -> split -> train -> evaluate, on real data.

The iris data set ships with scikit-learn, so this runs offline in seconds.
Every run is recorded in the active stack's metadata store; the artifacts
(data frames, the model, the metrics) are saved in its artifact store.
"""
from __future__ import annotations

from zen_mlmd import Dataset, Metrics, Model, pipeline, step


@step(outputs={"features": Dataset})
def load_iris():
    """The iris measurements and species as one data frame."""
    from sklearn.datasets import load_iris as sklearn_iris

    frame = sklearn_iris(as_frame=True).frame
    return frame.rename(columns=lambda name: name.replace(" (cm)", "").replace(" ", "_"))


@step(outputs={"train": Dataset, "test": Dataset})
def split(features, test_fraction: float = 0.3, seed: int = 7):
    """A stratified train/test split."""
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(
        features, test_size=test_fraction, random_state=seed, stratify=features["target"])
    return train, test


@step(outputs={"model": Model})
def train(train, C: float = 1.0, max_iter: int = 500):
    """A logistic regression on the four measurements."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=C, max_iter=max_iter)
    model.fit(train.drop(columns="target"), train["target"])
    return model


@step(outputs={"metrics": Metrics})
def evaluate(model, test) -> dict:
    """Accuracy and macro F1 on the held-out split."""
    from sklearn.metrics import accuracy_score, f1_score

    predicted = model.predict(test.drop(columns="target"))
    return {
        "accuracy": float(accuracy_score(test["target"], predicted)),
        "f1_macro": float(f1_score(test["target"], predicted, average="macro")),
    }


@pipeline
def iris_training(test_fraction: float = 0.3, C: float = 1.0):
    """Train and evaluate an iris classifier."""
    features = load_iris()
    train_set, test_set = split(features, test_fraction=test_fraction)
    model = train(train_set, C=C)
    evaluate(model, test_set)
