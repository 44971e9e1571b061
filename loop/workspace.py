"""A workspace: the folder a person works in. `loop init` makes one; every command reads it.

    loop.toml        config (see loop/config.py)
    constitution/    the principles (see loop/constitution.py)
    prompts/         Jinja templates, the prompt pool and the probes (prompts/probes/)
    runs/            the ledger (see loop/ledger/store.py), ignored by git
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from loop.config import CONFIG_FILE, Config, load_config, render_default_config
from loop.constitution import Constitution, import_custom_check, load_constitution
from loop.datafile import atomic_write
from loop.errors import LoopError, line_of_key
from loop.pool import read_pool
from loop.probes import ProbeSet, load_probes
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

    def config(self) -> Config:
        return load_config(self.root)

    def constitution(self) -> Constitution:
        return load_constitution(self.constitution_dir)

    def templates(self, constitution: Constitution | None = None) -> Templates:
        return load_templates(self.prompts_dir, constitution)

    def pool_path(self, config: Config) -> Path:
        return self.root / config.run.pool

    def probes_dir(self, config: Config) -> Path:
        return self.root / config.probes.dir

    def probes(self, config: Config, trained: list[str] | None = None) -> ProbeSet:
        """The probes, validated, and checked against every prompt the policy trains on (the pool, and
        the warm start's demonstrations when it is on; read here unless given): no probe may be one."""
        if trained is None:
            trained = self.trained_prompts(config, read_pool(self.pool_path(config), self.constitution()))
        return load_probes(self.probes_dir(config), trained)

    def trained_prompts(self, config: Config, pool: list[dict]) -> list[str]:
        """Every prompt the policy may train on: the pool's, and with the warm start its demonstrations'
        and the constitution's examples' (the warm start fine-tunes on their good answers), and with
        [train] judgment_epochs the judge-training pairs' (it reads their answers, labeled)."""
        from loop.demonstrations import read_demonstrations

        prompts = [row["prompt"] for row in pool]
        if config.train.warm_start:
            constitution = self.constitution()
            prompts += [d["prompt"] for d in read_demonstrations(self.root / config.train.demonstrations)]
            prompts += [ex.prompt for p in constitution.principles for ex in p.examples]
            if config.train.judgment_epochs:
                prompts += [pair.prompt for pair in constitution.judge_training_pairs()]
        return prompts

    def check(self, config: Config | None = None) -> tuple[Config, Constitution, Templates, list[dict], ProbeSet]:
        """Validate everything a run needs, before any model loads: the config (with any overrides
        already applied), the constitution, templates, prompt pool, the warm start's demonstrations
        when it is on, the probes, and TRL's own checks of [grpo] and [sft]. Returns what it loaded."""
        from loop.config import grpo_args, sft_args

        config = config or self.config()
        constitution = self.constitution()
        for principle in constitution.principles:  # a custom check's import path must resolve now
            if principle.check and principle.check["type"] == "custom":
                import_custom_check(principle)
        templates = self.templates(constitution)
        pool = read_pool(self.pool_path(config), constitution)
        if config.train.warm_start and config.train.judgment_epochs and not constitution.judge_training_pairs():
            raise LoopError("[train] judgment_epochs is above 0 but no judged principle has labeled training pairs; add "
                            "constitution/pairs/<id>.train.jsonl, or set judgment_epochs = 0", path=self.root / CONFIG_FILE,
                            line=line_of_key((self.root / CONFIG_FILE).read_text("utf-8"), "judgment_epochs", "train"))
        probes = self.probes(config, self.trained_prompts(config, pool))
        grpo_args(config, path=self.root / CONFIG_FILE)  # TRL's own checks of the [grpo] values
        sft_args(config, path=self.root / CONFIG_FILE)
        return config, constitution, templates, pool, probes


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
