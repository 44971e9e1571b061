"""loop probes."""

from __future__ import annotations

from loop.cli import command


def probes(args) -> int:
    """Answer the probes without training (or compare two rounds' answers): pass rates per family, with intervals.

    The probes (prompts/probes/, README "Probes") are held-out checks with known answers that no
    judge decides. Answered greedily by:
      --round N     round N's policy of the run (base model + that round's adapter; round 0 is the
                    base model), in the round's own system prompt; when the run has round 0's probe
                    answers, each family's paired change from round 0 on the same prompts is shown
      --model NAME  a model directory or Hugging Face id, in the workspace's system prompt
      (neither)     the workspace's model ([model] name in loop.toml)
    --all answers every probe; otherwise [probes] per_round per family (the same ones a run's rounds
    answer). --json prints {"probes": {family: {rate, low, high, n}}, "changes": {family: {delta,
    low, high, n}}, "fluency": {family: {repeats, cut, words, n}}}.

    --compare A B answers nothing: it reads the probe answers rounds A and B of the run recorded
    (probes.jsonl; with --gate, their gate set answers, gate.jsonl) and shows per family both pass
    rates and the change from A to B, paired on the prompts both answered, with its 95 % interval.
    --compare A B --all has both rounds' policies answer every probe (answers already made are read
    back from the workspace's cache), then pairs them the same way.
    --json then prints {"rounds": [A, B], "set": "probes" or "gate", "before": {family: {rate, low,
    high, n}}, "after": {...}, "changes": {family: {delta, low, high, n}}}.
    """
    if args.compare is not None or args.gate:
        return compare(args)  # reads the ledger only: no model loads
    from loop.cache import workspace_cache
    from loop.measure.probes import answer_probes, probe_changes, probe_fluency, probe_stats
    from loop.views.console import make_console
    from loop.views.json_out import write_json
    from loop.views.probes_view import answering, render_probes
    from loop.workspace import open_workspace

    ws = open_workspace(args.workspace)
    config = ws.config()
    probe_set = ws.probes(config)  # a bad probe file fails here, before any model loads
    model, tokenizer, conversation, seed, baseline, title = answerer(args, ws, config)
    chosen = probe_set.subset(0 if args.all else config.probes.per_round, seed)
    with answering(None if args.json else make_console(stderr=True), len(chosen)) as advance:
        records = answer_probes(model, tokenizer, chosen, conversation, config.probes.max_new_tokens,
                                batch_size=config.probes.batch_size, on_batch=advance, cache=workspace_cache(ws, config))
    stats, fluency = probe_stats(records), probe_fluency(records)
    changes = probe_changes(records, baseline) if baseline else {}
    if args.json:
        write_json({"probes": stats, "changes": changes, "fluency": fluency})
        return 0
    render_probes(make_console(), stats, changes, fluency, f"{title} · {len(chosen)} probes",
                  baseline="round 0", max_new_tokens=config.probes.max_new_tokens)
    return 0


def answerer(args, ws, config):
    """(model, tokenizer, conversation, seed, baseline records, title) of whoever answers the probes:
    round N's policy of the run, a named model, or the workspace's model."""
    from loop.ledger import read_jsonl
    from loop.measure.probes import RECORDS_FILE
    from loop.model import load_model
    from loop.templates import policy_messages

    if args.round is not None:
        from loop.ledger.policy import load_round_policy
        from loop.ledger.queries import open_run, require_run

        ledger = require_run(open_run(args.workspace, args.run))
        policy = load_round_policy(ledger, args.round, config.model.dtype, config.model.name)
        seed = policy.config.get("run", {}).get("seed", config.run.seed)  # the subset the run's rounds answered
        baseline = read_jsonl(ledger.round_dir(0) / RECORDS_FILE) if args.round != 0 and \
            0 in ledger.complete_rounds() else []
        return (policy.model, policy.tokenizer, policy.conversation, seed, baseline,
                f"probes · run {ledger.run}, round {args.round}")
    name = args.model or config.model.name
    constitution = ws.constitution()
    templates = ws.templates(constitution)
    model, tokenizer, _ = load_model(name, config.model.dtype)
    conversation = lambda prompt: policy_messages(templates, constitution, prompt)  # noqa: E731
    return model, tokenizer, conversation, config.run.seed, [], f"probes · {name}"


def compare(args) -> int:
    """`loop probes --compare A B`: two rounds' recorded answers, paired per family."""
    from loop.errors import LoopError
    from loop.measure.gate import mean_rate
    from loop.measure.probes import probe_changes, probe_stats
    from loop.views.console import make_console
    from loop.views.json_out import write_json
    from loop.views.probes_view import render_comparison
    from loop.ledger.queries import open_run, require_run

    if args.compare is None:
        raise LoopError("--gate reads recorded gate answers: give --compare A B as well")
    if args.all and args.gate:
        raise LoopError("every round answers all of its gate set: leave --all out with --gate")
    ledger = require_run(open_run(args.workspace, args.run))
    a, b = args.compare
    before, after = (answered_all(args, ledger, n) if args.all else recorded(ledger, n, args.gate) for n in (a, b))
    stats_a, stats_b, changes = probe_stats(before), probe_stats(after), probe_changes(after, before)
    if args.json:
        write_json({"rounds": [a, b], "set": "gate" if args.gate else "probes", "before": stats_a, "after": stats_b,
                    "changes": changes})
        return 0
    which = "gate set" if args.gate else "probes"
    render_comparison(make_console(), f"{which} · run {ledger.run}, round {a} → round {b}", a, b, stats_a, stats_b,
                      changes, (mean_rate(before), mean_rate(after)))
    return 0


def answered_all(args, ledger, n: int) -> list[dict]:
    """Every probe answered by complete round n's policy, through the workspace's cache."""
    from loop.cache import workspace_cache
    from loop.ledger.policy import load_round_policy
    from loop.measure.probes import answer_probes
    from loop.views.console import make_console
    from loop.views.probes_view import answering
    from loop.workspace import open_workspace

    ws = open_workspace(args.workspace)
    config = ws.config()
    chosen = ws.probes(config).subset(0, config.run.seed)
    ledger.require_complete_round(n)
    policy = load_round_policy(ledger, n, config.model.dtype, config.model.name)
    with answering(None if args.json else make_console(stderr=True), len(chosen)) as advance:
        return answer_probes(policy.model, policy.tokenizer, chosen, policy.conversation,
                             config.probes.max_new_tokens, batch_size=config.probes.batch_size, on_batch=advance,
                             cache=workspace_cache(ws, config))


def recorded(ledger, n: int, gate: bool) -> list[dict]:
    """Complete round n's recorded probe answers (gate.jsonl with `gate`), or one line saying what is missing."""
    from loop.errors import LoopError
    from loop.ledger import read_jsonl
    from loop.measure.gate import GATE_FILE
    from loop.measure.probes import RECORDS_FILE

    path = ledger.require_complete_round(n) / (GATE_FILE if gate else RECORDS_FILE)
    records = [r for r in read_jsonl(path) if isinstance(r, dict) and {"family", "prompt", "pass"} <= r.keys()]
    if not records:
        what = ("answered no gate set ([probes] gate_dir in loop.toml)" if gate
                else "recorded no probe answers ([probes] dir in loop.toml)")
        raise LoopError(f"round {n} of run '{ledger.run}' {what}; compare rounds that have {path.name}", path=path)
    return records


def register(subparsers) -> None:
    p = command(subparsers, "probes", probes)
    target = p.add_mutually_exclusive_group()
    target.add_argument("--round", type=int, default=None, metavar="N", help="answer with round N's policy")
    target.add_argument("--model", default=None, metavar="NAME", help="answer with this model directory or HF id")
    target.add_argument("--compare", nargs=2, type=int, default=None, metavar=("A", "B"),
                        help="compare rounds A and B's recorded answers (with --all: every probe, answered), "
                             "paired per family")
    p.add_argument("--gate", action="store_true", help="with --compare: the rounds' gate set answers (gate.jsonl)")
    p.add_argument("--all", action="store_true", help="every probe, not [probes] per_round per family")
    p.add_argument("--run", default=None, help="run name for --round and --compare (default: run.name in loop.toml)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
