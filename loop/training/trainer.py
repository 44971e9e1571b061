"""TRL's GRPOTrainer, given the two things a self-rewarding round adds, at construction:

- the round's critique recorder (loop/training/recorder.py), which is handed each generation batch's
  advantages as TRL computed them, so every critique record carries the advantage its answer trained
  with (TRL exposes them to no callback);
- the KL reference: TRL copies the round-start policy into a frozen "ref" adapter; with `kl_reference`
  (a saved adapter, e.g. the warm start's) that adapter's weights are loaded into "ref" instead, so every
  self-rewarding round is held near what the warm start taught, not only near where the round began;
- with `greedy_member`, the first answer of each group is the policy's greedy answer (TRL's own generation
  with sampling turned off), the rest sampled: what the policy says greedily, which the probes read, is
  always among the answers the rules compare, so a refusal it would give can be rewarded even where the
  samples never refuse;
- with `replay` (loop/training/replay.py), each training loss adds the policy's weighted NLL on a few of
  the warm start's rows, so what the warm start taught is trained on, not only held near.

Nothing else of GRPO changes: rewards, the loss and the optimizer are TRL's.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from trl import GRPOTrainer

from loop.phases import phase


class SelfRewardingGRPOTrainer(GRPOTrainer):
    def __init__(self, *args, recorder=None, kl_reference: Path | str | None = None, greedy_member: bool = False,
                 replay=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.recorder = recorder
        self.greedy_member = greedy_member
        self.replay = replay
        if recorder is not None:
            self.add_callback(recorder)
        if kl_reference is not None:
            load_into_adapter(self.model, kl_reference, "ref")

    def _generate(self, *args, **kwargs):
        with phase("generation"):
            return super()._generate(*args, **kwargs)

    def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
        leads = self._greedy_leads(prompt_ids, images, multimodal_fields, num_generations)
        if not leads:
            return super()._generate_single_turn(prompt_ids, images, multimodal_fields, num_generations,
                                                 has_tool_images)
        rest = [i for i in range(len(prompt_ids)) if i not in leads]
        sampled = super()._generate_single_turn([prompt_ids[i] for i in rest], None, {}, num_generations)[0] \
            if rest else []
        with self._greedy_generation():
            greedy, _ = super()._generate_single_turn([prompt_ids[i] for i in leads], None, {}, num_generations)
        completions = dict(zip(rest, sampled)) | dict(zip(leads, greedy))
        return [completions[i] for i in range(len(prompt_ids))], None

    def _greedy_leads(self, prompt_ids, images, multimodal_fields, num_generations: int) -> list[int]:
        """Where a group begins in this process's batch, the answers made greedily: TRL repeats a prompt
        num_generations times in a row and gives each process its contiguous slice of the whole batch, so a
        group split between processes has one lead, on the first. None while evaluating, with vLLM (its
        sampling logprobs feed TRL's importance correction) or with images."""
        if not self.greedy_member or not self.model.training or self.use_vllm or images is not None \
                or multimodal_fields:
            return []
        start = self.accelerator.process_index * len(prompt_ids)
        return [i for i in range(len(prompt_ids)) if (start + i) % num_generations == 0]

    @contextmanager
    def _greedy_generation(self):
        """TRL's generation settings with sampling turned off, for the length of the block."""
        from transformers import GenerationConfig

        sampling, sampling_kwargs = self.generation_config, self.generation_kwargs
        self.generation_kwargs = {**sampling_kwargs, "do_sample": False, "temperature": None, "top_p": None,
                                  "top_k": None, "min_p": None}
        self.generation_config = GenerationConfig(**self.generation_kwargs, disable_compile=True)
        try:
            yield
        finally:
            self.generation_config, self.generation_kwargs = sampling, sampling_kwargs

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        if self.replay is None or not self.model.training:
            return loss
        # Scaled like TRL's own loss: one accumulation window's loss computations sum to one step's.
        replayed = self.replay.loss(model, self.accelerator.device)
        self._metrics["train"]["replay/nll"].append(self.accelerator.gather(replayed.detach()).mean().item())
        return loss + self.replay.weight * replayed / self.current_gradient_accumulation_steps

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
