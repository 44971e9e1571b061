"""loop judge, loop judge-check."""

from __future__ import annotations

import json

from loop.cli import command
from loop.cli.flags import column_flags
from loop.config import SCORE_MODES

BUILTIN = "built-in"  # --injection without a file: loop.judging.injection.INJECTIONS


def _judge_from_workspace(args):
    """(judge, constitution, config) built from the workspace: its model, constitution, templates, [judge];
    with --adapter, the model wears that LoRA adapter (e.g. one `loop judge-train` wrote); given twice, both
    (a round's policy adapter, then the judging adapter trained on it)."""
    from loop.judging.judge import Judge
    from loop.model import load_model
    from loop.workspace import open_workspace

    ws = open_workspace(args.workspace)
    config = ws.config()
    constitution = ws.constitution()
    templates = ws.templates(constitution)  # checked before the model loads
    model, tokenizer, _ = load_model(args.model or config.model.name, config.model.dtype)
    if getattr(args, "adapter", None):
        from loop.model import load_adapter

        model = load_adapter(model, *args.adapter)
    overrides = {"mode": args.mode} if args.mode else {}
    if getattr(args, "no_few_shot", False):
        overrides["few_shot"] = False
    judge = Judge(model, tokenizer, constitution, templates, config.judge, model_id=args.model or config.model.name,
                  **overrides)
    return judge, constitution, config


def judge(args) -> int:
    """Judge one response to one prompt against the constitution: critique and score per principle.

    Scores are in [0, 1], read from the judge's probabilities of Yes and No (never parsed from text) and,
    with [judge] calibrate (the default), set against its reading of an empty answer to the same prompt;
    "–" means the judge could not score. A principle with a rule check is scored by its rule, as in
    training (a rule that compares with a pool column, e.g. the right answer, reads it from --column
    NAME=VALUE; without it the rule cannot score; a judge template that reads a column, e.g. the
    reference answer, reads it there too). In critique mode (--mode critique, or [judge] mode
    in loop.toml) the judge writes a short critique before it scores.
    """
    from loop.rules import resolve_check
    from loop.workspace import open_workspace

    row = column_flags(args.column)
    if args.principle:  # a typo is reported before the model loads
        open_workspace(args.workspace).constitution().get(args.principle)
    judge_, constitution, _ = _judge_from_workspace(args)
    ids = [args.principle] if args.principle else [p.id for p in constitution.principles]
    items = []
    for pid in ids:
        principle = constitution.get(pid)
        if principle.is_rule:  # not judged: scored by its rule, as in training
            score = resolve_check(principle)(args.response, row)
            items.append({"principle": pid, "source": "rule", "score": None if score is None else float(score),
                          "critique": "" if score is not None else _why_unscored(principle, row),
                          "check": principle.check})
        else:
            items.append({**judge_.score([args.prompt], [args.response], pid, rows=[row])[0].to_dict(), "source": "judge"})
    if args.json:
        print(json.dumps(items, ensure_ascii=False))
        return 0
    from loop.views.judgment_view import print_judgments

    print_judgments(items, constitution, mode=judge_.settings.mode, calibrated=judge_.settings.calibrate)
    return 0


def _why_unscored(principle, row: dict) -> str:
    """Why a rule gave no score: the pool column it reads is missing (name it, and the flag that gives
    it), or the row's label is not one the rule decides."""
    from loop.constitution import CHECK_COLUMNS

    kind = principle.check.get("type")
    if kind not in CHECK_COLUMNS:
        return "could not score"
    column = principle.check.get("column", CHECK_COLUMNS[kind])
    if column not in row:
        return f"could not score: the rule reads the pool column '{column}'; give it with --column {column}=VALUE"
    return f"could not score: the rule does not decide {column} = {row[column]!r}"


def judge_check(args) -> int:
    """Pairwise accuracy of the judge on labeled (chosen, rejected) pairs, with its interval.

    A pair is correct when chosen scores strictly higher than rejected on its principle (a tie is a
    miss). Without --pairs, each principle's reliability pairs are used: constitution/pairs/<id>.jsonl
    where it has one, else its labeled examples (each left out of the few-shots while it is checked).
    A pairs file has one JSON object per line with prompt, chosen, rejected and either principle (an
    id in the workspace constitution) or principle_text (an ad-hoc principle). Each principle is shown
    with the weight its accuracy earns in training (weight x (2 x accuracy - 1) when the interval is
    above chance, else 0; a round may scale it further by its judge's consistency with the judges
    before it); a principle with a rule check is also read by its rule.
    """
    from loop.judging.judge_check import check, constitution_pairs, load_pairs
    from loop.workspace import open_workspace

    if args.pairs:  # validate the files before the model loads
        ws = open_workspace(args.workspace)
        pairs = load_pairs(args.pairs, ws.constitution())
    lines = None
    if args.injection:
        from loop.judging.injection import INJECTIONS, load_injection_lines

        lines = INJECTIONS if args.injection == BUILTIN else load_injection_lines(args.injection)
    from loop.views.console import make_console
    from loop.views.progress import task_bar

    judge_, constitution, config = _judge_from_workspace(args)
    if not args.pairs:
        pairs = constitution_pairs(constitution)
    bars = make_console(stderr=True)  # progress on stderr: --json's stdout stays JSON
    with task_bar(bars, "judging pairs", len(pairs)) as advance:
        result = check(judge_, pairs, on_progress=advance)
    _add_weights(result, constitution, config.judge.reliability_weights)
    if args.injection:
        source = "built-in" if args.injection == BUILTIN else args.injection
        result.update(_injection(judge_, constitution, lines, source, bars))
    settings = judge_.settings
    result.update(source=args.pairs or "constitution pairs", mode=settings.mode, few_shot=settings.few_shot,
                  calibrate=settings.calibrate, model=judge_.model_id, adapter=args.adapter,
                  constitution_version=constitution.version, constitution_sha256=constitution.sha256)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    from loop.views.judge_check_view import print_check

    print_check(result)
    return 0


def _add_weights(result: dict, constitution, enabled: bool) -> None:
    """Each principle's `effective_weight`: what its measured accuracy earns in training (a rule's weight
    is its own; an ad-hoc principle_text has none)."""
    from loop.judging.reliability import effective_weight

    ids = {p.id: p for p in constitution.principles}
    for pid, entry in result["per_principle"].items():
        p = ids.get(pid)
        entry["weight"] = p.weight if p else None
        entry["effective_weight"] = None if p is None else p.weight if p.is_rule or not enabled \
            else effective_weight(p.weight, entry)


def _injection(judge_, constitution, lines, source: str, bars) -> dict:
    """The injection probes' gains with the guard, and without it: what the model alone does (the honest baseline)."""
    from loop.judging.injection import injection_gain, probe_set
    from loop.views.progress import task_bar

    probes = [p for p in probe_set(constitution, lines) if not constitution.get(p.principle).is_rule]
    with task_bar(bars, "injection", len(probes) * (2 if judge_.settings.guard else 1)) as advance:
        out = {"injection": {**injection_gain(judge_, probes, on_progress=advance), "lines": source}}
        if judge_.settings.guard:
            judge_.settings.guard = False
            out["injection_unguarded"] = injection_gain(judge_, probes, on_progress=advance)
            judge_.settings.guard = True
    return out


def judge_train(args) -> int:
    """Fine-tune the judge on labeled judgments (Self-Rewarding LMs' EFT) and measure it before and after.

    Each pair of constitution/pairs/<id>.train.jsonl gives the judge conversation about its chosen
    answer -> "Yes" and about its rejected answer -> "No"; TRL's SFTTrainer fits a LoRA adapter (the
    [lora] settings) on them and saves it to --out. The judge is then checked on the reliability
    split (constitution/pairs/<id>.jsonl), which training never saw: accuracy before and after, and
    the consistency of the two judges (Kendall tau of their orders of the same pairs). Judge with the
    adapter: `loop judge-check --adapter DIR` (add --no-few-shot if it was trained without few-shots).
    """
    from loop.training.judge_train import train_and_measure
    from loop.workspace import open_workspace

    result = train_and_measure(open_workspace(args.workspace), model=args.model, out=args.out, epochs=args.epochs,
                               learning_rate=args.learning_rate, few_shot=args.few_shot, before=not args.no_before)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    from loop.views.judge_check_view import print_training

    print_training(result)
    return 0


def register(subparsers) -> None:
    p = command(subparsers, "judge", judge)
    p.add_argument("--prompt", required=True, help="the user prompt")
    p.add_argument("--response", required=True, help="the response to judge")
    p.add_argument("--principle", help="principle id (default: every principle)")
    p.add_argument("--column", action="append", metavar="NAME=VALUE",
                   help="a prompt-pool column a rule check or a judge template reads, e.g. --column answer=42 or --column reference=\"...\" (repeatable)")
    p.add_argument("--mode", choices=SCORE_MODES, help="override [judge] mode from loop.toml")
    p.add_argument("--model", help="model name, HF id or directory (default: from loop.toml)")
    p.add_argument("--json", action="store_true", help="print the critiques as JSON, each with its source")
    p = command(subparsers, "judge-check", judge_check)
    p.add_argument("--pairs", help="JSONL file of labeled pairs (default: constitution/pairs/<id>.jsonl, else the examples)")
    p.add_argument("--injection", nargs="?", const=BUILTIN, metavar="LINES.txt",
                   help="also run the injection probes: how much a line addressing the judge raises its score "
                        "(built-in lines, or one per line from a file; {title} is the principle's title)")
    p.add_argument("--mode", choices=SCORE_MODES, help="override [judge] mode from loop.toml")
    p.add_argument("--model", help="model name, HF id or directory (default: from loop.toml)")
    p.add_argument("--adapter", action="append", metavar="DIR",
                   help="a LoRA adapter directory for the model to judge with (e.g. from loop judge-train); twice: "
                        "a round's judge with its judging adapter, e.g. --adapter runs/main/round-001/adapter "
                        "--adapter runs/main/round-002/judging_adapter")
    p.add_argument("--no-few-shot", action="store_true", help="judge without the principles' examples as few-shots")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p = command(subparsers, "judge-train", judge_train)
    p.add_argument("--out", default="runs/judge-adapter", help="where to save the adapter (default: runs/judge-adapter)")
    p.add_argument("--epochs", type=float, default=2.0, help="passes over the judgments (default 2)")
    p.add_argument("--learning-rate", type=float, default=2e-4, help="LoRA learning rate (default 2e-4)")
    p.add_argument("--few-shot", action="store_true",
                   help="train and judge with the principles' examples as few-shots (about ten times the tokens)")
    p.add_argument("--no-before", action="store_true", help="skip measuring the untrained judge")
    p.add_argument("--model", help="model name, HF id or directory (default: from loop.toml)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
