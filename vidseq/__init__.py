"""vidseq: classify videos by what happens over time in them.

A frozen torchvision CNN turns every frame into a feature vector, the sequences are
cached in one HDF5 file, and small recurrent heads (LSTM, GRU, BiLSTM, BiGRU) learn
from the cache.
"""

from vidseq.errors import VidseqError

__version__ = "0.1.0"

__all__ = ["VidseqError", "__version__"]
