"""TRL's GRPOTrainer, given the two things a self-rewarding round adds, at construction:

- the round's critique recorder (loop/training/recorder.py), which is handed each generation batch's
  advantages as TRL computed them, so every critique record carries the advantage its answer trained
  with (TRL exposes them to no callback);
- the KL reference: TRL copies the round-start policy into a frozen "ref" adapter; with `kl_reference`
  (a saved adapter, e.g. the warm start's) that adapter's weights are loaded into "ref" instead, so every
  self-rewarding round is held near what the warm start taught, not only near where the round began.

Nothing else of GRPO changes: sampling, rewards, the loss and the optimizer are TRL's.
"""

from __future__ import annotations

from pathlib import Path

from trl import GRPOTrainer

from loop.phases import phase


class SelfRewardingGRPOTrainer(GRPOTrainer):
    def __init__(self, *args, recorder=None, kl_reference: Path | str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.recorder = recorder
        if recorder is not None:
            self.add_callback(recorder)
        if kl_reference is not None:
            load_into_adapter(self.model, kl_reference, "ref")

    def _generate(self, *args, **kwargs):
        with phase("generation"):
            return super()._generate(*args, **kwargs)

    def _calculate_rewards(self, *args, **kwargs):
        with phase("rewards"):
            return super()._calculate_rewards(*args, **kwargs)

    def _generate_and_score_completions(self, inputs):
        out = super()._generate_and_score_completions(inputs)
        if self.recorder is not None:
            self.recorder.take_advantages(out["advantages"].tolist())
        return out


def load_into_adapter(model, path: Path | str, adapter: str) -> None:
    """Overwrite adapter `adapter` of a PeftModel with the weights saved in `path` (a LoRA adapter of the
    same configuration), or with nothing at all for path "base" (LoRA B = 0: the model without adapter);
    a model without that adapter (beta = 0: no KL term) is left as it is."""
    import torch
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    model = getattr(model, "module", model)  # unwrapped from DDP under torchrun
    if adapter not in getattr(model, "peft_config", {}):
        return
    if str(path) == "base":
        with torch.no_grad():
            for name, param in model.named_parameters():
                if f".{adapter}." in name and "lora_B" in name:
                    param.zero_()
    else:
        set_peft_model_state_dict(model, load_file(str(Path(path) / "adapter_model.safetensors")),
                                  adapter_name=adapter)
    for name, param in model.named_parameters():
        if f".{adapter}." in name:
            param.requires_grad_(False)
