"""The eGeMAPS extractor process: `python -m keras_ser.baselines.extractor FEATURE_SET SAMPLE_RATE`.

Reads one audio path per line from stdin; writes one JSON line per path: {"features": [...]} or {"error": "..."}.
"""

import json
import sys

import numpy as np
import opensmile

from keras_ser.audio.io import load


def main(feature_set, sample_rate):
    smile = opensmile.Smile(feature_set=getattr(opensmile.FeatureSet, feature_set),
                            feature_level=opensmile.FeatureLevel.Functionals)
    for line in sys.stdin:
        path = line.rstrip("\n")
        try:
            values = smile.process_signal(load(path, sr=sample_rate), sample_rate).to_numpy(np.float64)
            if values.shape != (1, 88) or not np.all(np.isfinite(values)):
                raise ValueError(f"openSMILE gave no usable {feature_set} functionals (shape {values.shape})")
            reply = {"features": values[0].tolist()}
        except Exception as error:  # reported to the parent, which names the file
            reply = {"error": f"eGeMAPS features of '{path}': {error}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
