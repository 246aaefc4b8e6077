"""Write the emotion recipe's RESULTS.md in the layout of the paper's tables: environment header;
Table 3 layout (categorical systems x evaluation sets, macro-F1 [95% CI], '-' where a system was not
evaluated), per-class F1 per set and confusion-matrix links; the prior-correction lines (macro-F1
without and with the balanced prior on --prior_set, and whether the prior raised it); Table 2 layout
(attribute systems, Valence / Arousal / Dominance / Average CCC per set) with a CCC [95% CI] table and
scatter-plot links. Either kind of system may be absent. Then the verdicts on --check_sets (default
dev_bal test1): for each --fusion_check, whether the fused system beats each listed single system
(macro-F1 for --category systems, mean CCC for --attributes systems; all names of one check must be
in the same table); for each --modality_check, whether text leads on valence and speech on arousal
(CCC); every verdict is strict and on the unrounded values, and a set without the metrics reads "not
evaluated". Last, the "Fusion weights" section from each --fusion_weights weights.json written by
fuse_posteriors, and a table of the ASR word error rates from each --wer SET=wer.json (written by
transcribe). The text also goes to stdout.

With --exp_dir, the systems, their names, the prior pairs, the fusion and modality checks and
the fusion weights come from the system registry (exp/*/system.json, voxrecipes.registry)
instead of the NAME=SET=PATH options; this is what the recipe runs.

Example::

    python -m voxrecipes.bin.make_emotion_results --title "MSP-Podcast emotion" --exp_dir exp \
        --sets dev_bal dev_filt test1 --prior_set dev_bal --check_sets dev_bal test1 --out RESULTS.md

    python -m voxrecipes.bin.make_emotion_results --title "MSP-Podcast emotion" \\
        --sets dev_filt dev_bal test1 \\
        --category w2v_bert=dev_bal=exp/lr/dev_bal/eval_raw/metrics.json \\
        --category "w2v_bert + balanced prior=dev_bal=exp/lr/dev_bal/eval_prior/metrics.json" \\
        --attributes w2v_bert_attr=dev_bal=exp/attr/dev_bal/eval/metrics.json \\
        --prior_pair "w2v_bert=w2v_bert + balanced prior" --prior_set dev_bal --out RESULTS.md

    python -m voxrecipes.bin.make_emotion_results --title "MSP-Podcast emotion" \\
        --category speech=dev_bal=exp/speech/dev_bal/eval/metrics.json \\
        --category text=dev_bal=exp/text/dev_bal/eval/metrics.json \\
        --category fusion_lr=dev_bal=exp/fusion_lr/dev_bal/eval/metrics.json \\
        --attributes speech_attr=dev_bal=exp/speech_attr/dev_bal/eval/metrics.json \\
        --attributes text_attr=dev_bal=exp/text_attr/dev_bal/eval/metrics.json \\
        --attributes fusion_attr=dev_bal=exp/fusion_attr/dev_bal/eval/metrics.json \\
        --fusion_check fusion_lr=speech,text --fusion_check fusion_attr=speech_attr,text_attr \\
        --modality_check text_attr=speech_attr --check_sets dev_bal test1 \\
        --fusion_weights fusion_lr=exp/fusion_lr/weights.json \\
        --fusion_weights fusion_attr=exp/fusion_attr/weights.json --out RESULTS.md
"""

from __future__ import annotations

import argparse

from voxrecipes.cli import run


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="make_emotion_results", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--title", required=True, help="first heading of RESULTS.md")
    parser.add_argument("--exp_dir", default=None,
                        help="take every system registered under this directory (exp/*/system.json) instead of "
                             "--category, --attributes, --prior_pair, --fusion_check, --modality_check and "
                             "--fusion_weights; needs --sets")
    parser.add_argument("--category", action="append", default=[], metavar="NAME=SET=METRICS_JSON",
                        help="a categorical system, an evaluation set and its metrics.json (evaluate_classification); "
                             "repeat the option, rows keep the order of first appearance")
    parser.add_argument("--attributes", action="append", default=[], metavar="NAME=SET=METRICS_JSON",
                        help="an attribute system, an evaluation set and its metrics.json (evaluate_attributes); "
                             "repeat the option")
    parser.add_argument("--prior_pair", action="append", default=[], metavar="NAME_WITHOUT=NAME_WITH",
                        help="a categorical system without and the same system with the balanced prior; "
                             "repeat the option")
    parser.add_argument("--prior_set", default="dev_bal", help="set on which the prior pairs are compared")
    parser.add_argument("--sets", nargs="+", default=None,
                        help="evaluation sets in column order (default: order of first appearance)")
    parser.add_argument("--fusion_check", action="append", default=[], metavar="FUSED_NAME=SYS1,SYS2,...",
                        help="a fused system and the single systems it should beat on each --check_sets set "
                             "(all --category systems: macro-F1; all --attributes systems: mean CCC); repeat the "
                             "option")
    parser.add_argument("--modality_check", action="append", default=[], metavar="TEXT_ATTR_NAME=SPEECH_ATTR_NAME",
                        help="two --attributes systems: does text lead on valence and speech on arousal on each "
                             "--check_sets set? repeat the option")
    parser.add_argument("--check_sets", nargs="+", default=["dev_bal", "test1"],
                        help="sets on which the --fusion_check and --modality_check verdicts are given")
    parser.add_argument("--fusion_weights", action="append", default=[], metavar="NAME=WEIGHTS_JSON",
                        help="a fused system (a --category or --attributes name, as its --task) and the "
                             "weights.json fuse_posteriors wrote for it; repeat the option")
    parser.add_argument("--wer", action="append", default=[], metavar="SET=WER_JSON",
                        help="the wer.json the ASR stage wrote for a set (a table of word error rates); repeat the "
                             "option, rows keep the order given")
    parser.add_argument("--notes", default=None,
                        help="Markdown file of hand-written notes appended at the end (the recipe's "
                             "local/RESULTS_notes.md), so that a rerun writes them too")
    parser.add_argument("--out", required=True, help="output Markdown file")
    return parser


def main(args: argparse.Namespace) -> None:
    from voxrecipes.errors import ConfigError
    from voxrecipes.metrics.emotion_results import make_emotion_results

    if args.exp_dir is not None:
        from voxrecipes.metrics.emotion_registry import results_from_registry

        manual = [o for o in ("category", "attributes", "prior_pair", "fusion_check", "modality_check",
                              "fusion_weights") if getattr(args, o)]
        if manual:
            raise ConfigError(f"--exp_dir takes the systems from the registry; drop --{' --'.join(manual)}")
        if not args.sets:
            raise ConfigError("--exp_dir needs --sets (the evaluation sets, in column order)")
        print(results_from_registry(args.title, args.out, args.exp_dir, args.sets, prior_set=args.prior_set,
                                    check_sets=args.check_sets, wers=args.wer, notes=args.notes), end="")
        return
    print(make_emotion_results(args.title, args.out, category=args.category, attributes=args.attributes,
                               prior_pairs=args.prior_pair, prior_set=args.prior_set, sets=args.sets,
                               fusion_checks=args.fusion_check, modality_checks=args.modality_check,
                               fusion_weights=args.fusion_weights, check_sets=args.check_sets, wers=args.wer,
                               notes=args.notes),
          end="")


if __name__ == "__main__":
    run(main, get_parser())
