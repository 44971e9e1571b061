"""A workspace: the folder a person works in. `loop init` makes one; every command reads it.

    loop.toml        config (see loop/config.py)
    constitution/    the principles (see loop/constitution.py)
    prompts/         Jinja templates, the prompt pool and the probes (prompts/probes/)
    runs/            the ledger (see loop/ledger/store.py), ignored by git
"""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from loop.config import CONFIG_FILE, Config, load_config, render_default_config
from loop.constitution import Constitution, load_constitution
from loop.datafile import atomic_write, iter_jsonl
from loop.errors import LoopError, Problems, line_of_key
from loop.pool import numbered_pool
from loop.rules import check_module, import_custom_check, refuse_unlisted_check
from loop.quotas import quota_errors
from loop.probes import ProbeSet, TrainedPrompt, load_probes
from loop.template_columns import column_problems
from loop.templates import Templates, load_templates


def defaults_dir() -> Path:
    """The shipped constitution/ and prompts/, inside the installed package (loop/defaults)."""
    return Path(str(resources.files("loop") / "defaults"))


@dataclass
class Workspace:
    root: Path

    @property
    def constitution_dir(self) -> Path:
        return self.root / "constitution"

    @property
    def prompts_dir(self) -> Path:
        return self.root / "prompts"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def cache_dir(self) -> Path:
        """The content cache (loop/cache.py): readings nothing changed, read back, not measured twice."""
        return self.root / ".loop" / "cache"

    def config(self, problems: Problems | None = None) -> Config:
        return load_config(self.root, problems)

    def constitution(self, config: Config | None = None, problems: Problems | None = None) -> Constitution:
        """The constitution, validated. A custom check that names a module loop.toml does not allow is
        refused here, before anything imports it: every command reads a workspace's constitution here."""
        constitution = load_constitution(self.constitution_dir, problems)
        custom = [p for p in constitution.principles if p.check and p.check["type"] == "custom"]
        if custom:  # loop.toml is read only then: without custom checks, a broken one stops no constitution command
            allowed, found = (config or self.config()).checks.allows, Problems()
            for principle in custom:
                with found.gather():
                    refuse_unlisted_check(principle, allowed)
            found.settle(None, problems)
        return constitution

    def templates(self, constitution: Constitution | None = None) -> Templates:
        return load_templates(self.prompts_dir, constitution)

    def pool_path(self, config: Config) -> Path:
        return self.root / config.run.pool

    def probes_dir(self, config: Config) -> Path:
        return self.root / config.probes.dir

    def probes(self, config: Config, trained: list[TrainedPrompt] | None = None,
               problems: Problems | None = None) -> ProbeSet:
        """The probes, validated, and checked against every prompt the policy trains on (the pool, and
        the warm start's demonstrations when it is on; read here unless given): no probe may be one."""
        if trained is None:
            constitution = self.constitution(config)
            pool = numbered_pool(self.pool_path(config), constitution)
            trained = self.trained_prompts(config, pool, constitution)
        return load_probes(self.probes_dir(config), trained, problems)

    def gate(self, config: Config, trained: list[TrainedPrompt], probes: ProbeSet,
             problems: Problems | None = None) -> ProbeSet | None:
        """The gate set (loop/measure/gate.py), validated, and kept apart from the probes and from every
        prompt the policy trains on (`trained`, as trained_prompts gives them); None when [probes] gate_dir
        is "" or names no folder."""
        folder = self.root / config.probes.gate_dir if config.probes.gate_dir else None
        if folder is None or not folder.is_dir():
            return None
        apart = list(trained) + [TrainedPrompt(p.prompt, "probe", f"{probes.root}/{f.name}.jsonl")
                                 for f in probes.families for p in f.probes]
        return load_probes(folder, apart, problems)

    def trained_prompts(self, config: Config, pool: list[tuple[int, dict]], constitution: Constitution,
                        problems: Problems | None = None) -> list[TrainedPrompt]:
        """Every prompt the policy may train on, with where it is written: the pool's (numbered rows), and
        with the warm start its demonstrations' and the constitution's examples' (the warm start
        fine-tunes on their good answers), and with [train] judgment_epochs the judge-training pairs'
        (it reads their answers, labeled). A demonstrations file in error is added to `problems`."""
        pool_path = str(self.pool_path(config))
        prompts = [TrainedPrompt(row["prompt"], "pool", pool_path, number) for number, row in pool]
        if not config.train.warm_start:
            return prompts
        found = Problems()
        with found.gather():
            prompts += demonstration_prompts(self.root / config.train.demonstrations)
        prompts += [TrainedPrompt(ex.prompt, "example", p.path, _example_line(p.path, ex.prompt))
                    for p in constitution.principles for ex in p.examples]
        if config.train.judgment_epochs:
            prompts += [TrainedPrompt(pair.prompt, "pair", pair.path, pair.line)
                        for pair in constitution.judge_training_pairs()]
        return found.settle(prompts, problems)

    def check(self, config: Config | None = None) -> tuple[Config, Constitution, Templates, list[dict], ProbeSet]:
        """Validate everything a run needs, before any model loads: the config (with any overrides
        already applied), the constitution and its custom checks, templates, prompt pool, the warm start's
        demonstrations when it is on, the probes, and TRL's own checks of the training tables. Every error
        found is raised at once (LoopErrors; one LoopError when there is one). Returns what it loaded."""
        problems = Problems()
        # A loop.toml that cannot be read at all stops here: it names where everything else is.
        config = config or self.config(problems)
        before = len(problems.errors)
        constitution = self._constitution_and_checks(config, problems)
        whole = len(problems.errors) == before  # else its labeled pairs were left unread
        templates = probes = None
        pool: list[tuple[int, dict]] = []
        trained: list[TrainedPrompt] = []
        with problems.gather():  # the templates' dry run renders a principle, when one loaded
            templates = self.templates(constitution if constitution.principles else None)
        pool_errors = len(problems.errors)
        with problems.gather():
            pool = self._pool(config, constitution, problems)
        pool_whole = len(problems.errors) == pool_errors  # else the quotas are not counted against it
        if templates is not None and whole and pool_whole:
            for problem in column_problems(constitution, templates, pool, self.pool_path(config)):
                problems.add(problem)
        with problems.gather():
            trained = self.trained_prompts(config, pool, constitution, problems)
            probes = self.probes(config, trained, problems)
        with problems.gather():
            if probes is not None:
                self.gate(config, trained, probes, problems)
        quota_problems = quota_errors(dataclasses.asdict(config.quotas), [row for _, row in pool],
                                      config.run.prompts_per_round) if pool_whole else []
        for message in quota_problems:
            problems.add(self._config_error(message, message.split()[1] if " sum " not in message else "quotas",
                                            "quotas"))
        self._settings(config, constitution if whole else None, problems)
        with problems.gather():
            _revision_settings(self, config, templates)
        problems.raise_any()
        return config, constitution, templates, [row for _, row in pool], probes  # type: ignore[return-value]

    def _constitution_and_checks(self, config: Config, problems: Problems) -> Constitution:
        """The constitution with what loaded (an empty one if nothing did), its allowed custom checks
        imported, so a path that does not resolve is refused now and not when the round builds its rewards."""
        try:
            constitution = self.constitution(config, problems)
        except LoopError as err:  # none at all (no folder): the rest is checked without one
            problems.add(err)
            return Constitution(name="", version="", description="", principles=(), root=str(self.constitution_dir),
                                sha256="")
        for principle in constitution.principles:
            if principle.check and principle.check["type"] == "custom" and config.checks.allows(check_module(principle)):
                with problems.gather():
                    import_custom_check(principle)
        return constitution

    def _pool(self, config: Config, constitution: Constitution, problems: Problems) -> list[tuple[int, dict]]:
        """The numbered pool rows; [run] heldout_size must leave some of them to train on."""
        before = len(problems.errors)
        pool = numbered_pool(self.pool_path(config), constitution, problems)
        size = len(pool) + len(problems.errors) - before  # a row in error is still a prompt, once fixed
        if pool and config.run.heldout_size >= size:
            problems.add(self._config_error(f"[run] heldout_size ({config.run.heldout_size}) leaves no prompts to train "
                                            f"on in a pool of {size} ({config.run.pool}); set it below {size}",
                                            "heldout_size", "run"))
        return pool

    def _settings(self, config: Config, constitution: Constitution | None, problems: Problems) -> None:
        """Settings checked against the rest of the workspace (the constitution when it loaded whole), and
        TRL's own checks of its tables."""
        from loop.trl_tables import dpo_args, grpo_args, sft_args

        with problems.gather():
            if constitution and config.train.warm_start and config.train.judgment_epochs and \
                    not constitution.judge_training_pairs():
                raise self._config_error("[train] judgment_epochs is above 0 but no judged principle has labeled "
                                         "training pairs; add constitution/pairs/<id>.train.jsonl, or set "
                                         "judgment_epochs = 0", "judgment_epochs", "train")
        with problems.gather():
            _judging_adapter_settings(self, config, constitution)
        tables = [grpo_args, sft_args] + ([dpo_args] if config.train.method == "dpo" else [])
        for args in tables:
            with problems.gather():
                args(config, path=self.root / CONFIG_FILE)

    def _config_error(self, message: str, key: str, section: str) -> LoopError:
        path = self.root / CONFIG_FILE
        text = path.read_text("utf-8") if path.is_file() else ""
        return LoopError(message, path=path, line=line_of_key(text, key, section))


def _judging_adapter_settings(ws: Workspace, config: Config, constitution: Constitution | None) -> None:
    """[judge] adapter_every needs labeled judgments to train on, and keeps judgments out of the policy:
    it does not go with [train] judgment_epochs, which trains them into the policy's adapter."""
    if not config.judge.adapter_every:
        return
    if config.train.judgment_epochs:
        raise ws._config_error("[judge] adapter_every and [train] judgment_epochs both train the judge; the judging "
                               "adapter keeps judgments out of the policy: set judgment_epochs = 0",
                               "adapter_every", "judge")
    if constitution and not constitution.judge_training_pairs():
        raise ws._config_error("[judge] adapter_every is above 0 but no judged principle has labeled training "
                               "pairs; add constitution/pairs/<id>.train.jsonl, or set adapter_every = 0",
                               "adapter_every", "judge")


def _revision_settings(ws: Workspace, config: Config, templates) -> None:
    """Revisions need the revise template, which a workspace made before it may lack; revision pairs are
    for DPO rounds."""
    train = config.train
    if train.revision_pairs and train.method != "dpo":
        raise ws._config_error("[train] revision_pairs makes preference pairs for DPO rounds; set method = \"dpo\", "
                               "or revision_pairs = false", "revision_pairs", "train")
    if templates is None or "revise" in templates.sources:
        return
    if train.warm_start and train.warm_start_data != "demonstrations":
        key, setting, off = "warm_start_data", f"warm_start_data = \"{train.warm_start_data}\"", \
            "warm_start_data = \"demonstrations\""
    elif train.revision_pairs:
        key, setting, off = "revision_pairs", "revision_pairs = true", "revision_pairs = false"
    else:
        return
    raise ws._config_error(f"[train] {setting} needs prompts/revise.jinja; copy it from a new `loop init` "
                           f"workspace, or set {off}", key, "train")


def demonstration_prompts(path: Path) -> list[TrainedPrompt]:
    """The warm start's demonstration prompts, each with its line."""
    from loop.demonstrations import read_demonstrations

    rows = read_demonstrations(path)  # validates every line; each row is one non-blank line, in order
    lines = [number for number, _ in iter_jsonl(path)]
    return [TrainedPrompt(row["prompt"], "demonstration", str(path), number) for number, row in zip(lines, rows)]


def _example_line(path: str, prompt: str) -> int | None:
    """The line of a principle file where an example's prompt is written, when it can be found."""
    lines = Path(path).read_text("utf-8").splitlines() if path and Path(path).is_file() else []
    return next((n for n, line in enumerate(lines, 1) if line.lstrip().startswith("prompt") and prompt in line), None)


def open_workspace(path: str | Path = ".") -> Workspace:
    root = Path(path)
    if not (root / CONFIG_FILE).exists():
        raise LoopError(f"not a loop workspace (no {CONFIG_FILE}); run `loop init` here first", path=root.resolve())
    return Workspace(root)


def init_workspace(path: str | Path = ".") -> Workspace:
    root = Path(path)
    if (root / CONFIG_FILE).exists():
        raise LoopError(f"already a workspace ({CONFIG_FILE} exists); edit it, or init another directory", path=root)
    for name in ("constitution", "prompts"):
        if (root / name).exists():
            raise LoopError(f"{name}/ already exists; move it away or init another directory", path=root / name)
    root.mkdir(parents=True, exist_ok=True)
    source = defaults_dir()
    shutil.copytree(source / "constitution", root / "constitution", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(source / "prompts", root / "prompts", ignore=shutil.ignore_patterns("__pycache__"))
    atomic_write(root / ".gitignore", "runs/\n.loop/\n")
    atomic_write(root / CONFIG_FILE, render_default_config())  # last: its presence marks a finished init
    return Workspace(root)
