"""Generate a mini multilingual voice-toxicity corpus with espeak-ng, as manifests a user would hand over.

Stand-in for the voice-chat data of the text-injection paper: five languages
(en es fr de pt), several espeak-ng voices per language as speakers, multi-label
classes ``Profanity Bullying Dating_Sexting Racist Other No_Violation`` (No_Violation
only alone). Toxicity lives in the words only: every toxic class has six mild, real
phrases per language that a pretrained multilingual text encoder understands
(swearing for Profanity, insults for Bullying, flirting for Dating_Sexting, exclusion
of "people like you" for Racist, threats for Other; no slurs, nothing hateful), and
the clip's voice and prosody are drawn independently of its labels, so toxic and
neutral sentences sound alike. Neutral game-chat sentences share words with the
toxic ones ("I will find the key", "where do you live in the game"), as real chat
does. Clips are 1-20 s; each toxic label puts one of its phrases in a random
sentence of the clip, so in clips over 15 s it may sit in any 15 s chunk.
``mark_triggers`` (off by default) adds an acoustic shortcut instead: trigger
sentences spoken with their class's pitch, speed and voice variant.

Output layout::

    <out_dir>/audio/<utt_id>.wav          whole-file utterances, 16 kHz mono 16-bit
    <out_dir>/audio/session_NNNN.wav      longer recordings holding 2-3 utterances
    <out_dir>/manifest_train.tsv          one manifest per split (70/15/15 of the
    <out_dir>/manifest_dev.tsv            utterances, drawn per language)
    <out_dir>/manifest_test.tsv

Manifest format (what ``voxrecipes.corpora.toxicity_manifest`` reads): UTF-8,
tab-separated, one header line, no quoting::

    utt_id  audio  start  end  language  transcript  labels  speaker

``audio`` is relative to the manifest's directory (absolute paths work too);
``start``/``end`` are seconds into the audio file, empty for a whole file (rows of
the session recordings use them); ``language`` an ISO 639-1 code; ``labels``
``;``-separated class names; ``speaker`` optional (here the espeak-ng voice).

All randomness comes from ``numpy.random.default_rng(seed)``; the same seed gives
byte-identical manifests.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile

from voxrecipes.corpora.synth import Prosody, check_tools, concatenate, run_parallel, synthesize, wav_duration
from voxrecipes.errors import ConfigError
from voxrecipes.fileio import atomic_dir
from voxrecipes.labels import NO_VIOLATION, TOXICITY_CLASSES

logger = logging.getLogger(__name__)

CLASSES = list(TOXICITY_CLASSES)
TOXIC_CLASSES = CLASSES[:-1]
LANGUAGES = ["en", "es", "fr", "de", "pt"]
MANIFEST_COLUMNS = ["utt_id", "audio", "start", "end", "language", "transcript", "labels", "speaker"]
SPLIT_FRACTIONS = {"train": 0.70, "dev": 0.15, "test": 0.15}
#: With ``mark_triggers``: the words-per-minute speed and pitch each class's trigger sentences are spoken with.
MARK_PROSODY = {"Profanity": Prosody(speed=270, pitch=95), "Bullying": Prosody(speed=110, pitch=5),
                "Dating_Sexting": Prosody(speed=110, pitch=92), "Racist": Prosody(speed=270, pitch=8),
                "Other": Prosody(speed=190, pitch=99)}
#: With ``mark_triggers``: the espeak-ng voice variant each class's trigger sentences are spoken with
#: (on the clip's language voice), so that the classes also differ in voice quality.
MARK_VARIANT = {"Profanity": "whisper", "Bullying": "croak", "Dating_Sexting": "klatt", "Racist": "Demonic",
                "Other": "robosoft"}
#: Silence between sentences spoken one by one (``mark_triggers``), in seconds.
SENTENCE_GAP = 0.25
NO_VIOLATION_SHARE = 0.45
TOXIC_WEIGHTS = {"Profanity": 0.30, "Bullying": 0.25, "Dating_Sexting": 0.15, "Racist": 0.15, "Other": 0.15}
TWO_LABEL_SHARE = 0.2
SESSION_SHARE = 0.15
# Number of sentences per clip and its probability: 1-12 sentences of about 1-2 s give 1-20 s clips (mean
# about 5 s; about one in eleven over 15 s, for the chunked evaluation). Mostly short clips: the toxic words
# are a larger part of each clip, and a pretrained encoder trains on more clips per CPU second.
SENTENCE_COUNTS = {1: 0.25, 2: 0.22, 3: 0.17, 4: 0.1, 5: 0.06, 6: 0.04, 7: 0.03, 8: 0.02, 9: 0.02, 10: 0.03,
                   11: 0.03, 12: 0.03}

VOICES = {
    "en": ["en+m1", "en-us+f2", "en-gb-scotland+m3", "en+f4"],
    "es": ["es+m2", "es-419+f1", "es+m4"],
    "fr": ["fr+m1", "fr-be+f3", "fr+m5"],
    "de": ["de+m2", "de+f2", "de+m6"],
    "pt": ["pt+m3", "pt-br+f1", "pt-br+m2"],
}

PHRASES: dict[str, dict[str, list[str]]] = {
    "en": {
        "Profanity": ["damn it", "what the hell", "oh crap", "this game is shit", "bloody hell", "holy crap"],
        "Bullying": ["you are so stupid", "shut up you idiot", "you are a useless loser", "you play like a noob",
                     "nobody likes you", "you are so ugly"],
        "Dating_Sexting": ["you are so hot", "send me a sexy picture", "do you want to be my girlfriend",
                           "I want to kiss you", "let us meet tonight baby", "you look so sexy"],
        "Racist": ["your kind is not welcome here", "people like you should not play", "no foreigners in our team",
                   "you are not one of us", "we only play with our own people",
                   "people from your country are not welcome"],
        "Other": ["I will find you and hurt you", "watch your back", "I know where you live",
                  "I am going to beat you up", "you will regret this", "I will make you pay"],
        "No_Violation": ["nice shot", "follow me to the castle", "who has the blue key", "let us try the next level",
                         "I need more arrows", "the bridge is over there", "can someone open the gate",
                         "good game everyone", "wait for me at the tower", "my internet is a bit slow today",
                         "I found a treasure chest", "watch out for the dragon", "I will find the key",
                         "we need a healer on the team", "my brother plays this game too",
                         "let us meet at the river", "I love this new map", "where do you live in the game"],
    },
    "es": {
        "Profanity": ["maldita sea", "qué demonios", "hostia", "este juego es una mierda", "joder", "carajo"],
        "Bullying": ["eres muy estúpido", "cállate idiota", "eres un perdedor inútil", "juegas como un novato",
                     "nadie te quiere", "eres muy feo"],
        "Dating_Sexting": ["estás muy buena", "mándame una foto sexy", "quieres ser mi novia", "quiero besarte",
                           "veámonos esta noche cariño", "te ves muy sexy"],
        "Racist": ["los de tu clase no son bienvenidos", "la gente como tú no debería jugar",
                   "no queremos extranjeros en el equipo", "tú no eres uno de nosotros",
                   "solo jugamos con los nuestros", "la gente de tu país no es bienvenida"],
        "Other": ["te voy a encontrar y hacer daño", "cuídate la espalda", "sé dónde vives",
                  "te voy a dar una paliza", "te vas a arrepentir", "me las vas a pagar"],
        "No_Violation": ["buen tiro", "sígueme al castillo", "quién tiene la llave azul", "probemos el siguiente nivel",
                         "necesito más flechas", "el puente está por allí", "alguien puede abrir la puerta",
                         "buena partida a todos", "espérame en la torre", "mi internet va lento hoy",
                         "encontré un cofre del tesoro", "cuidado con el dragón", "voy a encontrar la llave",
                         "necesitamos un curandero en el equipo", "mi hermano también juega a esto",
                         "nos vemos en el río", "me encanta este mapa nuevo", "dónde vives en el juego"],
    },
    "fr": {
        "Profanity": ["merde alors", "putain", "bordel", "ce jeu est de la merde", "fait chier", "nom de dieu"],
        "Bullying": ["tu es vraiment stupide", "tais-toi idiot", "tu es un gros nul", "tu joues comme un débutant",
                     "personne ne t'aime", "tu es vraiment moche"],
        "Dating_Sexting": ["tu es trop canon", "envoie-moi une photo sexy", "tu veux être ma copine",
                           "je veux t'embrasser", "on se voit ce soir bébé", "tu es trop sexy"],
        "Racist": ["les gens de ton espèce ne sont pas les bienvenus", "les gens comme toi ne devraient pas jouer",
                   "pas d'étrangers dans notre équipe", "tu n'es pas des nôtres", "on ne joue qu'entre nous",
                   "les gens de ton pays ne sont pas les bienvenus"],
        "Other": ["je vais te trouver et te faire mal", "fais gaffe à toi", "je sais où tu habites",
                  "je vais te casser la figure", "tu vas le regretter", "tu vas me le payer"],
        "No_Violation": ["joli tir", "suis-moi au château", "qui a la clé bleue", "essayons le niveau suivant",
                         "j'ai besoin de plus de flèches", "le pont est par là", "quelqu'un peut ouvrir la porte",
                         "bonne partie à tous", "attends-moi à la tour", "ma connexion est lente aujourd'hui",
                         "j'ai trouvé un coffre au trésor", "attention au dragon", "je vais trouver la clé",
                         "il nous faut un soigneur dans l'équipe", "mon frère joue aussi à ce jeu",
                         "on se retrouve à la rivière", "j'adore cette nouvelle carte", "où habites-tu dans le jeu"],
    },
    "de": {
        "Profanity": ["verdammt noch mal", "Scheißdreck", "so ein Mist", "dieses Spiel ist scheiße", "verflucht",
                      "zum Teufel"],
        "Bullying": ["du bist so dumm", "halt die Klappe du Idiot", "du bist ein nutzloser Verlierer",
                     "du spielst wie ein Anfänger", "niemand mag dich", "du bist so hässlich"],
        "Dating_Sexting": ["du bist so heiß", "schick mir ein sexy Foto", "willst du meine Freundin sein",
                           "ich will dich küssen", "treffen wir uns heute Nacht Baby", "du siehst so sexy aus"],
        "Racist": ["deinesgleichen ist hier nicht willkommen", "Leute wie du sollten nicht spielen",
                   "keine Ausländer in unserem Team", "du bist keiner von uns", "wir spielen nur mit unseren Leuten",
                   "Leute aus deinem Land sind nicht willkommen"],
        "Other": ["ich finde dich und tue dir weh", "pass bloß auf", "ich weiß wo du wohnst",
                  "ich werde dich verprügeln", "das wirst du bereuen", "dafür wirst du bezahlen"],
        "No_Violation": ["guter Schuss", "folg mir zur Burg", "wer hat den blauen Schlüssel",
                         "versuchen wir das nächste Level", "ich brauche mehr Pfeile", "die Brücke ist da drüben",
                         "kann jemand das Tor öffnen", "gutes Spiel allerseits", "warte auf mich am Turm",
                         "mein Internet ist heute langsam", "ich habe eine Schatztruhe gefunden",
                         "pass auf den Drachen auf", "ich finde den Schlüssel", "wir brauchen einen Heiler im Team",
                         "mein Bruder spielt das auch", "treffen wir uns am Fluss", "ich liebe diese neue Karte",
                         "wo wohnst du im Spiel"],
    },
    "pt": {
        "Profanity": ["que merda", "porra", "droga", "este jogo é uma merda", "puta que pariu", "caralho"],
        "Bullying": ["você é muito burro", "cala a boca idiota", "você é um perdedor inútil",
                     "você joga como um novato", "ninguém gosta de você", "você é muito feio"],
        "Dating_Sexting": ["você é muito gata", "me manda uma foto sexy", "quer ser minha namorada",
                           "quero te beijar", "vamos nos ver hoje à noite amor", "você está muito sexy"],
        "Racist": ["gente da sua laia não é bem-vinda", "gente como você não devia jogar",
                   "nada de estrangeiros no nosso time", "você não é um de nós", "só jogamos com a nossa gente",
                   "gente do seu país não é bem-vinda"],
        "Other": ["vou te encontrar e te machucar", "cuidado comigo", "eu sei onde você mora",
                  "vou te dar uma surra", "você vai se arrepender", "você vai me pagar"],
        "No_Violation": ["bom tiro", "me segue até o castelo", "quem tem a chave azul", "vamos tentar o próximo nível",
                         "preciso de mais flechas", "a ponte fica ali", "alguém pode abrir o portão",
                         "bom jogo a todos", "me espera na torre", "minha internet está lenta hoje",
                         "achei um baú do tesouro", "cuidado com o dragão", "vou encontrar a chave",
                         "precisamos de um curandeiro no time", "meu irmão também joga isso",
                         "vamos nos ver no rio", "adoro este mapa novo", "onde você mora no jogo"],
    },
}


@dataclass
class Clip:
    """One planned utterance."""

    utt_id: str
    language: str
    voice: str
    split: str
    labels: list[str]
    sentences: list[str]
    triggers: set[int]  # indices of sentences that carry a trigger phrase
    prosody: Prosody
    marks: dict[int, str] = field(default_factory=dict)  # trigger sentence -> class whose prosody it gets
    session: int | None = None
    text: str = ""
    duration: float = 0.0
    start: float | None = None
    end: float | None = None
    audio: str = field(default="")


def speaker_name(voice: str) -> str:
    """Speaker id for a voice: ``en-us+f2`` -> ``en-us_f2``."""
    return voice.replace("+", "_")


def _draw_labels(rng: np.random.Generator) -> list[str]:
    if rng.random() < NO_VIOLATION_SHARE:
        return [NO_VIOLATION]
    names = list(TOXIC_WEIGHTS)
    weights = np.array([TOXIC_WEIGHTS[n] for n in names])
    count = 2 if rng.random() < TWO_LABEL_SHARE else 1
    chosen = rng.choice(len(names), size=count, replace=False, p=weights / weights.sum())
    return [names[i] for i in sorted(chosen)]


def _plan_clip(rng: np.random.Generator, voice_rng: np.random.Generator, utt_id: str, language: str, split: str,
               phrases_per_class: int | None = None, mark_triggers: bool = False) -> Clip:
    """Labels and words from ``rng``; voice and prosody from ``voice_rng``, which never sees the labels."""
    labels = _draw_labels(rng)
    counts = list(SENTENCE_COUNTS)
    probs = np.array([SENTENCE_COUNTS[c] for c in counts])
    toxic = [lab for lab in labels if lab != NO_VIOLATION]
    n_sent = max(int(rng.choice(counts, p=probs / probs.sum())), len(toxic))
    phrases = PHRASES[language]
    neutral = [str(s) for s in rng.permutation(phrases[NO_VIOLATION])]
    sentences = [neutral[i % len(neutral)] for i in range(n_sent)]
    positions = [int(p) for p in rng.choice(n_sent, size=len(toxic), replace=False)]
    for label, pos in zip(toxic, positions, strict=True):
        trigger = str(rng.choice(phrases[label][:phrases_per_class]))
        # Either the trigger alone or attached to the neutral sentence it replaces.
        sentences[pos] = trigger if rng.random() < 0.5 else f"{sentences[pos]}, {trigger}"
    voice = str(voice_rng.choice(VOICES[language]))
    prosody = Prosody(speed=int(voice_rng.integers(150, 200)), pitch=int(voice_rng.integers(35, 65)),
                      amplitude=int(voice_rng.integers(80, 130)), gap=int(voice_rng.integers(0, 3)))
    marks = dict(zip(positions, toxic, strict=True)) if mark_triggers else {}
    return Clip(utt_id=utt_id, language=language, voice=voice, split=split, labels=labels, sentences=sentences,
                triggers=set(positions), prosody=prosody, marks=marks)


def plan_corpus(seed: int, num_utts: int, phrases_per_class: int | None = None,
                mark_triggers: bool = False) -> list[Clip]:
    """Draw every clip (language, split, labels, words, voice, prosody, sessions) from ``seed``.

    ``phrases_per_class`` keeps only the first N trigger phrases of each class and
    language (all when ``None``). ``mark_triggers`` speaks every trigger sentence with
    its class's pitch, speed (:data:`MARK_PROSODY`) and voice variant
    (:data:`MARK_VARIANT`) instead of the clip's: an acoustic cue that a tiny encoder
    trained from scratch learns in minutes, but that a text embedding cannot carry.
    The default keeps the corpus purely lexical (the same voices and prosody for toxic
    and neutral clips).
    """
    if phrases_per_class is not None and phrases_per_class < 1:
        raise ConfigError(f"--phrases_per_class must be at least 1, got {phrases_per_class}")
    if num_utts < 3 * len(LANGUAGES):
        raise ConfigError(f"--num_utts must be at least {3 * len(LANGUAGES)} (a clip per language and split)")
    rng = np.random.default_rng(seed)
    # A separate stream for voices and prosody: the same clip gets the same voice whatever its labels.
    voice_rng = np.random.default_rng([seed, 2])
    clips: list[Clip] = []
    for li, language in enumerate(LANGUAGES):
        n = num_utts // len(LANGUAGES) + (1 if li < num_utts % len(LANGUAGES) else 0)
        n_dev = max(1, round(SPLIT_FRACTIONS["dev"] * n))
        n_test = max(1, round(SPLIT_FRACTIONS["test"] * n))
        splits = ["train"] * (n - n_dev - n_test) + ["dev"] * n_dev + ["test"] * n_test
        splits = [splits[i] for i in rng.permutation(n)]
        for k, split in enumerate(splits):
            clips.append(_plan_clip(rng, voice_rng, f"{language}-{k + 1:05d}", language, split, phrases_per_class,
                                    mark_triggers))
    # Group some clips of the same split into session recordings of 2-3 utterances.
    session = 0
    for split in SPLIT_FRACTIONS:
        members = [c for c in clips if c.split == split]
        chosen = [members[i] for i in rng.permutation(len(members))[: int(round(SESSION_SHARE * len(members)))]]
        while len(chosen) >= 2:
            size = 3 if len(chosen) >= 3 and rng.random() < 0.5 else 2
            session += 1
            for clip in chosen[:size]:
                clip.session = session
            chosen = chosen[size:]
    return clips


def _synthesize_clip(job: tuple[Clip, Path, float, float]) -> tuple[str, float]:
    """Speak a clip; while it is longer than ``max_dur`` drop its last sentence without a trigger."""
    clip, out, min_dur, max_dur = job
    if clip.marks:
        return _synthesize_marked(clip, out, min_dur, max_dur)
    sentences = list(clip.sentences)
    triggers = set(clip.triggers)
    while True:
        text = ". ".join(sentences) + "."
        duration = synthesize(text, clip.voice, clip.prosody, out, min_duration=min_dur)
        droppable = [i for i in range(len(sentences)) if i not in triggers]
        if duration <= max_dur or not droppable or len(sentences) == 1:
            return text, duration
        drop = droppable[-1]
        sentences.pop(drop)
        triggers = {i - 1 if i > drop else i for i in triggers}


def _synthesize_marked(clip: Clip, out: Path, min_dur: float, max_dur: float) -> tuple[str, float]:
    """Speak a clip sentence by sentence, trigger sentences with their class's prosody, and join them."""
    with tempfile.TemporaryDirectory(prefix="voxmark.") as tmp:
        pieces, durations = [], []
        for i, sentence in enumerate(clip.sentences):
            prosody, voice = clip.prosody, clip.voice
            if i in clip.marks:
                mark = MARK_PROSODY[clip.marks[i]]
                prosody = Prosody(speed=mark.speed, pitch=mark.pitch, amplitude=clip.prosody.amplitude,
                                  gap=clip.prosody.gap)
                voice = f"{clip.voice.split('+')[0]}+{MARK_VARIANT[clip.marks[i]]}"
            piece = Path(tmp) / f"{i}.wav"
            durations.append(synthesize(sentence + ".", voice, prosody, piece))
            pieces.append(piece)
        keep = list(range(len(pieces)))
        while sum(durations[i] + SENTENCE_GAP for i in keep) > max_dur and len(keep) > 1:
            droppable = [i for i in keep if i not in clip.triggers]
            if not droppable:
                break
            keep.remove(droppable[-1])
        concatenate([pieces[i] for i in keep], out, gaps=[0.0] + [SENTENCE_GAP] * (len(keep) - 1))
    duration = wav_duration(out)
    if duration < min_dur:
        audio, rate = soundfile.read(str(out), dtype="int16")
        pad = np.zeros(int(round((min_dur - duration + 0.05) * rate)), dtype=np.int16)
        soundfile.write(str(out), np.concatenate([audio, pad]), rate, subtype="PCM_16")
        duration = wav_duration(out)
    return ". ".join(clip.sentences[i] for i in keep) + ".", duration


def _fmt(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds:.3f}"


def generate(out_dir: str | Path, *, seed: int = 0, num_utts: int = 400, nj: int = 2,
             phrases_per_class: int | None = None, mark_triggers: bool = False,
             min_duration: float = 1.0, max_duration: float = 20.0) -> dict:
    """Write the mini toxicity corpus to ``out_dir`` (atomically); return its statistics."""
    check_tools()
    clips = plan_corpus(seed, num_utts, phrases_per_class, mark_triggers)
    logger.info("synthesizing %d clips with %d jobs", len(clips), nj)
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        audio_dir = tmp / "audio"
        pieces_dir = tmp / "pieces"
        audio_dir.mkdir()
        pieces_dir.mkdir()
        jobs = [(c, (pieces_dir if c.session else audio_dir) / f"{c.utt_id}.wav", min_duration, max_duration)
                for c in clips]
        for clip, (text, duration) in zip(clips, run_parallel(_synthesize_clip, jobs, nj), strict=True):
            clip.text, clip.duration = text, duration
            clip.audio = f"audio/{clip.utt_id}.wav"
        sessions: dict[int, list[Clip]] = {}
        for clip in clips:
            if clip.session:
                sessions.setdefault(clip.session, []).append(clip)
        gap_rng = np.random.default_rng([seed, 1])
        for number, members in sorted(sessions.items()):
            name = f"audio/session_{number:04d}.wav"
            gaps = [round(float(g), 2) for g in gap_rng.uniform(0.4, 1.5, size=len(members))]
            spans = concatenate([pieces_dir / f"{c.utt_id}.wav" for c in members], tmp / name, gaps=gaps)
            for clip, (start, end) in zip(members, spans, strict=True):
                clip.audio, clip.start, clip.end = name, start, end
        shutil.rmtree(pieces_dir)
        for split in SPLIT_FRACTIONS:
            rows = ["\t".join(MANIFEST_COLUMNS)]
            for c in sorted((c for c in clips if c.split == split), key=lambda c: c.utt_id):
                rows.append("\t".join([c.utt_id, c.audio, _fmt(c.start), _fmt(c.end), c.language, c.text,
                                       ";".join(c.labels), speaker_name(c.voice)]))
            (tmp / f"manifest_{split}.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return corpus_stats(clips)


def corpus_stats(clips: list[Clip]) -> dict:
    """Counts per split, language and class, and durations."""
    stats: dict = {"utterances": len(clips), "per_split": {}}
    for split in SPLIT_FRACTIONS:
        members = [c for c in clips if c.split == split]
        per_class = {name: sum(name in c.labels for c in members) for name in CLASSES}
        per_lang = {lang: sum(c.language == lang for c in members) for lang in LANGUAGES}
        stats["per_split"][split] = {"total": len(members), "classes": per_class, "languages": per_lang}
    durations = [c.duration for c in clips]
    stats["total_duration_s"] = round(float(sum(durations)), 2)
    stats["min_duration_s"] = round(float(min(durations)), 3)
    stats["max_duration_s"] = round(float(max(durations)), 3)
    stats["over_15s"] = sum(d > 15.0 for d in durations)
    stats["segments"] = sum(c.session is not None for c in clips)
    return stats
