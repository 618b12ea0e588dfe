"""The judge scorers (quality, bloom, disciplines from a local instruct model), the THTB combination, and their CLI.

The judge in these tests is a tiny Llama whose greedy output is known in advance: a bigram machine. Its embedding is
the identity (hidden size = vocabulary size), its one decoder layer has every projection at zero (attention and MLP
add nothing to the residual stream, so neither position nor earlier tokens matter), the final RMSNorm has weight 1,
and `lm_head[next(t), t] = 10` for a chosen table `next`. The logits after a token `t` are then 10 * sqrt(V) on
`next(t)` and 0 elsewhere: greedy decoding follows the table from the prompt's last token. With `a..f -> 1..6`,
digits -> EOS, a prompt ending in `c` gets the answer "3"; `q -> x -> EOS` gives the malformed answer "x"; and
any other last token gives EOS at once, the empty answer. With the template "{instruction}" each row's answer is
set by its instruction's last character, so batching, padding, ordering and gathering are checked against known
answers.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import math
import os

import numpy as np
import pytest
import torch
from datasets import Dataset

from curriculum.cli import main
from curriculum.scoring import load_rows, score_dataset
from curriculum.scoring.judge import AnswerCache, judge_scores, load_templates, parse_answer, prompt_ids, render
from curriculum.scoring.thtb import rank01, thtb_scores
from curriculum.toy import make_bigram_model, make_tokenizer
from processes import PYTHON, check_ok, run_process

# The next token after each token; any other token is followed by EOS.
TABLE = {**{c: str(i + 1) for i, c in enumerate("abcdef")}, **{d: "</s>" for d in "0123456789"}, "q": "x", "x": "</s>"}
TABLE[":"] = "4"  # the packaged templates end with "Answer:"


def bigram_judge(tokenizer, table=TABLE, default="</s>"):
    """A tiny Llama whose greedy continuation of a prompt follows `table` from the prompt's last token."""
    return make_bigram_model(tokenizer, lambda token: table.get(token, default))


class Counting:
    """Wraps `model.generate`: counts calls and prompts, and raises after `fail_after` calls (fault injection)."""

    def __init__(self, model, fail_after=None):
        self.model, self.fail_after, self.calls, self.rows = model, fail_after, 0, 0
        self.original = model.generate
        model.generate = self

    def __call__(self, *args, **kwargs):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt("interrupted")
        self.calls += 1
        self.rows += len(kwargs["input_ids"])
        return self.original(*args, **kwargs)

    def restore(self):
        self.model.generate = self.original


@pytest.fixture(scope="module")
def tokenizer():
    return make_tokenizer()


@pytest.fixture(scope="module")
def judge(tokenizer):
    return bigram_judge(tokenizer)


@pytest.fixture(scope="module")
def judge_dir(tmp_path_factory, judge, tokenizer):
    path = tmp_path_factory.mktemp("judge")
    judge.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


@pytest.fixture()
def instruction_template(tmp_path):
    path = tmp_path / "instruction.txt"
    path.write_text("{instruction}\n")
    return str(path)


# Prompts of different lengths (left padding matters), each ending in the character that sets its answer.
PROMPTS = ["what is a", "Explain c", "design f", "q", "list b", "zz", "plan e", "why d", "3", "x c"]
EXPECTED_BLOOM = [1, 3, 6, math.nan, 2, math.nan, 5, 4, math.nan, 3]  # q -> "x", z -> "", 3 -> ""


def rows(n=len(PROMPTS)):
    return PROMPTS[:n], [f"answer {i}" for i in range(n)]


def test_parse_answer_is_strict():
    good = {"3": 3, " 3 ": 3, "3.": 3, "3)": 3, "3\nBecause": 3, "3 - apply": 3, "6": 6, "1,": 1}
    bad = ["", "x", "Level 3", "3.5", "3rd", "three", "7", "0", "-3", "33", "3/6", "(3)"]
    for text, value in good.items():
        assert parse_answer("bloom", text) == value, text
    for text in bad:
        assert math.isnan(parse_answer("bloom", text)), text
    assert parse_answer("quality", "10") == 10 and math.isnan(parse_answer("quality", "11"))
    assert parse_answer("disciplines", "2 disciplines") == 2 and math.isnan(parse_answer("disciplines", "0"))


def test_templates_are_packaged_and_rendered_in_one_pass(tmp_path):
    templates = load_templates()
    assert sorted(templates) == ["bloom", "disciplines", "quality"]
    assert all("{instruction}" in t for t in templates.values()) and "{response}" in templates["quality"]
    assert render("I: {instruction} R: {response}\n", "say {response}", "ok") == "I: say {response} R: ok"
    bad = tmp_path / "bad.txt"
    bad.write_text("no placeholder")
    with pytest.raises(ValueError, match=r"bloom template .*bad.txt.* has no placeholder"):
        load_templates(["bloom"], {"bloom": bad})
    with pytest.raises(ValueError, match="cannot read the bloom template"):
        load_templates(["bloom"], {"bloom": tmp_path / "missing.txt"})
    with pytest.raises(ValueError, match=r"templates can be given for .* but got templates for \['style'\]"):
        load_templates(["bloom"], {"style": bad})


@pytest.mark.parametrize("batch_size", [1, 3, 10])
def test_known_answers_at_every_batch_size(judge, tokenizer, instruction_template, batch_size, caplog):
    prompts, completions = rows()
    templates = {name: instruction_template for name in ("bloom", "quality", "disciplines")}
    with caplog.at_level(logging.WARNING, logger="curriculum.scoring.judge"):
        out = judge_scores(judge, tokenizer, prompts, completions, ["bloom", "quality", "disciplines"],
                           templates=templates, batch_size=batch_size, progress=False)  # fmt: skip
    for name in ("bloom", "quality", "disciplines"):
        np.testing.assert_array_equal(out[name], EXPECTED_BLOOM, err_msg=name)
    warnings = [r.getMessage() for r in caplog.records]
    assert any("'bloom': 3 of 10 answers did not parse" in w and "'x'" in w for w in warnings), warnings


def test_packaged_template_plain_and_chat(judge, tokenizer):
    prompts, completions = rows(3)
    out = judge_scores(judge, tokenizer, prompts, completions, ["bloom"], progress=False)
    np.testing.assert_array_equal(out["bloom"], [4, 4, 4])  # the plain template ends with "Answer:" -> "4"
    assert prompt_ids(tokenizer, "a b") == tokenizer("a b")["input_ids"]  # plain: the tokenizer's own specials
    with_chat = copy.deepcopy(tokenizer)  # the same tokenizer, with a chat template
    with_chat.chat_template = (
        "{% for m in messages %}U {{ m['content'] }} {% endfor %}{% if add_generation_prompt %}A e{% endif %}"
    )
    assert tokenizer.decode(prompt_ids(with_chat, "hi")) == "U hi A e"
    out = judge_scores(judge, with_chat, prompts, completions, ["bloom"], progress=False)
    np.testing.assert_array_equal(out["bloom"], [5, 5, 5])  # the generation prompt ends with "e" -> "5"


def test_malformed_answers_are_missing_and_counted(tokenizer):
    babbler = bigram_judge(tokenizer, table={":": "x", "x": "y", "y": "</s>"}, default="x")
    prompts, completions = rows(4)
    out = judge_scores(babbler, tokenizer, prompts, completions, ["bloom"], progress=False)
    assert np.isnan(out["bloom"]).all()


def test_interrupted_pass_resumes_from_the_cache(judge, tokenizer, instruction_template, tmp_path):
    prompts, completions = rows()
    kw = dict(templates={"bloom": instruction_template}, batch_size=3, progress=False, model_id="judge-a")
    full = judge_scores(judge, tokenizer, prompts, completions, ["bloom"], **kw)["bloom"]
    cache = tmp_path / "answers.jsonl"

    counter = Counting(judge, fail_after=2)
    with pytest.raises(KeyboardInterrupt):
        judge_scores(judge, tokenizer, prompts, completions, ["bloom"], cache=cache, **kw)
    counter.restore()
    assert len(cache.read_text().splitlines()) == 6  # two batches of 3, written before the interruption
    with open(cache, "a") as f:
        f.write('{"key": "cut sho')  # a line cut short by the interruption

    counter = Counting(judge)
    resumed = judge_scores(judge, tokenizer, prompts, completions, ["bloom"], cache=cache, **kw)["bloom"]
    counter.restore()
    np.testing.assert_array_equal(resumed, full)
    assert (counter.calls, counter.rows) == (2, 4)  # only the 4 rows not cached, in batches of 3

    counter = Counting(judge)
    again = judge_scores(judge, tokenizer, prompts, completions, ["bloom"], cache=cache, **kw)["bloom"]
    counter.restore()
    np.testing.assert_array_equal(again, full)
    assert counter.calls == 0
    records = [json.loads(line) for line in cache.read_text().splitlines() if line.startswith('{"key": "') and
               line.endswith("}")]  # fmt: skip
    assert len({r["key"] for r in records}) == 10
    assert {r["answer"] for r in records} == {"1", "2", "3", "4", "5", "6", "x", ""}

    # Another model identity, template or max_new_tokens is another question: nothing is reused.
    for change in ({"model_id": "judge-b"}, {"max_new_tokens": 3}):
        counter = Counting(judge)
        judge_scores(judge, tokenizer, prompts, completions, ["bloom"], cache=cache, **{**kw, **change})
        counter.restore()
        assert counter.rows == 10, change


def test_cache_part_files_are_folded_in(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"key": "a", "answer": "1"}\n')
    (tmp_path / "c.jsonl.part1").write_text('{"key": "b", "answer": "2"}\n{"key": "c", "ans')
    cache = AnswerCache(path)
    assert cache.answers == {"a": "1", "b": "2"}
    cache.consolidate()
    assert not (tmp_path / "c.jsonl.part1").exists() and AnswerCache(path).answers == {"a": "1", "b": "2"}
    with pytest.raises(ValueError, match="should be a file"):
        AnswerCache(tmp_path)


def test_rank01_and_thtb_formula():
    np.testing.assert_allclose(rank01([2.0, 1.0, 2.0, np.nan, 5.0]), [0.5, 0.0, 0.5, np.nan, 1.0])
    np.testing.assert_allclose(rank01([1.0, 9.0], mask=np.array([False, True])), [np.nan, 0.5])
    bloom, disc = [6, 1, 3, np.nan, 2], [2, 1, 4, 3, 1]
    length, cluster = [0.5, 0.9, 0.1, 0.2, 0.3], [0.3, 0.2, 0.1, 0.4, 0.9]
    quality = [8, 9, 5, 7, 4]  # the last row is filtered out (under 5)
    got = thtb_scores({"bloom": bloom, "disciplines": disc, "length": length, "cluster": cluster}, quality=quality)
    # Ranks among the 4 kept rows, scaled to [0, 1] (ties averaged); bloom is missing for row 3.
    r_bloom = [1.0, 0.0, 0.5, np.nan]
    r_disc = [1 / 3, 0.0, 1.0, 2 / 3]
    r_len = [2 / 3, 1.0, 0.0, 1 / 3]
    r_clu = [2 / 3, 1 / 3, 0.0, 1.0]
    expected = []
    for i in range(4):
        intrinsic = np.nanmean([r_bloom[i], r_disc[i]])
        expected.append((intrinsic + (r_len[i] + r_clu[i]) / 2) / 2)
    np.testing.assert_allclose(got, expected + [np.nan])
    assert np.isnan(thtb_scores({"length": length}, quality=[np.nan] * 5)).all()
    with pytest.raises(ValueError, match="components should be some of"):
        thtb_scores({"loss": length})


def test_score_dataset_thtb_writes_its_inputs_then_thtb(judge, tokenizer, tmp_path):
    qt, bt = tmp_path / "q.txt", tmp_path / "b.txt"
    qt.write_text("{response}")  # quality from the response's last character
    bt.write_text("{instruction}")
    data = Dataset.from_dict({"prompt": ["what a", "why f", "how c", "who e", "which b"],
                              "completion": ["long reply f", "x e", "some d", "ok a", "fine f"]})  # fmt: skip
    templates = {"quality": str(qt), "bloom": str(bt), "disciplines": str(bt)}
    scored = score_dataset(data, ["thtb"], judge_model=judge, judge_tokenizer=tokenizer, judge_templates=templates,
                           clusters=2, progress=False)  # fmt: skip
    assert scored.column_names == ["prompt", "completion", "score_quality", "score_bloom", "score_disciplines",
                                   "score_length", "score_cluster", "cluster_id", "score_thtb"]  # fmt: skip
    assert list(scored["score_quality"]) == [6, 5, 4, 1, 6] and list(scored["score_bloom"]) == [1, 6, 3, 5, 2]
    parts = {k: scored["score_" + k] for k in ("bloom", "disciplines", "length", "cluster")}
    np.testing.assert_allclose(scored["score_thtb"], thtb_scores(parts, quality=scored["score_quality"]))
    assert np.isnan(scored["score_thtb"][2]) and np.isnan(scored["score_thtb"][3])  # quality 4 and 1 < 5
    with pytest.raises(ValueError, match=r"need a local instruct model as judge: pass judge_model=.*--judge-model"):
        score_dataset(data, ["bloom"])


def test_judge_and_thtb_columns_serve_as_curriculum_priors(judge, tokenizer, instruction_template):
    from curriculum import CurriculumConfig
    from curriculum.core import Curriculum

    prompts, completions = rows()
    templates = {name: instruction_template for name in ("quality", "bloom", "disciplines")}
    scored = score_dataset(Dataset.from_dict({"prompt": prompts, "completion": completions}), ["thtb"],
                           judge_model=judge, judge_tokenizer=tokenizer, judge_templates=templates, clusters=2,
                           quality_threshold=2, progress=False)  # fmt: skip
    assert np.isnan(scored["score_thtb"]).sum() == 4  # quality 1 (row 0) and the 3 missing answers
    for column in ("score_quality", "score_bloom", "score_disciplines", "score_thtb"):
        curriculum = Curriculum.from_dataset(CurriculumConfig.from_dict({"prior_column": column}), scored)
        weights = curriculum.weights(0)
        assert weights.shape == (10,) and np.isfinite(weights).all() and weights.sum() > 0, column
        assert len(np.unique(np.round(weights, 12))) > 1, column  # the prior tells the rows apart


def test_cli_judge_score_and_select_by_thtb(tmp_path, judge_dir, instruction_template, capsys):
    src = tmp_path / "train.jsonl"
    Dataset.from_dict({"prompt": PROMPTS, "completion": [f"reply {i} d" for i in range(10)]}).to_json(src)
    out = tmp_path / "scored.jsonl"
    args = ["score", str(src), str(out), "--scorer", "thtb", "--judge-model", judge_dir, "--clusters", "2",
            "--judge-template", f"bloom={instruction_template}", "--judge-batch-size", "4",
            "--no-progress"]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "score_bloom: 3 of 10 judge answers did not parse" in printed
    assert "score_quality: 0 of 10" in printed  # the packaged quality template: "Answer:" -> "4"
    assert "score_thtb: 0 of 10 rows pass the quality filter (quality >= 5)" in printed
    cache = str(out) + ".judge_cache.jsonl"
    assert f"judge answers cached in {cache}" in printed and len(open(cache).read().splitlines()) == 30
    scored = load_rows(out)
    assert [None if v is None or math.isnan(v) else v for v in scored["score_bloom"]] == [
        None if math.isnan(v) else v for v in EXPECTED_BLOOM
    ]
    assert all(v is None or math.isnan(v) for v in scored["score_thtb"])

    # No row passes at 5; at 4 all do: select recomputes thtb from its input columns.
    sel = tmp_path / "sel.jsonl"
    assert main(["select", str(out), str(sel), "--by", "thtb", "--budget", "3"]) == 2
    assert "--budget 3 exceeds the 0 rows that have a thtb score" in capsys.readouterr().err
    assert main(["select", str(out), str(sel), "--by", "thtb", "--budget", "3", "--quality-threshold", "4"]) == 0
    assert "the 3 of 10 rows with the highest score_thtb" in capsys.readouterr().out
    expected = thtb_scores({k: scored["score_" + k] for k in ("bloom", "disciplines", "length", "cluster")},
                           quality=scored["score_quality"], quality_threshold=4)  # fmt: skip
    top = sorted(np.argsort(-expected, kind="stable")[:3].tolist())
    assert list(load_rows(sel)["prompt"]) == [PROMPTS[i] for i in top]


@pytest.mark.slow
def test_the_cli_reads_the_one_scorer_registry_without_loading_torch():
    import subprocess
    import sys

    code = ("import sys; from curriculum import cli; from curriculum.scoring import registry; "
            "assert cli.SCORERS is registry.SCORERS; "
            "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_cli_judge_errors(tmp_path, judge_dir, capsys):
    src = tmp_path / "train.jsonl"
    Dataset.from_dict({"prompt": ["a"], "completion": ["b"]}).to_json(src)
    out = str(tmp_path / "o.jsonl")
    assert main(["score", str(src), out, "--scorer", "thtb"]) == 2
    assert "scorer(s) ['thtb'] need --judge-model DIR" in capsys.readouterr().err
    assert main(["score", str(src), out, "--scorer", "bloom", "--judge-model", str(tmp_path / "none")]) == 2
    assert "--judge-model should be a local model directory" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["score", str(src), out, "--scorer", "bloom", "--judge-template", "style=x.txt"])
    assert "--judge-template: should be NAME=FILE with NAME one of ['quality', 'bloom', 'disciplines']" in (
        capsys.readouterr().err
    )
    assert main(["score", str(src), out, "--scorer", "bloom", "--judge-model", judge_dir,
                 "--judge-template", "quality=x.txt"]) == 2  # fmt: skip
    assert "--judge-template given for ['quality'], but no such scorer" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["score", str(src), out, "--scorer", "thtb", "--quality-threshold", "high"])
    assert "--quality-threshold: should be a number, but got 'high'" in capsys.readouterr().err
    assert main(["select", str(src), out, "--by", "thtb", "--budget", "1"]) == 2
    assert "--by thtb needs a score_thtb column or some of the columns" in capsys.readouterr().err
    assert main(["select", str(src), out, "--by", "prompt", "--budget", "1", "--quality-threshold", "3"]) == 2
    assert "--quality-threshold applies to --by thtb only" in capsys.readouterr().err


@pytest.mark.slow
def test_two_processes_give_the_same_bloom_column_as_one(tmp_path, judge_dir, instruction_template):
    src = tmp_path / "train.jsonl"
    prompts = PROMPTS + [p + " c" for p in PROMPTS[:5]]  # 15 rows: the processes get 8 and 7
    Dataset.from_dict({"prompt": prompts, "completion": ["r"] * 15}).to_json(src)
    common = ["--scorer", "bloom", "--judge-model", judge_dir, "--judge-template", f"bloom={instruction_template}",
              "--judge-batch-size", "3", "--no-progress"]  # fmt: skip
    assert main(["score", str(src), str(tmp_path / "one.jsonl"), *common]) == 0
    cmd = [PYTHON, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "curriculum.cli", "score", str(src), str(tmp_path / "two.jsonl"), *common]  # fmt: skip
    out = check_ok(run_process(cmd, 300, env={"OMP_NUM_THREADS": "1"}))
    assert out.count("two.jsonl: 15 rows") == 1 and "score_bloom: 3 of 15 judge answers did not parse" in out
    one, two = load_rows(tmp_path / "one.jsonl"), load_rows(tmp_path / "two.jsonl")
    expected = EXPECTED_BLOOM + [3, 3, 3, 3, 3]
    for scored in (one, two):
        assert list(scored["prompt"]) == prompts
        got = [math.nan if v is None else v for v in scored["score_bloom"]]
        np.testing.assert_array_equal(got, expected)
    cache = str(tmp_path / "two.jsonl") + ".judge_cache.jsonl"
    assert len(open(cache).read().splitlines()) == 15  # both processes' parts folded into one file
    assert not [f for f in os.listdir(tmp_path) if ".part" in f]


def test_benchmark_thtb_strategies(tmp_path):
    """The learning benchmark's THTB strategies: the noise judge's answers all parse, the static selection is the
    hardest half by thtb among the rows that pass the filter, and the online ones get the thtb prior column."""
    from benchmarks.learning.run import SIZES, STRATEGIES, THTB_PRIOR, Bench, _training_rows

    bench = Bench(SIZES["tiny"], seed=0, workdir=str(tmp_path)).prepare(warm_up=False)
    pool = bench.pool("clean")
    values = bench.thtb("clean", "judge")
    kept = np.isfinite(values)
    assert 0 < kept.sum() < len(pool)  # the noise judge's quality filter drops some rows, not all
    extrinsic = bench.thtb("clean", "extrinsic")
    assert np.isfinite(extrinsic).all() and ((extrinsic >= 0) & (extrinsic <= 1)).all()
    chosen, _ = _training_rows(bench, dataclasses.replace(STRATEGIES["thtb_static"], pool="clean"), 64)
    n = min(int(kept.sum()), round(len(pool) / 2))
    expected = sorted(np.argsort(-np.where(kept, values, -np.inf), kind="stable")[:n].tolist())
    assert list(chosen["prompt"]) == [pool["prompt"][i] for i in expected]
    data, _ = _training_rows(bench, dataclasses.replace(STRATEGIES["online_thtb_extrinsic_prior"], pool="clean"), 64)
    np.testing.assert_allclose(data[THTB_PRIOR], extrinsic)
