"""loop prompts render."""

from __future__ import annotations

from loop.cli import command


def render(args) -> int:
    """Show exactly what the model would see for a template, with the model's chat template applied.

    TEMPLATE is one of: system (the policy's view of a prompt), judge, critique, verdict, lift (the
    response as the reply under the principle's lift system message, whose likelihood is read).
    A principle with its own judge template (a reference answer, say) is rendered with it; give the
    pool columns it reads with --column NAME=VALUE. --raw prints that string and nothing else (no panel, no wrapping), byte for byte; --json prints
    {"template", "principle", "messages", "text", "tokens"}: the chat messages and the string they render to.
    """
    from loop.errors import LoopError
    from loop.judging.likelihood import steered_chat
    from loop.model import load_tokenizer
    from loop.cli.flags import column_flags
    from loop.judging.prompts import judge_messages
    from loop.templates import TEMPLATE_VARIABLES, judge_template, policy_messages
    from loop.workspace import open_workspace

    ws = open_workspace(args.workspace)
    config = ws.config()
    constitution = ws.constitution()
    templates = ws.templates(constitution)
    if args.template not in TEMPLATE_VARIABLES:
        raise LoopError(f"no template '{args.template}'; choose one of: {', '.join(TEMPLATE_VARIABLES)}")
    principle = constitution.get(args.principle or constitution.principles[0].id)
    tokenizer = load_tokenizer(args.model or config.model.name)
    if args.template == "lift":
        # The lift reads the likelihood of the response itself, as the assistant's turn.
        messages = steered_chat(tokenizer, templates.render("lift", principle=principle), args.prompt)
        messages += [{"role": "assistant", "content": args.response}]
        text = tokenizer.apply_chat_template(messages, tokenize=False)
    else:
        if args.template == "system":
            messages = policy_messages(templates, constitution, args.prompt)
        else:
            row = column_flags(args.column)
            if args.template == "judge":  # the principle's own judge template, where it has one
                name = judge_template(principle, row)
                missing = templates.missing(name, row)
                if missing:
                    raise LoopError(f"principle '{principle.id}' is judged with {name}.jinja, which reads row."
                                    f"{missing[0]}; give it with --column {missing[0]}=VALUE")
            messages = judge_messages(templates, args.template, principle, args.prompt, args.response,
                                      critique=args.critique, few_shot=config.judge.few_shot, row=row)
        # The judge reads the next token after the assistant turn opens, so the generation prompt is added.
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    n_tokens = len(tokenizer(text, add_special_tokens=False)["input_ids"])
    from loop.views.prompt_view import show_rendered

    show_rendered(args.template, principle.id, messages, text, n_tokens, raw=args.raw, as_json=args.json)
    return 0


def register(subparsers) -> None:
    group = subparsers.add_parser("prompts", help="render prompt templates")
    sub = group.add_subparsers(dest="verb", metavar="VERB", required=True)
    p = command(sub, "render", render)
    p.add_argument("template", help="system, judge, critique, verdict, lift or revise")
    p.add_argument("--principle", help="principle id (default: the first)")
    p.add_argument("--prompt", default="How do I keep cut basil fresh?", help="user prompt to render with")
    p.add_argument("--response", default="Stand the stems in a glass of water.", help="response to judge")
    p.add_argument("--critique", default="The response answers the question directly.",
                   help="critique text (verdict template)")
    p.add_argument("--column", action="append", metavar="NAME=VALUE",
                   help="a pool column the judge template reads, e.g. --column reference=\"...\" (repeatable)")
    p.add_argument("--model", help="model whose chat template to apply (default: from loop.toml)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--raw", action="store_true", help="print exactly the string the model sees, nothing else")
    out.add_argument("--json", action="store_true", help="print the messages and the rendered string as JSON")
