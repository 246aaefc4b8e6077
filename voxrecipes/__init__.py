"""voxrecipes: Kaldi/ESPnet-style recipes for utterance-level speech classification."""

__version__ = "0.1.0"
