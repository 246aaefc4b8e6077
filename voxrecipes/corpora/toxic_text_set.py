"""A small text-only labelled toxicity set in five languages, for training the text labeller.

The toxicity paper labels its training audio with a text toxicity classifier
(DistilBERT) trained on text, not on the speech corpus. The mini pipeline does the same:
its labeller learns from the sentences here, which are written apart from the phrases
the generated sessions speak (:data:`voxrecipes.corpora.mini_toxicity.PHRASES`), so that
the labeller meets new wording, ASR errors and sentence cuts on the sessions and its
mistakes are real. Some words are shared with the sessions, as real swearing and insults
repeat across sources; most sentences are not.

Classes are those of :data:`voxrecipes.corpora.toxicity_manifest.CLASSES`; the
content is mild (swearing, insults, flirting, exclusion, threats; no slurs).

:func:`make_examples` composes labelled examples: a neutral chat sentence, and for
toxic examples one or two toxic phrases of different classes, in random order;
``No_Violation`` examples are one or two neutral sentences. Output of
:func:`write_text_set`: Kaldi ``text`` and ``utt2labels`` (space-separated classes) for
each split, ``<out_dir>/<split>/``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from voxrecipes.errors import ConfigError
from voxrecipes.labels import NO_VIOLATION, TOXIC_CLASSES

TOXIC = TOXIC_CLASSES

TEXTS: dict[str, dict[str, list[str]]] = {
    "en": {
        "Profanity": ["shit I missed again", "damn this lag", "what the fuck was that", "crap crap crap",
                      "hell no", "this map sucks ass"],
        "Bullying": ["you are the worst player ever", "go away loser", "you idiot you ruined it",
                     "uninstall the game noob", "you are pathetic", "stupid kid"],
        "Dating_Sexting": ["hey sexy what are you wearing", "you have a hot voice", "be my girlfriend please",
                           "give me a kiss", "send me a picture of you baby", "I want to date you"],
        "Racist": ["go back to your own country", "foreigners should not be on our server",
                   "your people are not allowed here", "we do not want your kind", "people like you ruin everything",
                   "this team is only for our own people"],
        "Other": ["I will hurt you", "you better watch out", "I will find where you live", "I will break your legs",
                  "you are dead to me and soon for real", "I am going to make you suffer"],
        NO_VIOLATION: ["anyone want to trade", "I am going to the shop", "nice move", "we should go left",
                       "my mic is too loud", "let us regroup", "I have two potions", "the boss is on the roof",
                       "can you heal me", "that was a great round", "follow the road", "where is the exit"],
    },
    "es": {
        "Profanity": ["mierda fallé otra vez", "maldito lag", "qué coño fue eso", "joder otra vez",
                      "esto es una puta mierda", "me cago en todo"],
        "Bullying": ["eres el peor jugador", "vete perdedor", "idiota lo arruinaste", "desinstala el juego novato",
                     "eres patético", "niño estúpido"],
        "Dating_Sexting": ["hola sexy qué llevas puesto", "tienes una voz muy sexy", "sé mi novia por favor",
                           "dame un beso", "mándame una foto tuya cariño", "quiero salir contigo"],
        "Racist": ["vuelve a tu país", "los extranjeros no deberían estar en nuestro servidor",
                   "tu gente no puede estar aquí", "no queremos a los de tu clase", "la gente como tú lo arruina todo",
                   "este equipo es solo para los nuestros"],
        "Other": ["te voy a hacer daño", "ten cuidado conmigo", "voy a averiguar dónde vives",
                  "te voy a romper las piernas", "te vas a enterar", "te voy a hacer sufrir"],
        NO_VIOLATION: ["alguien quiere cambiar", "voy a la tienda", "buen movimiento", "deberíamos ir a la izquierda",
                       "mi micrófono suena fuerte", "vamos a reagruparnos", "tengo dos pociones",
                       "el jefe está en el tejado", "puedes curarme", "qué buena ronda", "sigue el camino",
                       "dónde está la salida"],
    },
    "fr": {
        "Profanity": ["merde encore raté", "putain de lag", "c'était quoi ce bordel", "fais chier encore",
                      "c'est de la merde", "bordel de merde"],
        "Bullying": ["tu es le pire joueur", "dégage le nul", "idiot tu as tout gâché", "désinstalle le jeu débutant",
                     "tu es pathétique", "gamin stupide"],
        "Dating_Sexting": ["salut sexy tu portes quoi", "tu as une voix sexy", "sois ma copine s'il te plaît",
                           "fais-moi un bisou", "envoie-moi une photo de toi bébé", "je veux sortir avec toi"],
        "Racist": ["retourne dans ton pays", "les étrangers n'ont rien à faire sur notre serveur",
                   "les gens comme toi ne sont pas admis ici", "on ne veut pas de ton espèce",
                   "les gens comme toi gâchent tout", "cette équipe est seulement pour les nôtres"],
        "Other": ["je vais te faire mal", "fais attention à toi", "je vais trouver où tu habites",
                  "je vais te casser les jambes", "tu vas voir ce qui t'attend", "je vais te faire souffrir"],
        NO_VIOLATION: ["quelqu'un veut échanger", "je vais au magasin", "beau mouvement", "on devrait aller à gauche",
                       "mon micro est trop fort", "on se regroupe", "j'ai deux potions", "le boss est sur le toit",
                       "tu peux me soigner", "super manche", "suis la route", "où est la sortie"],
    },
    "de": {
        "Profanity": ["Scheiße wieder verfehlt", "verdammter Lag", "was zum Teufel war das", "Mist Mist Mist",
                      "das ist echt beschissen", "verdammte Scheiße"],
        "Bullying": ["du bist der schlechteste Spieler", "hau ab du Verlierer", "du Idiot hast alles ruiniert",
                     "deinstallier das Spiel Anfänger", "du bist erbärmlich", "dummes Kind"],
        "Dating_Sexting": ["hey sexy was hast du an", "du hast eine heiße Stimme", "sei bitte meine Freundin",
                           "gib mir einen Kuss", "schick mir ein Bild von dir Baby", "ich will mit dir ausgehen"],
        "Racist": ["geh zurück in dein Land", "Ausländer haben auf unserem Server nichts zu suchen",
                   "deine Leute sind hier nicht erlaubt", "wir wollen deinesgleichen nicht",
                   "Leute wie du machen alles kaputt", "dieses Team ist nur für unsere Leute"],
        "Other": ["ich werde dir wehtun", "pass lieber auf", "ich finde heraus wo du wohnst",
                  "ich breche dir die Beine", "du wirst schon sehen", "ich werde dich leiden lassen"],
        NO_VIOLATION: ["will jemand tauschen", "ich gehe zum Laden", "guter Zug", "wir sollten nach links gehen",
                       "mein Mikro ist zu laut", "lasst uns sammeln", "ich habe zwei Tränke",
                       "der Boss ist auf dem Dach",
                       "kannst du mich heilen", "das war eine tolle Runde", "folge der Straße", "wo ist der Ausgang"],
    },
    "pt": {
        "Profanity": ["merda errei de novo", "maldito lag", "que porra foi essa", "droga droga droga",
                      "isso é uma bosta", "puta merda"],
        "Bullying": ["você é o pior jogador", "vai embora perdedor", "idiota você estragou tudo",
                     "desinstala o jogo novato", "você é patético", "criança burra"],
        "Dating_Sexting": ["oi gata o que você está vestindo", "sua voz é muito sexy", "seja minha namorada por favor",
                           "me dá um beijo", "me manda uma foto sua amor", "quero sair com você"],
        "Racist": ["volta para o seu país", "estrangeiros não deviam estar no nosso servidor",
                   "sua gente não pode ficar aqui", "não queremos gente da sua laia", "gente como você estraga tudo",
                   "este time é só para a nossa gente"],
        "Other": ["vou te machucar", "é melhor você tomar cuidado", "vou descobrir onde você mora",
                  "vou quebrar suas pernas", "você vai ver só", "vou te fazer sofrer"],
        NO_VIOLATION: ["alguém quer trocar", "vou para a loja", "boa jogada", "devíamos ir pela esquerda",
                       "meu microfone está alto", "vamos nos reagrupar", "tenho duas poções", "o chefe está no telhado",
                       "pode me curar", "que rodada boa", "siga a estrada", "onde fica a saída"],
    },
}
LANGUAGES = tuple(TEXTS)


def make_examples(num: int, seed: int, *, no_violation_share: float = 0.5,
                  two_label_share: float = 0.15) -> list[tuple[str, str, list[str]]]:
    """``num`` examples ``(language, text, labels)`` drawn from ``seed`` (languages in turn)."""
    if num < 1:
        raise ConfigError(f"the number of examples must be >= 1, got {num}")
    rng = np.random.default_rng(seed)
    out = []
    for i in range(num):
        language = LANGUAGES[i % len(LANGUAGES)]
        texts = TEXTS[language]
        neutral = [str(s) for s in rng.choice(texts[NO_VIOLATION], size=2, replace=False)]
        if rng.random() < no_violation_share:
            parts, labels = neutral[:int(rng.integers(1, 3))], [NO_VIOLATION]
        else:
            count = 2 if rng.random() < two_label_share else 1
            labels = sorted((str(c) for c in rng.choice(TOXIC, size=count, replace=False)), key=TOXIC.index)
            parts = [str(rng.choice(texts[c])) for c in labels]
            if rng.random() < 0.5:
                parts.append(neutral[0])
            parts = [parts[k] for k in rng.permutation(len(parts))]
        out.append((language, " ".join(parts), labels))
    return out


def write_text_set(out_dir: str | Path, splits: dict[str, int], seed: int) -> dict[str, int]:
    """Write ``<out_dir>/<split>/{text,utt2labels,utt2lang}`` (Kaldi tables, sorted); return the counts."""
    from voxrecipes.data.table import write_table
    from voxrecipes.fileio import atomic_dir

    counts = {}
    with atomic_dir(out_dir) as tmp:
        for k, (split, num) in enumerate(splits.items()):
            examples = make_examples(num, seed + 1000 * k)
            ids = [f"{split}-{lang}-{i:05d}" for i, (lang, _, _) in enumerate(examples)]
            (tmp / split).mkdir()
            write_table(tmp / split / "text", sorted(zip(ids, (t for _, t, _ in examples), strict=True)))
            write_table(tmp / split / "utt2labels", sorted(zip(ids, (" ".join(x) for _, _, x in examples),
                                                               strict=True)))
            write_table(tmp / split / "utt2lang", sorted(zip(ids, (lang for lang, _, _ in examples), strict=True)))
            counts[split] = num
    return counts
