"""`load_corpus`: a corpus name (and folder) → its sorted list of `Item`s."""

import os
from pathlib import Path

from keras_ser.datasets import corpora, generic
from keras_ser.datasets.item import CorpusError
from keras_ser.datasets.paths import DATA_ENV, default_data_root

# name → (folder under the data root, reader, expected layout). The generic
# readers have no default folder: they need root=.
_CORPORA = {
    "crema_d": ("crema_d", corpora.read_crema_d, "AudioWAV/1001_DFA_ANG_XX.wav (+ VideoDemographics.csv)"),
    "emodb": ("emodb", corpora.read_emodb, "wav/03a01Fa.wav"),
    "emovo": ("emovo", corpora.read_emovo, "f1/dis-f1-b1.wav"),
    "fsdd": ("fsdd", corpora.read_fsdd, "recordings/7_jackson_32.wav"),
    "iemocap": (
        "iemocap",
        corpora.read_iemocap,
        "Session1/dialog/EmoEvaluation/Ses01F_impro01.txt and Session1/sentences/wav/Ses01F_impro01/*.wav",
    ),
    "nemo": ("nemo", corpora.read_nemo, "samples/EB0_anger_12.opus (+ data.tsv)"),
    "ravdess": ("ravdess", corpora.read_ravdess, "Actor_01/03-01-01-01-01-01-01.wav"),
    "savee": ("savee", corpora.read_savee, "DC_a01.wav or AudioData/DC/a01.wav"),
    "tess": ("tess", corpora.read_tess, "TESS Toronto emotional speech set data/OAF_angry/OAF_back_angry.wav"),
    "folder": (None, generic.read_folder, "<class>/<file>.wav"),
    "csv": (None, generic.read_csv, "a CSV file with columns path,label[,speaker]"),
}

CORPORA = tuple(sorted(_CORPORA))


def _corpus_root(name, root):
    """The folder (or manifest) to read, with an error saying where it looked."""
    folder = _CORPORA[name][0]
    if root is None:
        if folder is None:
            raise ValueError(f"corpus {name!r} has no default location: pass root=")
        base = default_data_root()
        if base is None:
            raise FileNotFoundError(
                f"cannot find the {name} corpus: no data root found. Set ${DATA_ENV} to the folder "
                f"holding the corpus folders ({folder}/, ...), place it at ../shared/datasets beside "
                "the checkout, or pass root="
            )
        root = base / folder
        origin = f"${DATA_ENV}={os.environ[DATA_ENV]}" if os.environ.get(DATA_ENV) else f"the default data root {base}"
        if not root.exists():
            raise FileNotFoundError(
                f"{name} corpus not found at '{root}' (looked in {origin}); put the corpus in a "
                f"'{folder}' folder there, point ${DATA_ENV} at the folder holding it, or pass root="
            )
        return root
    root = Path(root).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"{name} corpus not found: '{root}' does not exist")
    return root


def load_corpus(name, root=None, **options):
    """Read corpus `name` into a list of `Item`s sorted by path (no audio is loaded).

    `root=None` reads `default_data_root() / <name's folder>` (`$KERAS_SER_DATA`
    wins). `options` go to the reader: `speaker_from=` and `emotion_map=` for
    "folder", `emotion_map=` for "csv". Known names are in `CORPORA`.
    """
    if name not in _CORPORA:
        raise ValueError(f"unknown corpus {name!r}; known corpora: {', '.join(CORPORA)}")
    root = _corpus_root(name, root)
    _, reader, layout = _CORPORA[name]
    if name != "csv" and not root.is_dir():
        raise NotADirectoryError(f"{name} corpus root '{root}' is not a folder")
    items = reader(root, **options)
    if not items:
        raise CorpusError(f"no {name} recordings found under '{root}'; expected files laid out like {layout}")
    return sorted(items, key=lambda item: str(item.path))
