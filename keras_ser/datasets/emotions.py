"""The shared emotion vocabulary, each corpus's labels in it, class subsets and binary V/A/D.

Canonical vocabulary (`EMOTIONS`): neutral, calm, happy, sad, angry, fearful,
disgust, surprised, boredom, excited, frustrated, other. It is the union of the
categories of the supported corpora; `CORPUS_EMOTIONS` maps each corpus's own
labels into it. Notes: TESS's "pleasant surprise" is `surprised`; EMOVO's
"gioia" and EmoDB's "Freude" are `happy`; IEMOCAP's `xxx` (annotators did not
agree) maps to None and so falls outside every class set.

The standard 4-class task (`FOUR_CLASS`) is neutral, angry, happy, sad, with
IEMOCAP's excited counted as happy (`CLASS_MERGES`).

Binary valence / arousal / dominance (high = 1, low = 0). IEMOCAP's 1-5 ratings
are binarised as rating > 2.5 (`VAD_THRESHOLD`). Corpora with categorical
labels only use this table (`VAD_TABLE`), which places each category in the
octant of Mehrabian's pleasure-arousal-dominance space where the PAD ratings of
that emotion term fall (Russell & Mehrabian 1977; Mehrabian 1996), consistent
with Russell's (1980) circumplex for valence and arousal:

| canonical  | valence | arousal | dominance | PAD octant (Mehrabian 1996)         |
|------------|---------|---------|-----------|-------------------------------------|
| neutral    | 1       | 0       | 1         | relaxed (+P -A +D): the unaroused rest state, not unpleasant, not submissive |
| calm       | 1       | 0       | 1         | relaxed (+P -A +D)                  |
| happy      | 1       | 1       | 1         | exuberant (+P +A +D)                |
| excited    | 1       | 1       | 1         | exuberant (+P +A +D)                |
| surprised  | 1       | 1       | 0         | dependent (+P +A -D); TESS's is *pleasant* surprise |
| angry      | 0       | 1       | 1         | hostile (-P +A +D)                  |
| disgust    | 0       | 1       | 1         | hostile (-P +A +D)                  |
| fearful    | 0       | 1       | 0         | anxious (-P +A -D)                  |
| frustrated | 0       | 1       | 0         | anxious (-P +A -D)                  |
| sad        | 0       | 0       | 0         | bored (-P -A -D)                    |
| boredom    | 0       | 0       | 0         | bored (-P -A -D)                    |
| other      | -       | -       | -         | no placement: `binary_vad` gives None |

Neutral has no PAD direction of its own (it is the origin); it is put with calm
because in acted corpora it is the low-activation reference, and because with
the > 2.5 split the scale midpoint (3) already counts as high valence and
dominance.

References: J. A. Russell (1980), A circumplex model of affect, J. Pers. Soc.
Psychol. 39(6); J. A. Russell & A. Mehrabian (1977), Evidence for a
three-factor theory of emotions, J. Res. Pers. 11(3); A. Mehrabian (1996),
Pleasure-arousal-dominance: a general framework for describing and measuring
individual differences in temperament, Curr. Psychol. 14(4).
"""

import numpy as np

EMOTIONS = (
    "neutral",
    "calm",
    "happy",
    "sad",
    "angry",
    "fearful",
    "disgust",
    "surprised",
    "boredom",
    "excited",
    "frustrated",
    "other",
)

FOUR_CLASS = ("neutral", "angry", "happy", "sad")

CLASS_MERGES = {"excited": "happy"}

CORPUS_EMOTIONS = {
    "ravdess": {
        "01": "neutral",
        "02": "calm",
        "03": "happy",
        "04": "sad",
        "05": "angry",
        "06": "fearful",
        "07": "disgust",
        "08": "surprised",
    },
    "emodb": {
        "W": "angry",
        "L": "boredom",
        "E": "disgust",
        "A": "fearful",
        "F": "happy",
        "T": "sad",
        "N": "neutral",
    },
    "tess": {
        "angry": "angry",
        "disgust": "disgust",
        "fear": "fearful",
        "happy": "happy",
        "neutral": "neutral",
        "ps": "surprised",
        "pleasant_surprise": "surprised",
        "pleasant_surprised": "surprised",
        "sad": "sad",
    },
    "savee": {
        "a": "angry",
        "d": "disgust",
        "f": "fearful",
        "h": "happy",
        "n": "neutral",
        "sa": "sad",
        "su": "surprised",
    },
    "emovo": {
        "dis": "disgust",
        "gio": "happy",
        "neu": "neutral",
        "pau": "fearful",
        "rab": "angry",
        "sor": "surprised",
        "tri": "sad",
    },
    "crema_d": {
        "ANG": "angry",
        "DIS": "disgust",
        "FEA": "fearful",
        "HAP": "happy",
        "NEU": "neutral",
        "SAD": "sad",
    },
    "nemo": {
        "anger": "angry",
        "fear": "fearful",
        "happiness": "happy",
        "neutral": "neutral",
        "sadness": "sad",
        "surprised": "surprised",
    },
    "iemocap": {
        "ang": "angry",
        "hap": "happy",
        "exc": "excited",
        "sad": "sad",
        "neu": "neutral",
        "fru": "frustrated",
        "sur": "surprised",
        "fea": "fearful",
        "dis": "disgust",
        "oth": "other",
        "xxx": None,
    },
}

_SYNONYMS = {
    "happiness": "happy",
    "joy": "happy",
    "sadness": "sad",
    "anger": "angry",
    "fear": "fearful",
    "disgusted": "disgust",
    "surprise": "surprised",
    "bored": "boredom",
    "excitement": "excited",
    "frustration": "frustrated",
}

VAD_THRESHOLD = 2.5

VAD_TABLE = {
    "neutral": (1, 0, 1),
    "calm": (1, 0, 1),
    "happy": (1, 1, 1),
    "excited": (1, 1, 1),
    "surprised": (1, 1, 0),
    "angry": (0, 1, 1),
    "disgust": (0, 1, 1),
    "fearful": (0, 1, 0),
    "frustrated": (0, 1, 0),
    "sad": (0, 0, 0),
    "boredom": (0, 0, 0),
}


def canonical_emotion(label):
    """The vocabulary name for a free-form English label ("Anger" → "angry"), or None."""
    key = str(label).strip().lower().replace(" ", "_").replace("-", "_")
    if key in EMOTIONS:
        return key
    return _SYNONYMS.get(key)


def corpus_classes(corpus):
    """The canonical classes a named corpus uses, in vocabulary order."""
    if corpus not in CORPUS_EMOTIONS:
        raise ValueError(
            f"no emotion labels known for corpus {corpus!r}; corpora with emotions: "
            f"{', '.join(sorted(CORPUS_EMOTIONS))}"
        )
    used = set(CORPUS_EMOTIONS[corpus].values())
    return tuple(name for name in EMOTIONS if name in used)


def select_classes(items, classes=FOUR_CLASS, merge=CLASS_MERGES):
    """Keep the items whose canonical label falls in `classes`; return (items, labels).

    `labels` is an int64 array of indices into `classes`. A canonical label
    outside `classes` is first renamed through `merge` (default: excited →
    happy), so the default call gives the standard 4-class IEMOCAP subset.
    Items whose label is None or outside the set are dropped.
    """
    classes = tuple(classes)
    unknown = [name for name in classes if name not in EMOTIONS]
    if unknown:
        raise ValueError(
            f"unknown class name(s) {unknown}; classes must come from the vocabulary {EMOTIONS}"
        )
    if len(set(classes)) != len(classes):
        raise ValueError(f"classes {classes} name a class twice")
    index = {name: i for i, name in enumerate(classes)}
    kept, labels = [], []
    for item in items:
        label = item.canonical
        if label not in index and label in merge:
            label = merge[label]
        if label in index:
            kept.append(item)
            labels.append(index[label])
    return kept, np.asarray(labels, dtype=np.int64)


def binary_vad(item):
    """(valence, arousal, dominance) as 0/1 for one item, or None where undefined.

    Dimensional ratings (IEMOCAP) are binarised at > `VAD_THRESHOLD`; items with
    only a categorical label use `VAD_TABLE`. None for items without an emotion
    or labelled `other`.
    """
    ratings = (item.valence, item.arousal, item.dominance)
    if all(value is not None for value in ratings):
        return tuple(int(value > VAD_THRESHOLD) for value in ratings)
    return VAD_TABLE.get(item.canonical)
