"""Generate a mini MSP-Podcast corpus with espeak-ng, in the real release's on-disk layout.

The mini recipes must run the real ``local/data.sh`` path, so the output mirrors
MSP-Podcast 1.11::

    <out_dir>/Audios/MSP-PODCAST_0001_0003.wav      16 kHz mono 16-bit
    <out_dir>/Labels/labels_consensus.csv           FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set
    <out_dir>/Transcripts/MSP-PODCAST_0001_0003.txt one line of text
    <out_dir>/mini_corpus.json                      generator options and the speaker -> voice table (not in
                                                    the real release; nothing reads it but tests and people)

Splits are ``Train Development Test1 Test2 Test3`` and speaker-disjoint (a speaker is
one espeak-ng voice such as ``en-us+f2`` with its own pitch/speed/loudness offsets).
Test2 speakers have ``SpkrID`` ``Unknown`` (as in the release, where some test
speakers are not identified); Test3 is the unlabelled challenge set: its EmoClass,
EmoAct, EmoVal and EmoDom are empty, and its categories are balanced over the eight
primary emotions as in the Odyssey 2024 test set.

How the labels are made learnable, following what the TalTech paper observed on the
real data (text beats audio for categories and valence; audio carries arousal and
dominance; fusion beats both):

* every category has a prosody profile (speed, pitch, amplitude, word gap); each
  utterance draws its prosody around the profile with jitter, plus speaker offsets;
* arousal is computed from the drawn prosody (speed, loudness, pitch) plus a little
  noise, so it is mostly an acoustic property;
* valence is computed mostly from the words: the sentence is built from phrases
  whose adjectives are drawn from positive / negative / neutral lists in proportions
  set by a per-utterance valence target;
* dominance follows arousal, loudness and a per-category offset;
* categories leave both traces: the prosody profile and, in most utterances, a
  category-flavoured adjective (sometimes a distractor from another category);
* class frequencies are imbalanced with N the most frequent; O (other) borrows the
  prosody and words of random categories, X (no agreement) takes its prosody from
  one category and its words from another: both rare, with mixed cues.

All randomness comes from ``numpy.random.default_rng(seed)`` in the main process, so
the same seed gives a byte-identical CSV and transcripts; espeak-ng and sox (no
dither) are deterministic, so the audio is identical too.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from voxrecipes.corpora.synth import Prosody, check_tools, run_parallel, synthesize
from voxrecipes.errors import ConfigError
from voxrecipes.fileio import atomic_dir
from voxrecipes.labels import EMOTION_CLASSES, EMOTION_CODES, EMOTION_NAMES, PSEUDO_CLASSES

logger = logging.getLogger(__name__)

CSV_HEADER = ["FileName", "EmoClass", "EmoAct", "EmoVal", "EmoDom", "SpkrID", "Gender", "Split_Set"]
SPLITS = ["Train", "Development", "Test1", "Test2", "Test3"]
UNLABELLED_SPLITS = {"Test3"}
UNKNOWN_SPEAKER_SPLITS = {"Test2"}
EMO_CODES = list(EMOTION_CODES)
PRIMARY_CODES = list(EMOTION_CLASSES)
EMO_NAMES = EMOTION_NAMES
# Share of each class among labelled utterances (N most frequent, O and X rare), as in MSP-Podcast.
CLASS_SHARES = {"N": 0.27, "H": 0.17, "A": 0.11, "S": 0.10, "C": 0.07, "U": 0.06, "F": 0.06, "D": 0.06,
                "O": 0.05, "X": 0.05}
# Fractions of speakers per split (Test3 takes the rest, every split at least one speaker).
SPLIT_SPEAKER_FRACTIONS = {"Development": 0.1875, "Test1": 0.125, "Test2": 0.125, "Test3": 0.0625}
# Default size: many voices with few utterances each, so that 24 training speakers (not 8 of
# 16 x 56) let an audio model generalise to unseen voices; about the same total duration.
DEFAULT_NUM_SPEAKERS = 48
DEFAULT_UTTS_PER_SPEAKER = 19

# Prosody profile per primary category: (speed wpm, pitch 0-99, amplitude 0-200, word gap).
PROFILES = {
    "N": (165, 45, 95, 1), "H": (190, 66, 120, 0), "A": (200, 36, 160, 0), "S": (128, 30, 65, 5),
    "U": (182, 82, 125, 1), "F": (212, 72, 80, 0), "D": (148, 40, 118, 3), "C": (138, 30, 100, 4),
}
PROSODY_JITTER = (14.0, 7.0, 14.0, 1.0)
# Mean valence of each primary category, and the dominance offset relative to arousal.
CATEGORY_VALENCE = {"N": 4.1, "H": 5.8, "A": 2.3, "S": 2.4, "U": 4.7, "F": 2.6, "D": 2.3, "C": 2.8}
CATEGORY_DOMINANCE = {"N": 0.0, "H": 0.3, "A": 1.0, "S": -1.0, "U": -0.2, "F": -1.2, "D": 0.4, "C": 0.9}

CATEGORY_WORDS = {
    "A": ["furious", "outraged", "livid", "infuriating", "unacceptable"],
    "S": ["lonely", "heartbroken", "gloomy", "miserable", "hopeless"],
    "H": ["delighted", "cheerful", "thrilled", "joyful", "overjoyed"],
    "U": ["astonishing", "unexpected", "unbelievable", "startling", "surprising"],
    "F": ["scared", "terrified", "nervous", "frightening", "alarming"],
    "D": ["disgusting", "gross", "revolting", "nasty", "rotten"],
    "C": ["ridiculous", "pathetic", "laughable", "clueless", "pointless"],
    "N": ["usual", "scheduled", "normal", "routine", "typical"],
}
POSITIVE_WORDS = ["wonderful", "great", "lovely", "nice", "good", "excellent", "pleasant", "fantastic", "kind",
                  "beautiful", "bright", "helpful", "perfect", "brilliant"]
NEGATIVE_WORDS = ["terrible", "awful", "bad", "horrible", "poor", "broken", "painful", "ugly", "wrong",
                  "difficult", "boring", "dreadful", "useless", "unfair"]
NEUTRAL_WORDS = ["okay", "fine", "ordinary", "regular", "standard", "average", "long", "short", "new", "old",
                 "early", "late"]
NOUNS = ["weather", "meeting", "dinner", "project", "movie", "trip", "game", "weekend", "office", "garden",
         "train", "concert", "neighbour", "book", "result", "plan", "interview", "episode", "market", "flight"]
TEMPLATES = ["the {noun} was {adj}", "it felt {adj}", "this {noun} is {adj}", "I think the {noun} looks {adj}",
             "honestly that was {adj}", "my {noun} seemed {adj}", "we found the {noun} {adj}",
             "the whole {noun} sounds {adj}"]
OPENERS = ["well", "so", "you know", "okay so", "right", "and then", "I mean", "actually"]
JOINERS = [", and ", ", ", " and ", ", then "]

ACCENTS = ["en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc", "en-gb-x-gbclan",
           "en-gb-x-gbcwmd"]
VARIANTS = ["m1", "f1", "m2", "f2", "m3", "f3", "m4", "f4", "m5", "f5", "m6", "m7"]


@dataclass
class Speaker:
    """One synthetic speaker: an espeak-ng voice plus personal prosody offsets."""

    spkr_id: str
    voice: str
    gender: str
    split: str
    speed_offset: float
    pitch_offset: float
    amp_offset: float


@dataclass
class Utterance:
    """Everything needed to synthesize one segment and write its CSV row."""

    file_name: str
    speaker: Speaker
    emo_class: str
    text: str
    prosody: Prosody
    arousal: float
    valence: float
    dominance: float


def voice_pool() -> list[tuple[str, str]]:
    """All (voice, gender) pairs, ordered so that the first 12 use 12 different variants."""
    pool = []
    for r in range(len(ACCENTS)):
        for j, variant in enumerate(VARIANTS):
            accent = ACCENTS[(j + r) % len(ACCENTS)]
            pool.append((f"{accent}+{variant}", "Female" if variant.startswith("f") else "Male"))
    return pool


def allocate_speakers(num_speakers: int) -> list[str]:
    """Split name of each speaker index: Train first, then Development, Test1, Test2, Test3."""
    if num_speakers < len(SPLITS):
        raise ConfigError(f"--num_speakers must be at least {len(SPLITS)} (one per split), got {num_speakers}")
    counts = {name: max(1, round(frac * num_speakers)) for name, frac in SPLIT_SPEAKER_FRACTIONS.items()}
    counts["Train"] = num_speakers - sum(counts.values())
    if counts["Train"] < 1:
        raise ConfigError(f"--num_speakers {num_speakers} leaves no training speaker")
    return [name for name in SPLITS for _ in range(counts[name])]


def make_speakers(rng: np.random.Generator, num_speakers: int) -> list[Speaker]:
    """Draw voices, numeric speaker ids and prosody offsets; assign speaker-disjoint splits."""
    pool = voice_pool()
    if num_speakers > len(pool):
        raise ConfigError(f"--num_speakers at most {len(pool)} (distinct espeak-ng voices), got {num_speakers}")
    first = rng.permutation(len(VARIANTS))
    rest = len(VARIANTS) + rng.permutation(len(pool) - len(VARIANTS))
    order = list(first) + list(rest)
    splits = allocate_speakers(num_speakers)
    ids = sorted(int(x) for x in rng.choice(np.arange(1, 3000), size=num_speakers, replace=False))
    speakers = []
    for k in range(num_speakers):
        voice, gender = pool[order[k]]
        speakers.append(Speaker(spkr_id=str(ids[k]), voice=voice, gender=gender, split=splits[k],
                                speed_offset=float(rng.normal(0, 8)), pitch_offset=float(rng.normal(0, 6)),
                                amp_offset=float(rng.normal(0, 6))))
    return speakers


def _prosody_for(rng: np.random.Generator, profile_code: str, speaker: Speaker) -> tuple[Prosody, float, float]:
    """Draw a prosody around a category profile; return it with the speaker-free speed and amplitude."""
    speed, pitch, amp, gap = PROFILES[profile_code]
    js, jp, ja, jg = PROSODY_JITTER
    d_speed, d_pitch, d_amp = rng.normal(0, js), rng.normal(0, jp), rng.normal(0, ja)
    d_gap = int(np.clip(np.round(rng.normal(0, jg)), -1, 2))
    prosody = Prosody(speed=int(round(speed + d_speed + speaker.speed_offset)),
                      pitch=int(round(pitch + d_pitch + speaker.pitch_offset)),
                      amplitude=int(round(amp + d_amp + speaker.amp_offset)), gap=max(0, gap + d_gap)).clipped()
    return prosody, speed + d_speed, amp + d_amp


def _arousal(speed: float, amp: float, pitch_profile: float) -> float:
    """Arousal (1-7 before clipping) implied by speaker-free speed, loudness and profile pitch."""
    z = 0.45 * (speed - 165.0) / 30.0 + 0.40 * (amp - 100.0) / 35.0 + 0.15 * (pitch_profile - 50.0) / 20.0
    return 4.0 + 1.7 * z


def _polar_words(rng: np.random.Generator, valence_target: float, count: int) -> tuple[list[str], float]:
    """Adjectives whose polarity mix encodes ``valence_target``; return them and their mean polarity."""
    s = float(np.clip((valence_target - 4.0) / 2.5, -1.0, 1.0))
    words, polarity = [], []
    for _ in range(count):
        u = rng.random()
        if u < 0.08 + 0.85 * abs(s):
            sign = 1 if s >= 0 else -1
        elif u < 0.14 + 0.85 * abs(s):
            sign = -1 if s >= 0 else 1
        else:
            sign = 0
        pool = {1: POSITIVE_WORDS, -1: NEGATIVE_WORDS, 0: NEUTRAL_WORDS}[sign]
        words.append(str(rng.choice(pool)))
        polarity.append(sign)
    return words, float(np.mean(polarity)) if polarity else 0.0


def _sentence(rng: np.random.Generator, adjectives: list[str]) -> str:
    phrases = []
    for adj in adjectives:
        template = str(rng.choice(TEMPLATES))
        phrases.append(template.format(noun=str(rng.choice(NOUNS)), adj=adj))
    text = phrases[0]
    for phrase in phrases[1:]:
        text += str(rng.choice(JOINERS)) + phrase
    if rng.random() < 0.5:
        text = str(rng.choice(OPENERS)) + " " + text
    return text[0].upper() + text[1:] + "."


def make_utterance(rng: np.random.Generator, file_name: str, speaker: Speaker, emo_class: str) -> Utterance:
    """Draw prosody, words and attributes for one utterance of class ``emo_class``."""
    if emo_class == "O":
        prosody_code = str(rng.choice(PRIMARY_CODES))
        word_codes = [str(c) for c in rng.choice(PRIMARY_CODES, size=2, replace=False)]
        valence_target = rng.normal(3.8, 0.9)
    elif emo_class == "X":
        prosody_code, word_code = (str(c) for c in rng.choice(PRIMARY_CODES, size=2, replace=False))
        word_codes = [word_code]
        valence_target = 0.5 * (CATEGORY_VALENCE[prosody_code] + CATEGORY_VALENCE[word_code]) + rng.normal(0, 0.5)
    else:
        prosody_code = emo_class
        word_codes = [emo_class]
        valence_target = CATEGORY_VALENCE[emo_class] + rng.normal(0, 0.5)
    prosody, free_speed, free_amp = _prosody_for(rng, prosody_code, speaker)

    # Category-flavoured adjectives: present in most utterances, sometimes a distractor.
    adjectives: list[str] = []
    if emo_class in PSEUDO_CLASSES or rng.random() < 0.72:
        for code in word_codes:
            adjectives.append(str(rng.choice(CATEGORY_WORDS[code])))
    if rng.random() < 0.12:
        other = str(rng.choice([c for c in PRIMARY_CODES if c != prosody_code]))
        adjectives.append(str(rng.choice(CATEGORY_WORDS[other])))
    # Length: slower speech gets fewer phrases so that durations stay within 1.5-6 s.
    max_phrases = 3 if prosody.speed >= 150 else 2
    n_polar = int(rng.integers(1, max_phrases + 1))
    polar, mean_polarity = _polar_words(rng, valence_target, n_polar)
    adjectives = adjectives + polar
    order = rng.permutation(len(adjectives))
    adjectives = [adjectives[i] for i in order][: max_phrases + 1]
    text = _sentence(rng, adjectives)

    arousal = _arousal(free_speed, free_amp, PROFILES[prosody_code][1]) + rng.normal(0, 0.3)
    valence = 0.75 * (4.0 + 2.6 * mean_polarity) + 0.25 * valence_target + rng.normal(0, 0.3)
    dom_offset = CATEGORY_DOMINANCE[prosody_code]
    dominance = 4.0 + 0.55 * (arousal - 4.0) + dom_offset + 0.3 * (free_amp - 100.0) / 35.0 + rng.normal(0, 0.35)
    clip = lambda v: float(np.clip(round(v, 1), 1.0, 7.0))  # noqa: E731
    return Utterance(file_name=file_name, speaker=speaker, emo_class=emo_class, text=text, prosody=prosody,
                     arousal=clip(arousal), valence=clip(valence), dominance=clip(dominance))


def plan_corpus(seed: int, num_speakers: int, utts_per_speaker: int) -> list[Utterance]:
    """Draw the whole corpus (speakers, classes, words, prosody, labels) from ``seed``."""
    if utts_per_speaker < 1:
        raise ConfigError(f"--utts_per_speaker must be positive, got {utts_per_speaker}")
    rng = np.random.default_rng(seed)
    speakers = make_speakers(rng, num_speakers)
    codes = list(CLASS_SHARES)
    shares = np.array([CLASS_SHARES[c] for c in codes])
    shares = shares / shares.sum()
    utterances = []
    for index, speaker in enumerate(speakers):
        podcasts = [2 * index + 1, 2 * index + 2]
        next_segment = {p: 1 for p in podcasts}
        if speaker.split in UNLABELLED_SPLITS:  # balanced over the primary emotions, like the challenge test set
            classes = [PRIMARY_CODES[i % len(PRIMARY_CODES)] for i in range(utts_per_speaker)]
            classes = [classes[i] for i in rng.permutation(len(classes))]
        else:
            classes = [str(c) for c in rng.choice(codes, size=utts_per_speaker, p=shares)]
        for emo_class in classes:
            podcast = int(rng.choice(podcasts))
            file_name = f"MSP-PODCAST_{podcast:04d}_{next_segment[podcast]:04d}.wav"
            next_segment[podcast] += 1
            utterances.append(make_utterance(rng, file_name, speaker, emo_class))
    utterances.sort(key=lambda u: u.file_name)
    return utterances


def csv_text(utterances: list[Utterance]) -> str:
    """The ``labels_consensus.csv`` content (Unix newlines, sorted by FileName)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for u in utterances:
        split = u.speaker.split
        spkr = "Unknown" if split in UNKNOWN_SPEAKER_SPLITS else u.speaker.spkr_id
        if split in UNLABELLED_SPLITS:
            labels = ["", "", "", ""]
        else:
            labels = [u.emo_class, f"{u.arousal:.1f}", f"{u.valence:.1f}", f"{u.dominance:.1f}"]
        writer.writerow([u.file_name, *labels, spkr, u.speaker.gender, split])
    return buffer.getvalue()


def _synthesize_job(job: tuple[Utterance, Path, float, float]) -> tuple[str, float]:
    """Synthesize one utterance; drop trailing phrases while it is longer than ``max_dur``."""
    utt, audio_dir, min_dur, max_dur = job
    out = audio_dir / utt.file_name
    text = utt.text
    while True:
        duration = synthesize(text, utt.speaker.voice, utt.prosody, out, min_duration=min_dur)
        cut = max(text.rfind(", "), text.rfind(" and "))
        if duration <= max_dur or cut <= 0:
            return text, duration
        text = text[:cut].rstrip(",") + "."


def generate(out_dir: str | Path, *, seed: int = 0, num_speakers: int = DEFAULT_NUM_SPEAKERS,
             utts_per_speaker: int = DEFAULT_UTTS_PER_SPEAKER,
             nj: int = 2, min_duration: float = 1.5, max_duration: float = 6.0) -> dict:
    """Write the mini MSP-Podcast corpus to ``out_dir`` (atomically); return its statistics."""
    check_tools()
    utterances = plan_corpus(seed, num_speakers, utts_per_speaker)
    logger.info("synthesizing %d utterances of %d speakers with %d jobs", len(utterances), num_speakers, nj)
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        audio_dir = tmp / "Audios"
        audio_dir.mkdir()
        (tmp / "Labels").mkdir()
        (tmp / "Transcripts").mkdir()
        results = run_parallel(_synthesize_job,
                               [(u, audio_dir, min_duration, max_duration) for u in utterances], nj)
        for utt, (text, _) in zip(utterances, results, strict=True):
            utt.text = text
            (tmp / "Transcripts" / (Path(utt.file_name).stem + ".txt")).write_text(text + "\n", encoding="utf-8")
        (tmp / "Labels" / "labels_consensus.csv").write_text(csv_text(utterances), encoding="utf-8")
        stats = corpus_stats(utterances, [d for _, d in results])
        info = {"generator": "voxrecipes.corpora.mini_podcast", "seed": seed, "num_speakers": num_speakers,
                "utts_per_speaker": utts_per_speaker, "speakers": [asdict(s) for s in
                                                                  sorted({u.speaker.spkr_id: u.speaker
                                                                          for u in utterances}.values(),
                                                                         key=lambda s: int(s.spkr_id))],
                "stats": stats}
        (tmp / "mini_corpus.json").write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    return stats


def corpus_stats(utterances: list[Utterance], durations: list[float]) -> dict:
    """Counts per split and class, and durations, for the log and ``mini_corpus.json``."""
    per_split: dict[str, dict[str, int]] = {s: {} for s in SPLITS}
    for u in utterances:
        per_split[u.speaker.split][u.emo_class] = per_split[u.speaker.split].get(u.emo_class, 0) + 1
    return {"utterances": len(utterances),
            "per_split": {s: {"total": sum(c.values()), **dict(sorted(c.items()))} for s, c in per_split.items()},
            "speakers_per_split": {s: len({u.speaker.spkr_id for u in utterances if u.speaker.split == s})
                                   for s in SPLITS},
            "total_duration_s": round(float(sum(durations)), 2),
            "min_duration_s": round(float(min(durations)), 3) if durations else 0.0,
            "max_duration_s": round(float(max(durations)), 3) if durations else 0.0}
