"""A class-balanced linear classifier whose C is chosen by speaker-grouped cross-validation."""

import dataclasses
import warnings

import numpy as np

from keras_ser.baselines.egemaps import require

CLASSIFIERS = ("svm", "logistic")
# "global": statistics of the training rows; "corpus" / "speaker": each group's own statistics over all its
# rows, test rows included (unlabelled, as a user's own recordings would be).
STANDARDIZATIONS = ("global", "corpus", "speaker")
DEFAULT_C_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)


def standardize(x, groups):
    """Each group's rows to zero mean and unit variance per feature, by the group's own statistics."""
    x = np.asarray(x, np.float64)
    groups = np.asarray(groups)
    out = np.empty_like(x)
    for group in np.unique(groups):
        rows = groups == group
        std = x[rows].std(axis=0)
        out[rows] = (x[rows] - x[rows].mean(axis=0)) / np.where(std > 0, std, 1.0)
    return out


@dataclasses.dataclass
class LinearBaseline:
    """A linear SVM or logistic regression with class-balanced weights.

    `fit` picks C from `c_grid` by the mean UAR of a `cv_folds`-fold cross-validation whose folds
    hold out whole speakers (`groups`) of the rows it is given, ties going to the smaller C, then
    refits on all of them. With `standardization="global"` each fold is standardised by its own
    training rows; per-corpus and per-speaker standardisation happen before (`standardize`).
    """

    classifier: str = "svm"
    standardization: str = "global"
    c_grid: list = dataclasses.field(default_factory=lambda: list(DEFAULT_C_GRID))
    cv_folds: int = 5

    def __post_init__(self):
        if self.classifier not in CLASSIFIERS:
            raise ValueError(f"classifier must be one of {', '.join(CLASSIFIERS)}, got {self.classifier!r}")
        if self.standardization not in STANDARDIZATIONS:
            raise ValueError(f"standardization must be one of {', '.join(STANDARDIZATIONS)}, "
                             f"got {self.standardization!r}")
        if (not isinstance(self.c_grid, (list, tuple)) or not self.c_grid
                or not all(isinstance(c, (int, float)) and not isinstance(c, bool) and c > 0 for c in self.c_grid)):
            raise ValueError(f"c_grid must be a non-empty list of positive numbers, got {self.c_grid!r}")
        if isinstance(self.cv_folds, bool) or not isinstance(self.cv_folds, int) or self.cv_folds < 2:
            raise ValueError(f"cv_folds must be an integer of at least 2, got {self.cv_folds!r}")
        self.c_grid = sorted(float(c) for c in self.c_grid)
        self.chosen_c = None
        self.cv_uar = {}
        self._model = None

    def _pipeline(self, c):
        require("sklearn")
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import LinearSVC

        if self.classifier == "svm":
            model = LinearSVC(C=c, class_weight="balanced", max_iter=20000)
        else:
            model = LogisticRegression(C=c, class_weight="balanced", max_iter=5000)
        return make_pipeline(StandardScaler(), model) if self.standardization == "global" else model

    def fit(self, x, y, groups):
        """Choose C on speaker-grouped folds of (x, y), then fit on all of it; returns self."""
        require("sklearn")
        from sklearn.metrics import balanced_accuracy_score
        from sklearn.model_selection import GroupKFold

        x, y, groups = np.asarray(x, np.float64), np.asarray(y), np.asarray(groups)
        speakers = len(np.unique(groups))
        if speakers < 2:
            raise ValueError(f"choosing C by speaker-grouped cross-validation needs 2 or more training speakers, "
                             f"got {speakers}; train on more speakers")
        folds = list(GroupKFold(n_splits=min(self.cv_folds, speakers)).split(x, y, groups))
        for c in self.c_grid:
            scores = []
            for train, held in folds:
                model = self._pipeline(c).fit(x[train], y[train])
                with warnings.catch_warnings():  # a held-out speaker may lack a class: UAR over those it has
                    warnings.filterwarnings("ignore", "y_pred contains classes not in y_true")
                    scores.append(balanced_accuracy_score(y[held], model.predict(x[held])))
            self.cv_uar[c] = float(np.mean(scores))
        self.chosen_c = max(self.c_grid, key=lambda c: (self.cv_uar[c], -c))
        self._model = self._pipeline(self.chosen_c).fit(x, y)
        return self

    def predict(self, x):
        """Integer class labels of the rows of x."""
        if self._model is None:
            raise RuntimeError("the baseline is not fitted: call fit(x, y, groups) first")
        return self._model.predict(np.asarray(x, np.float64))

    def probabilities(self, x, num_classes):
        """(rows, num_classes) class probabilities of the rows of x (classifier "logistic"); 0 for a class absent
        from the training rows."""
        if self.classifier != "logistic":
            raise ValueError(f"class probabilities need classifier='logistic'; a {self.classifier!r} gives none")
        if self._model is None:
            raise RuntimeError("the baseline is not fitted: call fit(x, y, groups) first")
        out = np.zeros((len(x), num_classes))
        out[:, self._model.classes_] = self._model.predict_proba(np.asarray(x, np.float64))
        return out
