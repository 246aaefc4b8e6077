"""Generate long voice-chat sessions with espeak-ng, for the automatic labelling pipeline.

The toxicity paper's training data comes from long voice-chat recordings that a fully
automatic pipeline cuts (Opus DTX), transcribes (Whisper) and labels (a text
classifier). This generator makes such recordings with a known truth:

- a session is one language (en es fr de pt), 2-4 espeak-ng voices of that language
  (:data:`voxrecipes.corpora.mini_toxicity.VOICES`) taking turns, each voice with its
  own speed and pitch for the whole session;
- a turn is 1-3 sentences separated by short silences (``intra_gap``, shorter than the
  DTX cut); turns are separated by pauses of varying length (``turn_gap``);
- sentences are the mini toxicity corpus's neutral chat and, with probability
  ``toxic_share``, a toxic phrase of one class (alone or after a neutral sentence),
  from :data:`voxrecipes.corpora.mini_toxicity.PHRASES`;
- stationary background noise (white noise low-passed by a moving average, a hum-free
  room/fan stand-in) at ``snr_db`` below the speech level, over the whole session.

Each sentence is spoken on its own, trimmed of espeak-ng's leading and trailing
silence (samples below ``trim_level`` of full scale), and placed at a known time, so
the truth has the exact time span of the speech of every sentence.

Output layout (the pipeline sees only ``audio/``)::

    <out_dir>/audio/<split>/<session>.wav   16 kHz mono 16-bit, 1-3 minutes each
    <out_dir>/truth/sentences.tsv           session split language speaker start end labels text
    <out_dir>/truth/sessions.tsv            session split language duration num_sentences

``labels`` are ``;``-separated class names of
:data:`voxrecipes.corpora.toxicity_manifest.CLASSES`. All randomness comes from
``numpy.random.default_rng(seed)``: the same seed gives byte-identical files.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile

from voxrecipes.corpora.mini_toxicity import LANGUAGES, PHRASES, TOXIC_WEIGHTS, VOICES, speaker_name
from voxrecipes.corpora.synth import SAMPLE_RATE, Prosody, check_tools, run_parallel, synthesize
from voxrecipes.errors import ConfigError
from voxrecipes.fileio import atomic_dir
from voxrecipes.labels import NO_VIOLATION

logger = logging.getLogger(__name__)

SENTENCE_COLUMNS = ["session", "split", "language", "speaker", "start", "end", "labels", "text"]
SESSION_COLUMNS = ["session", "split", "language", "duration", "num_sentences"]


@dataclass
class SessionConfig:
    """Every knob of the generator (the recipe's ``conf/generate_sessions.yaml`` sets them)."""

    sessions_per_split: dict[str, int] = field(default_factory=lambda: {"train": 2, "dev": 1, "test": 1})
    min_session_seconds: float = 60.0
    max_session_seconds: float = 90.0
    min_speakers: int = 2
    max_speakers: int = 3
    max_sentences_per_turn: int = 3
    intra_gap: tuple[float, float] = (0.05, 0.3)   # silence between the sentences of a turn (s)
    turn_gap: tuple[float, float] = (0.4, 2.5)     # silence between turns (s)
    lead_silence: tuple[float, float] = (0.5, 1.5)  # silence before the first turn (s)
    tail_silence: float = 1.0                      # silence after the last turn (s)
    toxic_share: float = 0.3                       # share of sentences with a toxic phrase
    snr_db: float = 30.0                           # speech level over the background noise
    noise_smoothing: int = 8                       # moving-average length of the noise low-pass (samples)
    trim_level: float = 0.003                      # |sample| below this (full scale 1) is espeak's silence
    speed: tuple[int, int] = (150, 200)            # espeak-ng words per minute, per speaker
    pitch: tuple[int, int] = (30, 70)              # espeak-ng pitch, per speaker

    def validate(self) -> None:
        if not self.sessions_per_split or any(n < 0 for n in self.sessions_per_split.values()):
            raise ConfigError(f"sessions_per_split must map split names to counts >= 0, got {self.sessions_per_split}")
        if not 0 < self.min_session_seconds <= self.max_session_seconds:
            raise ConfigError("need 0 < min_session_seconds <= max_session_seconds, got "
                              f"{self.min_session_seconds} and {self.max_session_seconds}")
        if not 1 <= self.min_speakers <= self.max_speakers:
            raise ConfigError(f"need 1 <= min_speakers <= max_speakers, got {self.min_speakers}, {self.max_speakers}")
        if not 0.0 <= self.toxic_share <= 1.0:
            raise ConfigError(f"toxic_share must be in [0, 1], got {self.toxic_share}")
        for name in ("intra_gap", "turn_gap", "lead_silence"):
            low, high = getattr(self, name)
            if not 0 <= low <= high:
                raise ConfigError(f"{name} must be [low, high] with 0 <= low <= high, got {[low, high]}")


@dataclass
class Sentence:
    """One spoken sentence of a session; ``start``/``end`` are the speech's span in the session (s)."""

    speaker: str
    voice: str
    prosody: Prosody
    text: str
    labels: list[str]
    gap_before: float
    start: float = 0.0
    end: float = 0.0


@dataclass
class Session:
    name: str
    split: str
    language: str
    target_seconds: float
    sentences: list[Sentence]
    duration: float = 0.0


def _draw_sentence(rng: np.random.Generator, language: str, toxic_share: float) -> tuple[str, list[str]]:
    phrases = PHRASES[language]
    neutral = str(rng.choice(phrases[NO_VIOLATION]))
    if rng.random() >= toxic_share:
        return neutral, [NO_VIOLATION]
    names = list(TOXIC_WEIGHTS)
    weights = np.array([TOXIC_WEIGHTS[n] for n in names])
    label = names[int(rng.choice(len(names), p=weights / weights.sum()))]
    phrase = str(rng.choice(phrases[label]))
    return (phrase if rng.random() < 0.5 else f"{neutral}, {phrase}"), [label]


def _estimate_seconds(text: str, speed: int) -> float:
    """Rough spoken length (espeak-ng speaks ``speed`` words per minute), only to plan a session's length."""
    return 60.0 * len(text.split()) / speed + 0.3


def plan_sessions(cfg: SessionConfig, seed: int) -> list[Session]:
    """Draw every session (language, speakers, turns, sentences, gaps) from ``seed``."""
    cfg.validate()
    rng = np.random.default_rng(seed)
    sessions: list[Session] = []
    for split, count in cfg.sessions_per_split.items():
        for k in range(count):
            language = LANGUAGES[(len(sessions)) % len(LANGUAGES)]
            voices = VOICES[language]
            n_spk = int(rng.integers(cfg.min_speakers, min(cfg.max_speakers, len(voices)) + 1))
            chosen = [str(v) for v in rng.choice(voices, size=n_spk, replace=False)]
            prosodies = {v: Prosody(speed=int(rng.integers(cfg.speed[0], cfg.speed[1] + 1)),
                                    pitch=int(rng.integers(cfg.pitch[0], cfg.pitch[1] + 1))) for v in chosen}
            target = float(rng.uniform(cfg.min_session_seconds, cfg.max_session_seconds))
            sentences: list[Sentence] = []
            elapsed = float(rng.uniform(*cfg.lead_silence))
            gap = elapsed
            previous = None
            while elapsed < target - cfg.tail_silence:
                voice = str(rng.choice([v for v in chosen if v != previous] or chosen))
                previous = voice
                for i in range(int(rng.integers(1, cfg.max_sentences_per_turn + 1))):
                    if i > 0:
                        gap = float(rng.uniform(*cfg.intra_gap))
                    text, labels = _draw_sentence(rng, language, cfg.toxic_share)
                    sentences.append(Sentence(speaker=speaker_name(voice), voice=voice, prosody=prosodies[voice],
                                              text=text, labels=labels, gap_before=round(gap, 3)))
                    elapsed += gap + _estimate_seconds(text, prosodies[voice].speed)
                gap = float(rng.uniform(*cfg.turn_gap))
            sessions.append(Session(name=f"{split}_{language}_{k + 1:03d}", split=split, language=language,
                                    target_seconds=target, sentences=sentences))
    return sessions


def trim_silence(audio: np.ndarray, level: float) -> np.ndarray:
    """``audio`` without the leading and trailing samples whose magnitude is below ``level``."""
    loud = np.flatnonzero(np.abs(audio) >= level)
    if loud.size == 0:
        raise RuntimeError("espeak-ng produced silence")
    return audio[loud[0]:loud[-1] + 1]


def _speak(job: tuple[Sentence, Path, float]) -> np.ndarray:
    sentence, path, level = job
    synthesize(sentence.text + ".", sentence.voice, sentence.prosody, path)
    audio, rate = soundfile.read(str(path), dtype="float32")
    if rate != SAMPLE_RATE:
        raise RuntimeError(f"{path}: sample rate {rate}, expected {SAMPLE_RATE}")
    return trim_silence(audio, level)


def render_session(session: Session, pieces: list[np.ndarray], cfg: SessionConfig,
                   rng: np.random.Generator) -> np.ndarray:
    """Place the sentences at their gaps (setting their spans), add the background noise; float32 audio."""
    total = sum(int(round(s.gap_before * SAMPLE_RATE)) + len(p) for s, p in zip(session.sentences, pieces,
                                                                                   strict=True))
    total += int(round(cfg.tail_silence * SAMPLE_RATE))
    audio = np.zeros(total, dtype=np.float64)
    pos = 0
    for sentence, piece in zip(session.sentences, pieces, strict=True):
        pos += int(round(sentence.gap_before * SAMPLE_RATE))
        audio[pos:pos + len(piece)] = piece
        sentence.start, sentence.end = pos / SAMPLE_RATE, (pos + len(piece)) / SAMPLE_RATE
        pos += len(piece)
    speech = np.concatenate(pieces)
    speech_rms = float(np.sqrt(np.mean(speech.astype(np.float64) ** 2)))
    noise = rng.standard_normal(total + cfg.noise_smoothing - 1)
    noise = np.convolve(noise, np.ones(cfg.noise_smoothing) / cfg.noise_smoothing, mode="valid")
    noise *= speech_rms * 10.0 ** (-cfg.snr_db / 20.0) / float(np.sqrt(np.mean(noise ** 2)))
    session.duration = total / SAMPLE_RATE
    return np.clip(audio + noise, -1.0, 1.0).astype(np.float32)


def generate(out_dir: str | Path, cfg: SessionConfig | None = None, *, seed: int = 0, nj: int = 2) -> dict:
    """Write the sessions and their truth to ``out_dir`` (atomically); return statistics."""
    cfg = cfg or SessionConfig()
    check_tools()
    sessions = plan_sessions(cfg, seed)
    if not sessions:
        raise ConfigError("sessions_per_split asks for no session")
    noise_rng = np.random.default_rng([seed, 1])
    rows = ["\t".join(SENTENCE_COLUMNS)]
    session_rows = ["\t".join(SESSION_COLUMNS)]
    with atomic_dir(out_dir) as tmp, tempfile.TemporaryDirectory(prefix="voxsessions.") as scratch:
        for session in sessions:
            jobs = [(s, Path(scratch) / f"{i}.wav", cfg.trim_level) for i, s in enumerate(session.sentences)]
            pieces = run_parallel(_speak, jobs, nj)
            audio = render_session(session, pieces, cfg, noise_rng)
            path = tmp / "audio" / session.split / f"{session.name}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            soundfile.write(str(path), audio, SAMPLE_RATE, subtype="PCM_16")
            for s in session.sentences:
                rows.append("\t".join([session.name, session.split, session.language, s.speaker, f"{s.start:.3f}",
                                       f"{s.end:.3f}", ";".join(s.labels), s.text]))
            session_rows.append("\t".join([session.name, session.split, session.language, f"{session.duration:.3f}",
                                           str(len(session.sentences))]))
            logger.info("%s: %.1f s, %d sentences", session.name, session.duration, len(session.sentences))
        (tmp / "truth").mkdir()
        (tmp / "truth" / "sentences.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
        (tmp / "truth" / "sessions.tsv").write_text("\n".join(session_rows) + "\n", encoding="utf-8")
    sentences = [s for session in sessions for s in session.sentences]
    return {"sessions": len(sessions), "sentences": len(sentences),
            "toxic_sentences": sum(s.labels != [NO_VIOLATION] for s in sentences),
            "audio_seconds": round(sum(s.duration for s in sessions), 1)}


@dataclass
class TruthSentence:
    """A row of ``truth/sentences.tsv``."""

    session: str
    split: str
    language: str
    speaker: str
    start: float
    end: float
    labels: list[str]
    text: str


def read_truth(path: str | Path) -> list[TruthSentence]:
    """Read ``truth/sentences.tsv``; a malformed row is a :class:`DataError` at its line."""
    from voxrecipes.data.table import read_text
    from voxrecipes.errors import DataError

    path = Path(path)
    lines = read_text(path).splitlines()
    if not lines or lines[0].split("\t") != SENTENCE_COLUMNS:
        raise DataError(path, 1, f"expected the header {' '.join(SENTENCE_COLUMNS)} (tab-separated)")
    out: list[TruthSentence] = []
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split("\t")
        if len(fields) != len(SENTENCE_COLUMNS):
            raise DataError(path, number, f"{len(fields)} fields, expected {len(SENTENCE_COLUMNS)}")
        try:
            start, end = float(fields[4]), float(fields[5])
        except ValueError:
            raise DataError(path, number, f"start/end '{fields[4]}' '{fields[5]}' are not numbers") from None
        if not end > start >= 0:
            raise DataError(path, number, f"need end > start >= 0, got {start} {end}")
        out.append(TruthSentence(fields[0], fields[1], fields[2], fields[3], start, end, fields[6].split(";"),
                                 fields[7]))
    return out
