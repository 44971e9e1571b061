"""loop prompts render."""

from __future__ import annotations

from loop.cli import command
from loop.views.console import make_console


def render(args) -> int:
    """Show exactly what the model would see for a template, with the model's chat template applied.

    TEMPLATE is one of: system (the policy's view of a prompt), judge, critique, verdict, lift (the
    response as the reply under the principle's lift system message, whose likelihood is read).
    """
    from rich.panel import Panel
    from rich.text import Text

    from loop.errors import LoopError
    from loop.judging.likelihood import steered_chat
    from loop.model import load_tokenizer
    from loop.judging.prompts import judge_messages
    from loop.templates import TEMPLATE_VARIABLES, policy_messages
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
            messages = judge_messages(templates, args.template, principle, args.prompt, args.response,
                                      critique=args.critique, few_shot=config.judge.few_shot)
        # The judge reads the next token after the assistant turn opens, so the generation prompt is added.
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    n_tokens = len(tokenizer(text, add_special_tokens=False)["input_ids"])
    console = make_console()
    console.print(Panel(Text(text), title=f"{args.template} · {n_tokens} tokens", title_align="left"))
    return 0


def register(subparsers) -> None:
    group = subparsers.add_parser("prompts", help="render prompt templates")
    sub = group.add_subparsers(dest="verb", metavar="VERB", required=True)
    p = command(sub, "render", render)
    p.add_argument("template", help="system, judge, critique, verdict or lift")
    p.add_argument("--principle", help="principle id (default: the first)")
    p.add_argument("--prompt", default="How do I keep cut basil fresh?", help="user prompt to render with")
    p.add_argument("--response", default="Stand the stems in a glass of water.", help="response to judge")
    p.add_argument("--critique", default="The response answers the question directly.",
                   help="critique text (verdict template)")
    p.add_argument("--model", help="model whose chat template to apply (default: from loop.toml)")
