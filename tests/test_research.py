"""research/ and benchmarks/results/ agree with themselves: every question folder has a complete decision
record and is indexed, every run folder's recorded paths point where the run now is, every teacher a run
names exists, and no run is left in results/*/tuning (the fashion-20k preset's teacher included)."""

import json
import re
from pathlib import Path

import pytest

from mnistlab import load_config

ROOT = Path(__file__).resolve().parent.parent
RESEARCH = ROOT / "research"
HEADINGS = ["Question", "Rule", "Candidates", "Outcome", "Decision", "Date", "Commands"]
QUESTIONS = sorted(p.parent for p in RESEARCH.rglob("README.md") if p.parent != RESEARCH)
RUNS = sorted(p.parent for top in (RESEARCH, ROOT / "benchmarks" / "results") for p in top.rglob("log.txt"))


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("question", QUESTIONS, ids=rel)
def test_each_question_has_a_decision_record(question):
    text = (question / "README.md").read_text(encoding="utf-8")
    found = re.findall(r"^## (.+)$", text, re.M)
    assert found == HEADINGS, f"{rel(question)}/README.md: sections {found}, expected {HEADINGS}"
    date = text.split("## Date", 1)[1].split("## Commands", 1)[0]
    assert re.search(r"\b20\d\d-\d\d-\d\d\b", date), f"{rel(question)}: the Date section has no YYYY-MM-DD"


def test_the_index_lists_every_question():
    index = (RESEARCH / "README.md").read_text(encoding="utf-8")
    linked = {(RESEARCH / target).resolve() for target in re.findall(r"\]\(([^)]+)/\)", index)}
    assert linked == {q.resolve() for q in QUESTIONS}


@pytest.mark.parametrize("run", RUNS, ids=rel)
def test_a_run_records_where_it_is_and_its_teacher_exists(run):
    first = (run / "log.txt").read_text(encoding="utf-8").splitlines()[0]
    recorded = first.removeprefix("mnistlab run ").strip()
    if not Path(recorded).is_absolute():  # written elsewhere (a temporary folder, another machine) otherwise
        assert recorded == rel(run), f"{rel(run)}/log.txt says it is {recorded}"
    config = json.loads((run / "config.json").read_text())
    teacher = config.get("teacher", "").replace("{seed}", str(config.get("seed")))
    if teacher and not Path(teacher).is_absolute():
        assert (ROOT / teacher / "model.safetensors").is_file(), f"{rel(run)}: teacher {teacher} is missing"


def test_no_run_is_left_in_results_tuning():
    left = {rel(p) for p in ROOT.glob("results/*/tuning/*") if p.is_dir()}
    assert not left, left
    teacher = ROOT / load_config("fashion-20k").teacher  # the preset's teacher lives with its decision record
    assert (teacher / "model.safetensors").is_file() and teacher.parent.name == "padding-and-distillation"
