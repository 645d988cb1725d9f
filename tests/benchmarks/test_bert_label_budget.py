"""The pure-Python parts of benchmarks/bert_label_budget.py: budget draws, pair encoding, task plumbing."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import bert_label_budget as bench


def test_budget_draw_is_balanced_distinct_and_deterministic():
    labels = np.array([0, 1] * 1500)  # zoo_pairs' train split: 3,000 labels, half "same"
    for budget in (100, 300, 1000):
        index = bench.budget_subset(labels, budget, seed=0)
        assert len(index) == budget == len(set(index.tolist()))
        assert np.bincount(labels[index]).tolist() == [budget // 2, budget // 2]
        np.testing.assert_array_equal(index, bench.budget_subset(labels, budget, seed=0))
    odd = bench.budget_subset(labels, 301, seed=1)
    assert sorted(np.bincount(labels[odd]).tolist()) == [150, 151]
    everything = bench.budget_subset(labels, None, seed=0)
    assert sorted(everything.tolist()) == list(range(len(labels)))


def test_subset_keeps_pairs_aligned_with_labels():
    split = ({"text_a": ["a0", "a1", "a2", "a3"], "text_b": ["b0", "b1", "b2", "b3"]}, np.array([0, 1, 0, 1]))
    features, labels = bench.subset(split, np.array([3, 0]))
    assert features == {"text_a": ["a3", "a0"], "text_b": ["b3", "b0"]}
    assert labels.tolist() == [1, 0]


def test_bilstm_pair_encoding_keeps_both_sentences_apart():
    texts = bench.bilstm_texts({"text_a": ["First one.", "x"], "text_b": ["Second one.", "y"]})
    assert texts == ["First one. [SEP] Second one.", "x [SEP] y"]
    assert bench.bilstm_texts({"text": ["only"]}) == ["only"]
    with pytest.raises(ValueError, match="text_a"):
        bench.bilstm_texts({"text_a": ["lonely"]})


def test_corpus_nsp_pairs_concatenates_balanced_draws():
    from datasets.corpus import Document

    docs = [Document(f"d:{i}", "d", tuple(f"Sentence {i} number {j}." for j in range(4))) for i in range(6)]
    a, b, labels = bench.corpus_nsp_pairs(docs, seeds=(1, 2))
    assert len(a) == len(b) == len(labels) == 2 * 6 * 3  # every position of every document, once per seed
    assert labels.mean() == 0.5
    for x, y, label in zip(a, b, labels):
        same_doc = x.split()[1] == y.split()[1]
        follows = same_doc and int(y.split()[3][:-1]) == int(x.split()[3][:-1]) + 1
        assert follows == bool(label)


def test_task_choice_defaults_to_pairs():
    assert bench.TASKS[0] == "pairs" and set(bench.TASK_LOADERS) == set(bench.TASKS)


def test_table_prints_the_gap_and_the_tasks_anchors(capsys):
    assert set(bench.ANCHORS) == set(bench.TASKS)
    rows = [{"labels": 300, "pretrained": (0.70, 1.0), "scratch": (0.55, 1.0), "bilstm": (0.52, 1.0)}]
    bench.print_table("pairs", "zoo_pairs", rows, ("pretrained", "scratch", "bilstm"), 300)
    out = capsys.readouterr().out
    assert "    300   0.7000 (1.000)   0.5500 (1.000)   0.5200 (1.000)      +0.1500" in out
    assert "anchor selection" in out and "anchor bar" in out


def test_selection_split_is_a_stable_disjoint_tenth_apart_from_test():
    from datasets.corpus import Document, in_test

    docs = [Document(f"src:{i}", "src", (f"Sentence of document {i}.",)) for i in range(2000)]
    rest, held = bench.selection_split(docs, 10)
    assert len(rest) + len(held) == len(docs) and not {d.id for d in rest} & {d.id for d in held}
    assert 150 < len(held) < 250
    assert bench.selection_split(docs, 10) == (rest, held)
    # its own hash: not the test split's documents again
    assert {d.id for d in held} != {d.id for d in docs if in_test(d.id, 10)}
    assert bench.selection_split(docs, 0) == (docs, [])


def test_without_sentences_drops_every_pair_that_touches_them():
    split = ({"text_a": ["x", "held", "y"], "text_b": ["y", "z", "held"]}, np.array([1, 0, 1]))
    features, labels = bench.without_sentences(split, {"held"})
    assert features == {"text_a": ["x"], "text_b": ["y"]} and labels.tolist() == [1]


def test_finetune_schedule_counts_the_probe_within_the_steps():
    for steps, probe in ((300, 0), (300, 100), (300, 50), (200, 150)):
        hp = bench.finetune_schedule(steps, probe)
        assert hp["epochs"] * hp["steps_per_epoch"] == steps
        assert hp["probe_epochs"] * hp["steps_per_epoch"] == probe
    with pytest.raises(ValueError, match="probe steps"):
        bench.finetune_schedule(300, 300)


def test_pretrained_cache_reuses_only_files_of_the_same_settings(tmp_path, monkeypatch, capsys):
    import argparse

    calls = []

    def fake_pretrain(args, task, workdir, log=None):
        calls.append(args.pretrain_steps)
        paths = [str(tmp_path / f"work{len(calls)}" / n) for n in ("bert_pretraining.keras", "wordpiece.txt")]
        for path in paths:
            (tmp_path / f"work{len(calls)}").mkdir(exist_ok=True)
            with open(path, "w") as f:
                f.write(f"run {len(calls)}")
        log.append(f"figures of run {len(calls)}")
        return tuple(paths)

    monkeypatch.setattr(bench, "pretrain", fake_pretrain)
    args = argparse.Namespace(task="pairs", selection_percent=10, nsp_copies=4, pretrain_steps=8000, pretrain_lr=5e-4,
                              sequence_length=64, pretrained_cache=str(tmp_path / "cache"))
    model, vocab = bench.cached_pretraining(args, None, str(tmp_path))
    assert calls == [8000] and open(model).read() == "run 1" and vocab.startswith(str(tmp_path / "cache"))
    assert bench.cached_pretraining(args, None, str(tmp_path)) == (model, vocab) and calls == [8000]
    assert "reused" in capsys.readouterr().out.split("figures of run 1")[0]
    for change in ({"pretrain_steps": 500}, {"selection_percent": 0}):
        bench.cached_pretraining(argparse.Namespace(**{**vars(args), **change}), None, str(tmp_path))
    assert calls == [8000, 500, 8000] and open(model).read() == "run 3"


def test_review_clauses_split_sentences_at_commas_and_drop_scraps():
    text = "The plot was not good, but the acting was great.  I  liked it, ok.\nA fine film!"
    assert bench.review_clauses(text) == ("The plot was not good", "but the acting was great.",
                                          "I liked it", "A fine film!")  # "ok." is a scrap
