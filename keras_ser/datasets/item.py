"""One labelled recording of a corpus, and the error raised for a malformed corpus."""

from dataclasses import dataclass
from pathlib import Path


class CorpusError(ValueError):
    """A corpus tree, file name or manifest that does not follow its convention."""


@dataclass(frozen=True, kw_only=True)
class Item:
    """A recording and its labels; the audio itself is not loaded.

    - `path`: the audio file.
    - `corpus`: the corpus name given to `load_corpus` (e.g. ``"emodb"``).
    - `speaker`: the corpus's own speaker id as a string (EmoDB ``"03"``, RAVDESS
      actor ``"01"``, TESS ``"OAF"``, IEMOCAP ``"Ses01F"``), or None when unknown.
    - `gender`: ``"female"``, ``"male"`` or None when unknown.
    - `text`: what is said: a sentence, a word, a digit, or the corpus's sentence
      code where the corpus names its sentences by code (EmoDB ``"a01"``).
    - `emotion`: the corpus's own label exactly as the corpus writes it in file
      names or annotations (EmoDB ``"W"``, RAVDESS ``"05"``, TESS ``"ps"``,
      IEMOCAP ``"exc"``); None for corpora without emotions (FSDD).
    - `canonical`: `emotion` in the shared vocabulary of
      `keras_ser.datasets.emotions.EMOTIONS`, or None (no emotion, or a label
      with no agreed category such as IEMOCAP ``"xxx"``).
    - `intensity`: the acted intensity where the corpus gives one (RAVDESS
      ``"normal"``/``"strong"``, CREMA-D ``"low"``/``"medium"``/``"high"``/
      ``"unspecified"``), else None.
    - `valence`, `arousal`, `dominance`: dimensional ratings (IEMOCAP: mean of
      the annotators' 1-5 ratings), else None.
    - `age`: the speaker's age in years where the corpus gives it (nEMO), else None.
    """

    path: Path
    corpus: str
    speaker: str | None
    gender: str | None
    text: str | None
    emotion: str | None
    canonical: str | None
    intensity: str | None = None
    valence: float | None = None
    arousal: float | None = None
    dominance: float | None = None
    age: int | None = None
