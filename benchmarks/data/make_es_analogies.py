#!/usr/bin/env python
"""Write benchmarks/data/es_analogies_quijote.txt: Spanish analogy questions over the novel's vocabulary.

    python benchmarks/data/make_es_analogies.py --overwrite     # rewrites the file (deterministic)

The file is in the format of word2vec's questions-words.txt, read by gensim's and minirnn's
``evaluate_word_analogies``: ``: section`` lines, then questions ``a b c d`` (a : b :: c : d).
Each section is a list of word pairs that share one grammatical relation (gender, number, a verb
tense or form), written down from Spanish grammar alone, before any word vectors were looked at.
Pairs with a word seen fewer than ``--min-count`` times in the corpus (minirnn's tokenizer: lower
case, accents kept) are dropped, so every question is answerable by a model trained with that
min_count; a pair's words occur nowhere else in the same section (a shared word would make some
answers equal to an input word, which the evaluation never returns). Every ordered combination of
two different pairs of a section is one question, as in questions-words.txt.
"""
import argparse
import itertools
import os
import sys
from collections import Counter

from minirnn.checkpoint import atomic_write
from minirnn.errors import require, run_cli
from minirnn.textio import check_output_file, default_corpus, refuse_existing
from minirnn.tokenize import iter_tokens

HERE = os.path.dirname(os.path.abspath(__file__))

SECTIONS = {
    "gender-nouns": "señor:señora hijo:hija rey:reina hermano:hermana padre:madre amigo:amiga mozo:moza "
                    "niño:niña duque:duquesa hombre:mujer amo:ama criado:criada pastor:pastora "
                    "labrador:labradora príncipe:princesa conde:condesa sobrino:sobrina tío:tía",
    "gender-adjectives": "bueno:buena malo:mala hermoso:hermosa famoso:famosa nuevo:nueva viejo:vieja "
                         "discreto:discreta honrado:honrada rico:rica loco:loca",
    "gender-pronouns-determiners": "él:ella ellos:ellas este:esta estos:estas ese:esa aquel:aquella",
    "plural-nouns": "caballero:caballeros escudero:escuderos doncella:doncellas rey:reyes padre:padres "
                    "amigo:amigos hombre:hombres criado:criados pastor:pastores caballo:caballos "
                    "libro:libros ojo:ojos mano:manos brazo:brazos casa:casas camino:caminos "
                    "palabra:palabras cosa:cosas noche:noches año:años",
    "plural-adjectives": "bueno:buenos buena:buenas malo:malos mala:malas grande:grandes hermosa:hermosas "
                         "valiente:valientes pobre:pobres andante:andantes loco:locos famoso:famosos",
    "present-preterite": "dice:dijo hace:hizo tiene:tuvo está:estuvo da:dio viene:vino sabe:supo "
                         "puede:pudo quiere:quiso pone:puso ve:vio mira:miró llega:llegó habla:habló "
                         "piensa:pensó lleva:llevó deja:dejó pasa:pasó responde:respondió",
    "first-third-person": "digo:dice hago:hace voy:va tengo:tiene estoy:está doy:da vengo:viene sé:sabe "
                          "puedo:puede quiero:quiere veo:ve",
    "infinitive-gerund": "decir:diciendo hacer:haciendo ir:yendo tener:teniendo estar:estando dar:dando "
                         "venir:viniendo saber:sabiendo poder:pudiendo ver:viendo ser:siendo mirar:mirando "
                         "llegar:llegando hablar:hablando pensar:pensando llevar:llevando dejar:dejando",
    "infinitive-imperfect": "decir:decía hacer:hacía tener:tenía estar:estaba dar:daba venir:venía "
                            "saber:sabía poder:podía querer:quería ver:veía ir:iba ser:era",
}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", default=default_corpus(), help="corpus whose vocabulary the pairs must be in")
    p.add_argument("--min-count", type=int, default=5, help="drop pairs with a word seen fewer times")
    p.add_argument("--out", default=os.path.join(HERE, "es_analogies_quijote.txt"))
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    args = p.parse_args(argv)
    require(args.min_count >= 1, f"--min-count must be >= 1, got {args.min_count}")
    check_output_file(args.out, "--out", {"--corpus": args.corpus})
    refuse_existing([args.out], "--out", args.overwrite)
    counts = Counter(iter_tokens(args.corpus))
    lines, total = [], 0
    for name, spec in SECTIONS.items():
        pairs = [tuple(p.split(":")) for p in spec.split()]
        words = [w for p in pairs for w in p]
        assert len(words) == len(set(words)), f"{name}: a word appears in two pairs"
        kept = [p for p in pairs if min(counts[p[0]], counts[p[1]]) >= args.min_count]
        dropped = [":".join(p) for p in pairs if p not in kept]
        lines.append(f": {name}")
        for (a, b), (c, d) in itertools.permutations(kept, 2):
            lines.append(f"{a} {b} {c} {d}")
        total += len(kept) * (len(kept) - 1)
        print(f"{name}: {len(kept)} pairs, {len(kept) * (len(kept) - 1)} questions"
              + (f"; dropped (count < {args.min_count}): {' '.join(dropped)}" if dropped else ""), file=sys.stderr)
    atomic_write(args.out, lambda f: f.write(("\n".join(lines) + "\n").encode("utf-8")))
    print(f"wrote {total} questions to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
