"""The main job (pipelines/run_recipe.py) end to end on a tiny text-file recipe:
corpus → training → test figures (seen and unseen sentences) → a sample, then a
second call that picks up the finished run instead of starting again."""

import subprocess
import sys

from helpers import REPO, TINY_MODEL, TINY_TRAIN

# 60 distinct sentences: enough for the automatic sentence holdout (50 or more)
SENTENCES = [f"{verb} the {thing} {n}" for verb in ("open", "close", "check")
             for thing in ("door", "window") for n in ("one", "two", "three", "four", "five",
                                                        "six", "seven", "eight", "nine", "ten")]


def run_recipe(overrides: list[str]) -> subprocess.CompletedProcess:
    args = [sys.executable, str(REPO / "pipelines" / "run_recipe.py"), "--config", str(REPO / "configs" / "commands.yaml")]
    for override in overrides:
        args += ["--set", override]
    return subprocess.run(args, capture_output=True, text=True, timeout=900, cwd=REPO)


def test_the_main_job_runs_to_the_end_and_resumes(tmp_path):
    text = tmp_path / "phrases.txt"
    text.write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    overrides = [
        "name=recipe_test", f"run_dir={tmp_path / 'run'}", f"data.cache_dir={tmp_path / 'cache'}",
        "data.num_workers=1", "corpus.grammar=null", f"corpus.text_file={text}", f"corpus.out_dir={tmp_path / 'corpus'}",
        "corpus.n_train=48", "corpus.n_dev=8", "corpus.n_test=12", "corpus.engines=[espeak-ng]",
        *TINY_MODEL, "model.time_reduction=2", *TINY_TRAIN, "train.epochs=1",
    ]
    first = run_recipe(overrides)
    assert first.returncode == 0, first.stderr[-3000:]
    lines = first.stdout.splitlines()
    assert any(line.startswith("test WER ") and "(12 utterances" in line for line in lines), first.stdout
    assert any(line.strip().startswith("unseen sentences: WER") for line in lines), first.stdout
    assert any(line.strip().startswith("seen sentences: WER") for line in lines), first.stdout
    assert any(line.startswith("sample ") for line in lines) and any("transcript:" in line for line in lines)
    assert lines[-1].startswith("main job: ")

    again = run_recipe(overrides)  # the corpus is current and the run finished: nothing is made again
    assert again.returncode == 0, again.stderr[-3000:]
    assert "synth: train:" in first.stderr and "synth: train:" not in again.stderr
    assert [line for line in again.stdout.splitlines() if line.startswith("test WER")] == \
           [line for line in lines if line.startswith("test WER")]
