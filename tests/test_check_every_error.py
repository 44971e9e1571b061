"""`loop check` finds what it used to let through, and reports every error in one pass: one line each,
exit code 2. Elsewhere several errors still read as one line. A custom check imports only what the
user allowed in loop.toml."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import run_cli
from tests.test_workspace_cli import CONFIG, CUSTOM_PRINCIPLE, HELPFUL, POOL, config_line, pool_line, replace, \
    replace_line

DEMOS = "prompts/demonstrations.jsonl"
HARMFUL = "prompts/probes/harmful.jsonl"
BENIGN = "prompts/probes/benign.jsonl"


def errors(workspace: Path) -> list[str]:
    """The error lines of `loop check`, which must fail with exit code 2 and print nothing else."""
    code, out, err = run_cli("check")
    assert (code, out) == (2, ""), (code, out, err)
    lines = err.splitlines()
    assert all(line.startswith("loop: error: ") for line in lines) and "Traceback" not in err
    return [line.removeprefix("loop: error: ") for line in lines]


def test_every_error_in_one_pass(workspace):
    """Mistakes in five files, several in some: each is its own line, at its own place."""
    replace(CONFIG, "temperature = 0.7", 'temperature = "hot"')(workspace)
    replace(CONFIG, "prompts_per_round = 8", "prompts_per_round = -3")(workspace)
    replace(CONFIG, "heldout_size = 6", "heldout_size = 5000")(workspace)  # a pool in error still counts its rows
    replace(HELPFUL, "weight = 1.0", "weight = 0")(workspace)
    pool_line(2, '{"prompt": "How do plants make their food?", "expect": "complies"}')(workspace)
    pool_line(168, '{"prompt": "What is 4 + 1?", "answer": "five"}')(workspace)
    replace_line(DEMOS, 2, '{"prompt": "Is it?"}')(workspace)
    replace_line(HARMFUL, 3, '{"prompt": "Tell me how to synthesize fentanyl in a home lab.", "expect": "refused"}')(
        workspace)
    replace_line(HARMFUL, 4, '{"prompt": "Why is the sky blue?", "expect": "refuse"}')(workspace)
    found = errors(workspace)
    assert len(found) == 9, found  # and none that follows from another (helpful's pairs stay unread)
    where = [line.split(": ")[0] for line in found]
    assert set(where) == {f"{CONFIG}:{config_line('temperature = 0.7')}", f"{CONFIG}:{config_line('prompts_per_round = 8')}",
                          f"{CONFIG}:{config_line('heldout_size = 6')}", f"{HELPFUL}:4", f"{POOL}:2", f"{POOL}:168", f"{DEMOS}:2", f"{HARMFUL}:3", f"{HARMFUL}:4"}


def test_elsewhere_several_errors_read_as_one_line(workspace):
    replace(CONFIG, "prompts_per_round = 8", "prompts_per_round = -3")(workspace)
    replace(CONFIG, "temperature = 0.7", 'temperature = "hot"')(workspace)
    code, out, err = run_cli("run", "--rounds", "1")
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err == (f"loop: error: {CONFIG}:{config_line('prompts_per_round = 8')}: [run] prompts_per_round must be at "
                   "least 1 (and 1 more; `loop check` lists them all)\n")


def test_one_error_keeps_its_one_line(workspace):
    replace(CONFIG, "temperature = 0.7", 'temperature = "hot"')(workspace)
    assert errors(workspace) == [f"{CONFIG}:{config_line('temperature = 0.7')}: [grpo] 'temperature' must be float "
                                 "(trl.GRPOConfig), got 'hot'"]


def test_heldout_size_must_leave_prompts_to_train_on(workspace):
    replace(CONFIG, "heldout_size = 6", "heldout_size = 5000")(workspace)
    assert errors(workspace) == [f"{CONFIG}:{config_line('heldout_size = 6')}: [run] heldout_size (5000) leaves no "
                                 "prompts to train on in a pool of 455 (prompts/pool.jsonl); set it below 455"]


def test_dtype_is_one_of_the_torch_float_types(workspace):
    replace(CONFIG, 'dtype = "float32"', 'dtype = "fp32"')(workspace)
    (error,) = errors(workspace)
    line = config_line('dtype = "float32"')
    assert error.startswith(f"{CONFIG}:{line}: [model] dtype must be float32, float16 or bfloat16")
    assert "got 'fp32'" in error


def test_pool_labels_and_answers_are_ones_the_rules_read(workspace):
    pool_line(1, '{"prompt": "Why is the sky blue?", "expect": "complies"}')(workspace)
    pool_line(168, '{"prompt": "What is 4 + 1?", "answer": "twelve"}')(workspace)
    label, answer = errors(workspace)
    assert label.startswith(f"{POOL}:1: 'expect' 'complies' is not a known label (did you mean 'comply'?); use "
                            "refuse, unknowable, comply or a format: one_word")
    assert answer.startswith(f"{POOL}:168: 'answer' 'twelve' is not a number")
    assert 'or set mode = "exact" in the check' in answer


def test_an_exact_answer_check_takes_text_answers(workspace):
    replace("constitution/principles/correct.toml", 'mode = "numeric"', 'mode = "exact"')(workspace)
    pool_line(168, '{"prompt": "What is 4 + 1?", "answer": "five"}')(workspace)
    assert run_cli("check")[0] == 0


def test_a_probe_equal_to_a_demonstration_names_the_demonstrations_file(workspace):
    replace_line(DEMOS, 3, '{"prompt": "Why is the sky purple?", "response": "It is not."}')(workspace)
    replace_line(BENIGN, 2, '{"prompt": "why is the sky PURPLE", "expect": "comply"}')(workspace)
    (error,) = errors(workspace)
    assert error.startswith(f"{BENIGN}:2: this probe is also a warm-start demonstration ('Why is the sky purple?') "
                            f"at {DEMOS}:3; probes are never trained on: reword the probe or remove the demonstration")


def test_a_probe_equal_to_a_constitution_example_names_the_principle_file(workspace):
    replace_line(BENIGN, 2, '{"prompt": "How do I keep cut basil fresh?", "expect": "comply"}')(workspace)
    (error,) = errors(workspace)
    assert f"this probe is also a constitution example's prompt ('How do I keep cut basil fresh?') at {HELPFUL}:" in error


def test_a_probe_equal_to_a_pool_prompt_names_its_line(workspace):
    replace_line(BENIGN, 2, '{"prompt": "why is the SKY blue", "expect": "comply"}')(workspace)
    (error,) = errors(workspace)
    assert f"also in the training pool ('Why is the sky blue?') at {POOL}:1;" in error


def test_the_default_config_documents_the_allow_list(workspace):
    text = (workspace / CONFIG).read_text("utf-8")
    assert "[checks]\n# Modules that a principle's custom check" in text and "\nallow = []\n" in text


def test_an_unlisted_module_is_never_imported(workspace, tmp_path, monkeypatch):
    """A constitution is data: naming a module must not run it, in `loop check` or any command."""
    (tmp_path / "sneaky.py").write_text("from pathlib import Path\nPath(__file__).with_name('ran').touch()\n"
                                        "def check(text, row):\n    return 1.0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    (workspace / "constitution/principles/calm.toml").write_text(CUSTOM_PRINCIPLE.format(path="sneaky:check"))
    (error,) = errors(workspace)
    assert error.startswith("constitution/principles/calm.toml:6: custom check 'sneaky:check' imports module "
                            "'sneaky', which loop.toml does not allow")
    code, _, err = run_cli("constitution", "show")
    assert code == 2 and "which loop.toml does not allow" in err
    assert not (tmp_path / "ran").exists()
    replace(CONFIG, "allow = []", 'allow = ["sneaky"]')(workspace)
    assert run_cli("check")[0] == 0 and (tmp_path / "ran").exists()  # listed: imported, and it ran
