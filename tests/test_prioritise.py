"""Prioritised screening: labels from decisions, ranking, queue ordering, stopping estimate."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import hypergeom

from livingreview.screening import prioritise as pr
from livingreview.screening import relevance as rel
from livingreview.screening import stopping as st
from livingreview.screening import vectorise as vz
from livingreview.screening.prioritise import PrioritiseSettings

RELEVANT = [
    "WhatsApp messaging for glycemic control in type 2 diabetes: a randomised trial",
    "WeChat based education lowers HbA1c in diabetes: randomized controlled trial",
    "Social media support group and HbA1c in type 2 diabetes, a randomized trial",
    "Telegram reminders improve glycemic control in diabetes: a randomised trial",
    "Instant messaging peer support for diabetes self-management: randomized trial",
    "LINE app coaching and HbA1c in adults with type 2 diabetes: randomised trial",
]
IRRELEVANT = [
    "Bird migration routes across the Sahara",
    "Soil bacteria in alpine meadows",
    "Jazz improvisation and working memory",
    "Corrosion of bridge steel in coastal air",
    "Medieval trade routes of the Hanseatic league",
    "Volcanic ash and aviation safety",
    "Coral reef bleaching in warm years",
    "Sleep of honey bees in winter",
    "Urban heat islands and tree cover",
    "Glacier retreat in the Alps since 1850",
    "Pottery glazes of the Song dynasty",
    "Sea otter foraging and kelp forests",
]


def store() -> pd.DataFrame:
    titles = RELEVANT + IRRELEVANT
    ids = [f"r{i:02d}" for i in range(len(titles))]
    mesh = ["Diabetes Mellitus, Type 2; Glycated Hemoglobin" if i < 6 else "" for i in range(18)]
    return pd.DataFrame(
        {"record_id": ids, "title": titles, "abstract": "", "mesh_terms": mesh}
    ).set_index("record_id", drop=False)


def decisions_for(labels: dict[str, str]) -> pd.DataFrame:
    ids = list(store()["record_id"])
    return pd.DataFrame(
        {
            "record_id": ids,
            "stage": "title_abstract",
            "status": [labels.get(r, "unscreened") for r in ids],
        }
    )


SMALL = {"min_includes": 2, "min_excludes": 4}


def test_labels_use_final_title_abstract_status_only() -> None:
    d = pd.DataFrame(
        {
            "record_id": ["a", "b", "c", "d", "a"],
            "stage": ["title_abstract"] * 4 + ["full_text"],
            "status": ["included", "excluded", "awaiting", "conflict", "excluded"],
        }
    )
    assert pr.labels_from_decisions(d).to_dict() == {"a": 1, "b": 0}


def test_rank_puts_the_relevant_records_first() -> None:
    labelled = {"r00": 1, "r01": 1, "r06": 0, "r07": 0, "r08": 0, "r09": 0}
    unlabelled = [f"r{i:02d}" for i in range(10, 18)] + ["r02", "r03", "r04", "r05"]
    out = pr.rank(store(), labelled, unlabelled, SMALL)
    assert out.attrs["prioritised"] is True
    assert set(out["record_id"].head(4)) == {"r02", "r03", "r04", "r05"}
    assert out["rank"].tolist() == list(range(1, 13))
    assert out["score"].is_monotonic_decreasing
    assert sorted(out["record_id"]) == sorted(unlabelled)  # nothing dropped
    prov = out.attrs["provenance"]
    assert prov["n_includes"] == 2 and prov["n_excludes"] == 4
    assert prov["scikit_learn"] and prov["settings"]["min_includes"] == 2


def test_rank_is_deterministic() -> None:
    labelled = {"r00": 1, "r01": 1, "r06": 0, "r07": 0, "r08": 0, "r09": 0}
    unlabelled = [f"r{i:02d}" for i in range(2, 6)] + [f"r{i:02d}" for i in range(10, 18)]
    a = pr.rank(store(), labelled, unlabelled, SMALL)
    b = pr.rank(store(), labelled, list(unlabelled), SMALL)
    pd.testing.assert_frame_equal(a, b)


def test_too_few_decisions_keep_the_current_order_and_say_why() -> None:
    labelled = {"r00": 1, "r06": 0, "r07": 0}
    unlabelled = ["r12", "r03", "r10"]
    out = pr.rank(store(), labelled, unlabelled, SMALL)
    assert out["record_id"].tolist() == unlabelled
    assert out["rank"].tolist() == [1, 2, 3]
    assert out["score"].isna().all()
    assert out.attrs["prioritised"] is False
    assert out.attrs["reason"] == (
        "not ranked yet: 1 includes and 2 excludes so far; the model needs at least 2 and 4"
    )


def test_disabled_keeps_the_order() -> None:
    labelled = {"r00": 1, "r01": 1, "r06": 0, "r07": 0, "r08": 0, "r09": 0}
    out = pr.rank(store(), labelled, ["r12", "r03"], {**SMALL, "enabled": False})
    assert out["record_id"].tolist() == ["r12", "r03"] and out["score"].isna().all()
    assert "enabled is false" in out.attrs["reason"]


def test_unknown_record_is_an_error() -> None:
    labelled = {"r00": 1, "r01": 1, "r06": 0, "r07": 0, "r08": 0, "r09": 0}
    with pytest.raises(KeyError, match="nope"):
        pr.rank(store(), labelled, ["nope"], SMALL)


def test_order_queue_keeps_every_row_and_ranks_within_stage() -> None:
    dec = decisions_for(
        {"r00": "included", "r01": "included", **{f"r{i:02d}": "excluded" for i in range(6, 10)}}
    )
    ta = [f"r{i:02d}" for i in (10, 11, 2, 12, 3)]
    queue = pd.DataFrame(
        {
            "record_id": ta + ["r00", "r01"],
            "stage": ["title_abstract"] * 5 + ["full_text"] * 2,
            "decision": "",
            "title": "x",
        }
    )
    out = pr.order_queue(queue, store(), dec, SMALL)
    assert len(out) == len(queue)
    assert list(out.columns) == [*queue.columns, "rank", "relevance"]
    assert out["stage"].tolist() == ["title_abstract"] * 5 + ["full_text"] * 2
    top = out[out["stage"] == "title_abstract"]
    assert set(top["record_id"].head(2)) == {"r02", "r03"}
    assert top["rank"].tolist() == [1, 2, 3, 4, 5]
    assert out.loc[out["stage"] == "full_text", "rank"].tolist() == [1, 2]
    assert out["relevance"].notna().all()
    assert top["relevance"].is_monotonic_decreasing


def test_order_queue_before_the_minimum_is_the_input_order() -> None:
    dec = decisions_for({"r00": "included", "r06": "excluded"})
    queue = pd.DataFrame({"record_id": ["r12", "r03", "r10"], "stage": "title_abstract"})
    out = pr.order_queue(queue, store(), dec)  # defaults: 5 includes, 20 excludes
    assert out["record_id"].tolist() == ["r12", "r03", "r10"]
    assert out["rank"].tolist() == [1, 2, 3]
    assert out["relevance"].isna().all()
    assert out.attrs["reason"].startswith("not ranked yet: 1 includes")


def test_order_queue_empty() -> None:
    queue = pd.DataFrame(columns=["record_id", "stage"])
    out = pr.order_queue(queue, store(), decisions_for({}), SMALL)
    assert out.empty and {"rank", "relevance"} <= set(out.columns)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"min_includes": 0}, "min_includes must be a whole number >= 1"),
        ({"min_excludes": 2.5}, "min_excludes must be a whole number"),
        ({"target_recall": 1.0}, "target_recall must be in"),
        ({"level": 0}, "level must be in"),
        ({"C": -1}, "C must be > 0"),
        ({"ngram_max": 3}, "ngram_max must be 1 or 2"),
        ({"hash_bits": 30}, "hash_bits must be a whole number in 10..24, or 64"),
        ({"model": "bert"}, "model must be one of logistic, svm, ensemble"),
        ({"n_jobs": 0}, "n_jobs must be a whole number >= 1"),
        ({"batch_model": "off"}, "batch_model must be true or false"),
    ],
)
def test_settings_reject_bad_values(params: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PrioritiseSettings.from_params(params)


def test_stopping_interval_matches_hypergeometric_inversion() -> None:
    e = st.stopping_estimate(found=30, n_unscreened=500, sample_size=100, sample_relevant=3)
    assert e.remaining == pytest.approx(3 * 400 / 100)
    # The interval holds exactly the K whose two one-sided tail probabilities exceed 2.5%.
    for K in range(3, 500 - 97 + 1):
        kept = hypergeom.cdf(3, 500, K, 100) > 0.025 and hypergeom.sf(2, 500, K, 100) > 0.025
        inside = e.remaining_low <= K - 3 <= e.remaining_high
        assert kept == inside, K
    assert e.recall == pytest.approx(33 / (33 + 12))
    assert "Callaghan" in e.method and not e.can_stop


def test_stopping_test_rejects_only_with_a_large_clean_sample() -> None:
    small = st.stopping_estimate(found=40, n_unscreened=1000, sample_size=100, sample_relevant=0)
    large = st.stopping_estimate(found=40, n_unscreened=1000, sample_size=900, sample_relevant=0)
    assert not small.can_stop and large.can_stop
    k_tar = math.floor(40 / 0.95 - 40) + 1
    assert large.p_value == pytest.approx(hypergeom.cdf(0, 1000, k_tar, 900))


def test_stopping_interval_covers_the_truth_in_simulation() -> None:
    """Coverage of the 95% interval over random samples from a known remainder."""
    rng = np.random.default_rng(3)
    N, K, n = 800, 12, 150
    population = np.zeros(N, dtype=int)
    population[:K] = 1
    hits = 0
    for _ in range(400):
        k = int(rng.permutation(population)[:n].sum())
        e = st.stopping_estimate(found=50, n_unscreened=N, sample_size=n, sample_relevant=k)
        hits += e.remaining_low <= K - k <= e.remaining_high
    assert hits / 400 >= 0.93


def test_stopping_sample_is_seeded_and_without_replacement() -> None:
    ids = [str(i) for i in range(100)]
    a = st.stopping_sample(ids, 30, seed=5)
    assert a == st.stopping_sample(ids, 30, seed=5) and len(set(a)) == 30
    assert a != st.stopping_sample(ids, 30, seed=6)


@pytest.mark.parametrize("module", [pr, rel, st, vz])
def test_doctests(module) -> None:
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_order_queue_on_the_screening_stage_s_own_outputs() -> None:
    """The contract end to end: merge() of the screening fixture, then each queue ranked."""
    import json
    from pathlib import Path

    import yaml

    from livingreview.screening.columns import UNSCREENED
    from livingreview.screening.files import sheet_paths
    from livingreview.screening.merging import merge
    from livingreview.screening.store import read_records

    data = Path(__file__).parent / "data" / "screening"
    config = yaml.safe_load((Path(__file__).parents[1] / "config" / "config.yaml").read_text())
    records = read_records(data / "records.csv")
    off = {**config["screening"], "prioritise": {"enabled": False}}
    result = merge(
        records,
        sheet_paths(data / "review"),
        data / "review" / "screening",
        off,
        json.loads((data / "summary.json").read_text()),
    )
    assert result.ranking == {
        "prioritised": False,
        "reason": "screening.prioritise.enabled is false",
    }
    labels = pr.labels_from_decisions(result.decisions)
    settings = {"min_includes": 2, "min_excludes": 2}
    assert (labels == 1).sum() >= 2 and (labels == 0).sum() >= 2
    assert result.queues
    for reviewer, queue in result.queues.items():
        out = pr.order_queue(queue, records, result.decisions, settings)
        assert out.attrs["prioritised"] is True, reviewer
        cols = [c for c in queue.columns if c not in ("rank", "relevance")]  # rewritten
        assert sorted(map(tuple, out[cols].to_numpy().tolist())) == sorted(
            map(tuple, queue[cols].to_numpy().tolist())
        )
        for _, part in out.groupby("stage", sort=False):
            assert part["rank"].tolist() == list(range(1, len(part) + 1))
            assert part["relevance"].is_monotonic_decreasing
    # the screening stage itself orders every queue (one model) when prioritise is on
    on = {**config["screening"], "prioritise": settings}
    ranked = merge(
        records,
        sheet_paths(data / "review"),
        data / "review" / "screening",
        on,
        json.loads((data / "summary.json").read_text()),
    )
    assert ranked.ranking["prioritised"] is True
    expected = pr.order_queues(
        {**result.queues, UNSCREENED: result.unscreened}, records.reset_index(drop=True),
        result.decisions, settings,
    )  # fmt: skip
    for reviewer, queue in ranked.queues.items():
        assert queue.equals(expected[reviewer]), reviewer


def test_order_queues_trains_once_and_keeps_each_queue_s_own_order_when_unranked() -> None:
    ranked_dec = decisions_for(
        {"r00": "included", "r01": "included", **{f"r{i:02d}": "excluded" for i in range(6, 10)}}
    )
    queues = {
        "alice": pd.DataFrame({"record_id": ["r10", "r02", "r11"], "stage": "title_abstract"}),
        "bob": pd.DataFrame({"record_id": ["r11", "r12", "r03", "r10"], "stage": "title_abstract"}),
    }
    out = pr.order_queues(queues, store(), ranked_dec, SMALL)
    assert out["alice"]["record_id"].iloc[0] == "r02"
    assert out["bob"]["record_id"].iloc[0] == "r03"
    # one model: a record has the same relevance in every queue
    a = dict(zip(out["alice"]["record_id"], out["alice"]["relevance"], strict=True))
    b = dict(zip(out["bob"]["record_id"], out["bob"]["relevance"], strict=True))
    assert a["r10"] == b["r10"] and a["r11"] == b["r11"]
    assert pr.n_likely_relevant(out["alice"]) == int((out["alice"]["relevance"] > 0).sum()) >= 1
    few = pr.order_queues(queues, store(), decisions_for({"r00": "included"}), SMALL)
    assert few["alice"]["record_id"].tolist() == ["r10", "r02", "r11"]
    assert few["bob"]["record_id"].tolist() == ["r11", "r12", "r03", "r10"]
    assert pr.n_likely_relevant(few["bob"]) == 0


def test_ranking_summary_names_the_model_and_counts_likely_relevant_records() -> None:
    dec = decisions_for(
        {"r00": "included", "r01": "included", **{f"r{i:02d}": "excluded" for i in range(6, 10)}}
    )
    queues = {
        "alice": pd.DataFrame({"record_id": ["r10", "r02", "r03"], "stage": "title_abstract"}),
        "bob": pd.DataFrame({"record_id": ["r11", "r12"], "stage": "title_abstract"}),
    }
    out = pr.order_queues(queues, store(), dec, SMALL)
    s = pr.ranking_summary(out)
    assert s["prioritised"] is True and s["reason"].startswith("ranked by a model trained on 2")
    assert s["model"]["n_includes"] == 2 and s["model"]["method"] == pr.METHOD
    expected = {
        name: {"title_abstract": int((q["relevance"] > 0).sum())} for name, q in out.items()
    }
    assert s["likely_relevant"] == expected and expected["alice"]["title_abstract"] >= 2


def _texts(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    words = np.array([f"w{i}" for i in range(300)] + ["Café", "naïve", "Ωmega", "a", "x_y", "B-12"])
    texts = [" ".join(rng.choice(words, size=rng.integers(0, 40))) for _ in range(n)]
    return [*texts, "", "Émile: ZOLA's café (1898)!", "ab\x01cd ef"]


@pytest.mark.parametrize(("model", "bits"), [("logistic", 20), ("svm", 64)])
def test_vectorise_is_identical_in_chunks_and_processes(
    monkeypatch: pytest.MonkeyPatch, model: str, bits: int
) -> None:
    from livingreview.screening.prioritise import vectorise

    texts = _texts(250)
    one = vectorise(texts, PrioritiseSettings(model=model, hash_bits=bits))
    monkeypatch.setattr(vz, "_CHUNK", 37)  # 7 chunks
    for n_jobs in (1, 2):
        other = vectorise(texts, PrioritiseSettings(model=model, hash_bits=bits, n_jobs=n_jobs))
        assert other.shape == one.shape and other.has_canonical_format
        np.testing.assert_array_equal(other.indptr, one.indptr)
        np.testing.assert_array_equal(other.indices, one.indices)
        np.testing.assert_array_equal(other.data, one.data)  # bit for bit, not approximately


@pytest.mark.parametrize(("model", "bits"), [("logistic", 20), ("svm", 64)])
def test_rank_s_text_gives_record_text_s_matrix(model: str, bits: int) -> None:
    """rank() reads only the records it needs and skips record_text's tidying: same matrix."""
    texts = _texts(60, seed=3)
    odd = [
        "a;b;;c",
        "x\u2028y\x85z  é\u3000ü",
        "tab\tnew\nline\x0bvt\x1cfs",
        " ; ",
        "Ωmega;naïve\u2029end",
    ]
    recs = pd.DataFrame(
        {
            "record_id": [f"r{i}" for i in range(len(texts) + len(odd))],
            "title": [*texts, *odd],
            "abstract": [None, 3.5, *odd, *texts][: len(texts) + len(odd)],
            "keywords": ["k1; k2", *[float("nan")] * (len(texts) + len(odd) - 1)],
        }
    )
    ids = list(recs["record_id"])[::-1][:50] + ["r1"]
    s = PrioritiseSettings(model=model, hash_bits=bits)
    ref = pr.vectorise(pr.record_text(recs).loc[ids].tolist(), s)
    got = pr.vectorise(vz._model_text(recs, ids), s)
    assert got.shape == ref.shape and (got != ref).nnz == 0
    np.testing.assert_array_equal(got.data, ref.data)
    np.testing.assert_array_equal(got.indices, ref.indices)
    with pytest.raises(KeyError, match="nope"):
        vz._model_text(recs, ["r1", "nope"])


@pytest.mark.parametrize(("n_rows", "bits"), [(4000, 20), (5000, 20), (4000, 24), (3, 10), (0, 20)])
def test_csr_counts_are_scipy_s_coo_to_csr_with_duplicates_summed(n_rows: int, bits: int) -> None:
    """32-bit keys (4000 rows << 20 bits) and 64-bit keys (5000 rows, 24 bits); empty."""
    from scipy import sparse

    rng = np.random.default_rng(n_rows + bits)
    row = np.sort(rng.integers(0, n_rows, 30_000)) if n_rows else np.zeros(0, dtype=np.int64)
    col = rng.integers(0, 2**bits, len(row))
    col[: len(col) // 2] %= 50  # many duplicates
    ref = sparse.csr_matrix((np.ones(len(row)), (row, col)), shape=(n_rows, 2**bits))
    ref.sum_duplicates()
    got = vz._csr_counts(row, col, n_rows, 2**bits)
    assert got.has_canonical_format and got.indices.dtype == np.int32
    np.testing.assert_array_equal(got.indptr, ref.indptr)
    np.testing.assert_array_equal(got.indices, ref.indices)
    np.testing.assert_array_equal(got.data, ref.data)


def test_tfidf_is_scikit_learn_s_bit_for_bit() -> None:
    from sklearn.feature_extraction.text import TfidfTransformer

    counts = vz._hashed_counts(_texts(300, seed=4), 2, 2**12)
    ref = TfidfTransformer(sublinear_tf=True).fit_transform(counts)
    got = vz._tfidf(counts.copy(), np.bincount(counts.indices, minlength=counts.shape[1]))
    np.testing.assert_array_equal(got.indptr, ref.indptr)
    np.testing.assert_array_equal(got.indices, ref.indices)
    np.testing.assert_array_equal(got.data, ref.data)  # bit for bit


def test_word_columns_are_scikit_learn_s_hashing_vectorizer() -> None:
    """Words: the same columns and counts as HashingVectorizer with sklearn's default tokens."""
    import re
    import unicodedata

    from sklearn.feature_extraction.text import HashingVectorizer

    token = re.compile(r"(?u)\b\w\w+\b")

    def words(text: str) -> list[str]:
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
        return token.findall(text.lower())

    texts = _texts(120, seed=1)
    ref = HashingVectorizer(
        analyzer=words, n_features=2**20, alternate_sign=False, norm=None
    ).transform(texts)
    got = vz._hashed_counts(texts, 1, 2**20)
    assert (ref != got).nnz == 0 and ref.nnz > 1000
    # the record separator inside a text does not split that record
    assert got[-1].sum() == 3  # "ab", "cd", "ef"
    # bigrams: one column per adjacent pair of words of a record, never across records
    both = vz._hashed_counts(["aa bb cc", "dd"], 2, 2**20)
    assert both[0].sum() == 3 + 2 and both[1].sum() == 1


@pytest.mark.parametrize("model", ["svm", "ensemble"])
def test_every_model_puts_the_relevant_records_first_and_names_itself(model: str) -> None:
    labelled = {"r00": 1, "r01": 1, "r06": 0, "r07": 0, "r08": 0, "r09": 0}
    unlabelled = [f"r{i:02d}" for i in range(10, 18)] + ["r02", "r03", "r04", "r05"]
    out = pr.rank(store(), labelled, unlabelled, {**SMALL, "model": model})
    assert set(out["record_id"].head(4)) == {"r02", "r03", "r04", "r05"}
    assert out["score"].head(4).min() > out["score"].tail(8).max()
    assert out.attrs["provenance"]["method"] == pr.MODELS[model]
    again = pr.rank(store(), labelled, list(unlabelled), {**SMALL, "model": model})
    pd.testing.assert_frame_equal(out, again)


def test_svm_weights_are_asreview_s_balanced_sample_weights() -> None:
    """ASReview Balanced(ratio=9.8): includes 1, excludes n1 / (9.8 n0), rescaled to mean 1."""
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0])
    raw = np.where(y == 1, 1.0, 2 / (9.8 * 6))
    np.testing.assert_allclose(rel._svm_weights(y), raw * 8 / raw.sum(), rtol=1e-15)
    assert rel._svm_weights(y)[y == 1].sum() == pytest.approx(
        9.8 * rel._svm_weights(y)[y == 0].sum()
    )


def test_balance_rounds_weighs_the_newest_update_s_decisions_up() -> None:
    """Earlier rounds taught "WhatsApp trials"; the newest update's decisions say "WeChat"."""
    recs = pd.DataFrame(
        {
            "record_id": ["a1", "a2", "a3", "a4", "b1", "b2", "n1", "n2", "q1", "q2"],
            "title": [
                "whatsapp trial diabetes",
                "whatsapp trial hba1c",
                "wechat survey diabetes",
                "wechat survey hba1c",
                "bird song",
                "bird flight",
                "wechat trial diabetes",
                "whatsapp survey diabetes",
                "wechat trial hba1c",
                "whatsapp survey hba1c",
            ],
            "first_seen": ["2024-01-01"] * 6 + ["2025-01-01"] * 4,
        }
    )
    labelled = {"a1": 1, "a2": 1, "a3": 0, "a4": 0, "b1": 0, "b2": 0, "n1": 1, "n2": 0}
    plain = pr.rank(recs, labelled, ["q1", "q2"], {"min_includes": 1, "min_excludes": 1})
    balanced = pr.rank(
        recs, labelled, ["q1", "q2"], {"min_includes": 1, "min_excludes": 1, "balance_rounds": True}
    )
    gap = dict(zip(plain["record_id"], plain["score"], strict=True))
    gap_b = dict(zip(balanced["record_id"], balanced["score"], strict=True))
    assert (
        gap_b["q1"] - gap_b["q2"] > gap["q1"] - gap["q2"]
    )  # "wechat trial" gains on "whatsapp survey"
    assert balanced.attrs["provenance"]["n_newest_round"] == 2
    assert plain.attrs["provenance"]["n_newest_round"] is None
    # without first_seen every decision weighs the same
    same = pr.rank(
        recs.drop(columns="first_seen"),
        labelled,
        ["q1", "q2"],
        {"min_includes": 1, "min_excludes": 1, "balance_rounds": True},
    )
    np.testing.assert_array_equal(same["score"].to_numpy(), plain["score"].to_numpy())
    np.testing.assert_array_equal(pr.round_weights(np.array([0, 0, 0, 0, 0, 0, 1, 1], dtype=bool)),
                                  [1, 1, 1, 1, 1, 1, 3, 3])  # fmt: skip


def test_batch_model_averages_an_in_batch_model_with_the_all_rounds_model() -> None:
    """The in-batch model learns "WeChat" from the newest update alone; it needs both classes."""
    recs = pd.DataFrame(
        {
            "record_id": ["a1", "a2", "a3", "a4", "b1", "b2", "n1", "n2", "q1", "q2"],
            "title": [
                "whatsapp trial diabetes",
                "whatsapp trial hba1c",
                "wechat survey diabetes",
                "wechat survey hba1c",
                "bird song",
                "bird flight",
                "wechat trial diabetes",
                "whatsapp survey diabetes",
                "wechat trial hba1c",
                "whatsapp survey hba1c",
            ],
            "first_seen": ["2024-01-01"] * 6 + ["2025-01-01"] * 4,
        }
    )
    labelled = {"a1": 1, "a2": 1, "a3": 0, "a4": 0, "b1": 0, "b2": 0, "n1": 1, "n2": 0}
    small = {"min_includes": 1, "min_excludes": 1}
    plain = pr.rank(recs, labelled, ["q1", "q2"], small)
    both = pr.rank(recs, labelled, ["q1", "q2"], {**small, "batch_model": True})
    assert both["record_id"].tolist() == ["q1", "q2"]
    assert both.attrs["provenance"]["n_newest_round"] == 2
    assert both.attrs["provenance"]["settings"]["batch_model"] is True
    # the combined score is the log-odds of the mean of the two models' probabilities
    X = pr.vectorise(pr.record_text(recs).tolist(), PrioritiseSettings())
    y = np.array(list(labelled.values()))
    s = PrioritiseSettings()
    full = pr.relevance_scores(X, np.arange(8), y, s)
    batch = pr.relevance_scores(X, np.array([6, 7]), y[6:], s)
    expected = pr.combined_log_odds(full, batch)[8:]
    np.testing.assert_allclose(both.set_index("record_id").loc[["q1", "q2"], "score"], expected)
    assert not np.allclose(expected, full[8:])
    # the newest update with one class only, or no first_seen: the all-rounds model alone
    one_class = {**labelled, "n2": 1}
    for r, lab in ((recs, one_class), (recs.drop(columns="first_seen"), labelled)):
        alone = pr.rank(r, lab, ["q1", "q2"], small)
        with_batch = pr.rank(r, lab, ["q1", "q2"], {**small, "batch_model": True})
        np.testing.assert_array_equal(with_batch["score"].to_numpy(), alone["score"].to_numpy())
    # every decision of one round (the first update): nothing to combine
    first = recs.assign(first_seen="2024-01-01")
    np.testing.assert_array_equal(
        pr.rank(first, labelled, ["q1", "q2"], {**small, "batch_model": True})["score"],
        plain["score"],
    )


def test_prequential_weights_move_to_the_model_that_predicted_the_batch_better() -> None:
    """A replay's Prequential: the all-rounds and in-batch models weighted by their record.

    Earlier round: "whatsapp" trials included. The batch drifts: "wechat"
    surveys are included, "whatsapp" surveys excluded. The in-batch model,
    trained on n1 and n2 alone, predicts the batch's next decisions better
    than the all-rounds model, so its weight grows with each of them; with
    the labels of the batch reversed (no drift) the all-rounds model wins.
    """
    titles = ["whatsapp trial diabetes"] * 3 + ["bird song"] * 3
    titles += ["wechat survey diabetes", "whatsapp survey diabetes"]
    titles += ["wechat survey hba1c", "whatsapp survey hba1c", "wechat survey adults"]
    texts = [f"{t} r{i}" for i, t in enumerate(titles)]
    s = PrioritiseSettings(batch_model=True)
    X = pr.vectorise(texts, s)
    current = np.array([0] * 6 + [1] * 2, dtype=bool)

    def run(batch_labels: list[int]) -> list[float]:
        y = np.array([1, 1, 1, 0, 0, 0, *batch_labels[:2]])
        cur = current.copy()
        p = rel.Prequential()
        gaps = []
        for row, label in zip((8, 9, 10), batch_labels[2:], strict=True):
            train = np.arange(len(y))
            score = pr.relevance_scores(X, train, y, s, cur, prequential=p)
            a, b = rel.model_pair_scores(X, train, y, s, cur)
            np.testing.assert_allclose(score, pr.combined_log_odds(a, b, p.log_evidence))
            expected = rel.predictive_log_likelihood(np.array([a[row], b[row]]), label)
            before = list(p.log_evidence)
            p.observe(row, label)
            np.testing.assert_allclose(np.subtract(p.log_evidence, before), expected)
            gaps.append(p.log_evidence[1] - p.log_evidence[0])
            y, cur = np.append(y, label), np.append(cur, True)
        return gaps

    drift = run([1, 0, 1, 0, 1])  # wechat included, whatsapp excluded in the batch
    assert drift[0] > 0 and drift[-1] > drift[0]  # the in-batch model gains weight
    assert drift == run([1, 0, 1, 0, 1])  # deterministic
    no_drift = run([0, 1, 0, 1, 0])
    assert no_drift[-1] < 0  # the all-rounds model keeps the larger weight
    # the weights: evidence 0 vs -50 is model a alone; equal evidence is the plain average
    a, b = np.array([2.0, -1.0]), np.array([-3.0, 4.0])
    np.testing.assert_allclose(pr.combined_log_odds(a, b, [0.0, -50.0]), a, atol=1e-9)
    np.testing.assert_array_equal(
        pr.combined_log_odds(a, b, [-7.0, -7.0]), pr.combined_log_odds(a, b)
    )


def test_svm_features_at_64_bits_are_asreview_s_tfidf_exactly() -> None:
    """model svm + hash_bits 64: ELAS u4's TfidfVectorizer(1-2 grams, sublinear, max_df 0.95).

    Same terms (no collisions, accents kept), same weights; only the column
    order differs, so the records' inner products must agree.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = [*_texts(200, seed=2), "Café naïve Ωmega: Ωmega café", "the the the"]
    texts = [t + " the" for t in texts]  # a term in every record, dropped by max_df
    ref = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, max_df=0.95).fit_transform(texts)
    got = pr.vectorise(texts, PrioritiseSettings(model="svm", hash_bits=64))
    assert got.shape == ref.shape and got.nnz == ref.nnz
    np.testing.assert_allclose((got @ got.T).toarray(), (ref @ ref.T).toarray(), atol=1e-12)
    # the logistic default strips accents: "cafe" and "café" are one term there
    plain = vz._hashed_counts(["café cafe"], 1, 2**20)
    kept = vz._hashed_counts(["café cafe"], 1, 2**20, strip_accents=False)
    assert plain.nnz == 1 and plain.sum() == 2 and kept.nnz == 2
