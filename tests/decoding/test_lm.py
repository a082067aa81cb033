"""Word n-gram LMs (asr.decoding.ngram, asr.decoding.lm_build): building with interpolated modified Kneser-Ney,
ARPA writing and reading, parse errors; the CTC prefix beam search with an LM
and hot words (asr.decoding); and `asr lm build` + `asr transcribe --lm` end to end."""

import functools
import gzip
import json
import math
import random
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from asr.core.errors import DecoderError, LMError
from asr.decoding.decoders import BeamSearchDecoder, GreedyDecoder, make_decoder
from asr.decoding.lm_build import build_lm, count_ngrams, kneser_ney, kneser_ney_discounts, read_sentences
from asr.decoding.ngram import BOS, EOS, UNK, load_lm, read_arpa
from asr.text import Tokenizer


def write_lines(path: Path, lines) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def built(tmp_path, sentences, order=3, name="lm.arpa"):
    """Build an ARPA file from ``sentences`` through the public function and read it back."""
    text = write_lines(tmp_path / f"{name}.txt", sentences)
    info = build_lm(text, tmp_path / name, order=order)
    lm = read_arpa(tmp_path / name)
    # what build_lm reports is what it wrote
    assert (info.path, info.order, info.sentences) == (str(tmp_path / name), order, len(sentences))
    assert list(info.ngrams) == lm.counts() and len(info.discounts) == order
    return lm


def random_corpus(n=150, seed=0):
    rng = random.Random(seed)
    words = "turn on off the lights kitchen lamp set".split()
    return [" ".join(rng.choice(words[: rng.randint(2, len(words))]) for _ in range(rng.randint(1, 6)))
            for _ in range(n)]


def predictable(lm):
    """Every word the model can predict: the vocabulary, </s> and <unk>."""
    return [*lm.vocabulary(), EOS, UNK]


# ----------------------------------------------------------------------------
# building: known values, normalisation, the brute-force reference
# ----------------------------------------------------------------------------


def test_bigram_values_match_a_hand_computation(tmp_path):
    # <s> a b </s> / <s> a </s> / <s> b a </s>. Both orders fall back to D = 0.5, 1, 1.5.
    # unigram continuation counts: a 2 ({<s>, b}), b 2 ({<s>, a}), </s> 2 ({a, b}); total 6,
    #   gamma() = D2·3/6 = 1/2 over |V| = 4 (a, b, </s>, <unk>): p(a) = (2-1)/6 + 1/8 = 7/24, p(<unk>) = 1/8
    # after <s>: a 2, b 1 (total 3), gamma = (1 + 0.5)/3 = 1/2:
    #   p(a|<s>) = 1/3 + 7/48 = 23/48, p(b|<s>) = 0.5/3 + 7/48 = 15/48, p(</s>|<s>) = 7/48 (backoff)
    # after a: b 1, </s> 2: p(b|a) = 15/48; after b: </s> 1, a 1 (total 2, gamma 1/2): p(</s>|b) = 19/48
    lm = built(tmp_path, ["a b", "A!", "b, a"], order=2)
    expected = {("a", ()): 7 / 24, (UNK, ()): 1 / 8, ("a", (BOS,)): 23 / 48, ("b", (BOS,)): 15 / 48,
                (EOS, (BOS,)): 7 / 48, ("b", ("a",)): 15 / 48, (EOS, ("b",)): 19 / 48, ("a", ("a",)): 7 / 48}
    for (word, context), p in expected.items():
        assert lm.log10_prob(word, context) == pytest.approx(math.log10(p), abs=1e-6), (word, context)
    assert lm.sentence_log10(["a", "b"]) == pytest.approx(math.log10(23 / 48 * 15 / 48 * 19 / 48), abs=1e-6)
    assert lm.entries[(BOS,)][0] == -99  # never predicted


def test_discounts_from_counts_of_counts():
    # t1..t4 = 10, 5, 3, 2: Y = 10/20; D1 = 1 - 2Y·5/10, D2 = 2 - 3Y·3/5, D3+ = 3 - 4Y·2/3
    adjusted = [1] * 10 + [2] * 5 + [3] * 3 + [4] * 2 + [9] * 7
    (d1, d2, d3), fallback = kneser_ney_discounts(adjusted)
    assert not fallback
    assert (d1, d2, d3) == pytest.approx((0.5, 1.1, 3 - 4 / 3))
    assert kneser_ney_discounts([1, 1, 2, 3]) == ((0.5, 1.0, 1.5), True)  # no 4s: out of range → fallback


def reference_kneser_ney(sentences, order):
    """``p(word, context)``: interpolated modified Kneser-Ney evaluated per query straight
    from the definitions (slow, independent of the ARPA backoff form)."""
    padded = [(BOS, *s.split(), EOS) for s in sentences]
    grams = Counter(p[i: i + n] for p in padded for n in range(1, order + 1) for i in range(len(p) - n + 1))
    vocab = sorted({w for p in padded for w in p[1:]} | {UNK})

    @functools.lru_cache(maxsize=None)
    def adjusted(g):
        if len(g) == order or g[0] == BOS:
            return grams[g]
        return sum(1 for h in grams if len(h) == len(g) + 1 and h[1:] == g)

    @functools.lru_cache(maxsize=None)
    def discounts(n):
        return kneser_ney_discounts([adjusted(g) for g in grams if len(g) == n and g != (BOS,)])[0]

    @functools.lru_cache(maxsize=None)
    def p(word, context):
        lower = 1 / len(vocab) if context is None else p(word, context[1:] if context else None)
        if context is None:
            return lower
        n = len(context) + 1
        followers = {g: adjusted(g) for g in grams if len(g) == n and g[:-1] == context and g != (BOS,)}
        total = sum(followers.values())
        if not total:
            return lower
        d = discounts(n)
        gamma = sum(d[min(c, 3) - 1] for c in followers.values()) / total
        c = followers.get((*context, word), 0)
        return (c - d[min(c, 3) - 1]) / total + gamma * lower if c else gamma * lower

    return p, vocab


def test_arpa_model_equals_a_brute_force_reference(tmp_path):
    sentences = random_corpus(120, seed=3)
    lm = built(tmp_path, sentences, order=3)
    p, vocab = reference_kneser_ney(sentences, 3)
    assert sorted(predictable(lm)) == vocab
    contexts = [g[:-1] for g in lm.entries if len(g) == 3][:40] + [(BOS,), ("lamp", "lamp"), ("set", "off")]
    _, discounts = kneser_ney(count_ngrams(sentences, 3)[0])
    assert not discounts[2]["fallback"]  # the highest order uses real discounts here
    for context in contexts:
        for word in vocab:
            assert 10 ** lm.log10_prob(word, context) == pytest.approx(p(word, context), rel=1e-5), (context, word)


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_probabilities_sum_to_one_over_the_vocabulary(tmp_path, order):
    lm = built(tmp_path, random_corpus(), order=order)
    words = predictable(lm)
    seen = [g[:-1] for g in lm.entries if len(g) == order][:30]
    unseen = [("kitchen", "kitchen", "kitchen"), ("nope",), ("turn", "nope")]
    for context in [(), (BOS,), *seen, *unseen]:
        assert sum(10 ** lm.log10_prob(w, context) for w in words) == pytest.approx(1.0, abs=1e-5), context


def test_round_trip_keeps_every_entry(tmp_path):
    counts, _ = count_ngrams(random_corpus(), 3)
    entries, _ = kneser_ney(counts)
    lm = built(tmp_path, random_corpus(), order=3)
    assert lm.counts() == [len(c) + (1 if n == 0 else 0) for n, c in enumerate(counts)]  # + <unk>
    assert lm.entries.keys() == entries.keys()
    for gram, (logp, backoff) in entries.items():
        assert lm.entries[gram] == pytest.approx((logp, backoff), abs=1e-6)
    header = (tmp_path / "lm.arpa").read_text().splitlines()[:4]
    assert header == ["\\data\\", *[f"ngram {n}={k}" for n, k in enumerate(lm.counts(), 1)]]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left


def test_backoff_for_unseen_ngrams(tmp_path):
    lm = built(tmp_path, ["turn on the lights", "turn off the lamp", "the lamp"], order=3)
    # "lights lamp" never occurs: P(lamp | lights) = backoff(lights) · P(lamp)
    assert ("lights", "lamp") not in lm.entries
    expected = lm.entries[("lights",)][1] + lm.entries[("lamp",)][0]
    assert lm.log10_prob("lamp", ("lights",)) == pytest.approx(expected)
    # "on the lamp" unseen as a trigram but "the lamp" seen: backoff(on the) + p(lamp | the)
    assert ("on", "the", "lamp") not in lm.entries and ("the", "lamp") in lm.entries
    assert lm.log10_prob("lamp", ("on", "the")) == pytest.approx(
        lm.entries[("on", "the")][1] + lm.entries[("the", "lamp")][0])
    # a word never seen scores as <unk>
    assert lm.log10_prob("zebra", ("turn",)) == pytest.approx(lm.log10_prob(UNK, ("turn",)))


def test_sentences_from_text_and_from_a_manifest_are_normalised_alike(tmp_path, make_sine):
    text = write_lines(tmp_path / "s.txt", ["Turn on the lights at 7:30!", "", "Café crème", "Привет"])
    wav = make_sine("a.wav", seconds=0.3)
    rows = [{"audio_filepath": wav.name, "duration": 0.3, "text": "Turn on the lights at 7:30!"},
            {"audio_filepath": "missing.wav", "duration": 0.3, "text": "skipped: no audio"},
            {"audio_filepath": wav.name, "duration": 0.3, "text": "Café crème"}]
    manifest = write_lines(tmp_path / "m.jsonl", [json.dumps(r) for r in rows])
    warnings = []
    assert list(read_sentences(text, log=warnings.append)) == ["turn on the lights at seven thirty", "cafe creme"]
    assert len(warnings) == 1 and "1 line(s) left out" in warnings[0]  # the Cyrillic line
    assert list(read_sentences(manifest, log=warnings.append)) == ["turn on the lights at seven thirty",
                                                                 "cafe creme"]
    assert "missing.wav" in warnings[-1]


def test_build_refuses_empty_text_and_bad_orders(tmp_path):
    empty = write_lines(tmp_path / "empty.txt", ["", "  ", "?!"])
    with pytest.raises(LMError, match="no sentences"):
        build_lm(empty, tmp_path / "x.arpa")
    with pytest.raises(LMError, match="order"):
        build_lm(write_lines(tmp_path / "t.txt", ["a b"]), tmp_path / "x.arpa", order=0)
    with pytest.raises(LMError, match="not found"):
        build_lm(tmp_path / "nope.txt", tmp_path / "x.arpa")
    assert not (tmp_path / "x.arpa").exists()


# ----------------------------------------------------------------------------
# reading other ARPA files, and parse errors
# ----------------------------------------------------------------------------

KENLM_STYLE = """This text before \\data\\ is ignored (SRILM writes a header there)
\\data\\
ngram 1=5
ngram 2=3

\\1-grams:
-1.5\t<unk>\t0
-99\t<s>\t-0.4
-0.6\t</s>
-0.7\tgo\t-0.25
-0.9\thome\t-0.0

\\2-grams:
-0.3\t<s> go
-0.2\tgo home
-0.1\thome </s>

\\end\\
"""


@pytest.mark.parametrize("gzipped", [False, True])
def test_reads_a_kenlm_style_arpa_file(tmp_path, gzipped):
    path = tmp_path / ("k.arpa.gz" if gzipped else "k.arpa")
    if gzipped:
        path.write_bytes(gzip.compress(KENLM_STYLE.encode()))
    else:
        path.write_text(KENLM_STYLE)
    lm = load_lm(path)
    assert lm.order == 2 and lm.counts() == [5, 3]
    assert lm.sentence_log10(["go", "home"]) == pytest.approx(-0.3 - 0.2 - 0.1)
    assert lm.log10_prob("home", [BOS]) == pytest.approx(-0.4 - 0.9)  # backoff(<s>) + p(home)
    assert lm.log10_prob("go", ["home"]) == pytest.approx(-0.7)  # backoff "-0.0"
    assert lm.log10_prob("zebra", ["go"]) == pytest.approx(-0.25 - 1.5)  # backoff(go) + p(<unk>)


def test_a_model_without_unk_gives_unknown_words_minus_100(tmp_path):
    text = KENLM_STYLE.replace("ngram 1=5", "ngram 1=4").replace("-1.5\t<unk>\t0\n", "")
    lm = read_arpa(write_lines(tmp_path / "n.arpa", [text]))
    assert lm.log10_prob("zebra", ["go"]) == -100.0


VALID = """\\data\\
ngram 1=4
ngram 2=2

\\1-grams:
-1.0\t<s>\t-0.5
-0.5\ta\t-0.3
-0.7\t</s>
-1.2\t<unk>

\\2-grams:
-0.2\t<s> a
-0.1\ta </s>

\\end\\
""".splitlines()


@pytest.mark.parametrize("line, replacement, error_line, fragment", [
    (12, "-0.2\ta", 12, "expected 2 words in a 2-gram line"),
    (12, "-0.2\t<s> a\t-0.1", 12, "no backoff at the highest order"),
    (7, "-0.5", 7, "expected 1 word in a 1-gram line"),
    (7, "abc\ta\t-0.3", 7, "log10 probability 'abc' is not a number"),
    (7, "-0.5\ta\tx", 7, "backoff 'x' is not a number"),
    (7, "0.5\ta", 7, "positive log10 probability"),
    (7, "nan\ta", 7, "not a finite"),
    (13, "-0.1\t<s> a", 13, "duplicate 2-gram '<s> a'"),
    (3, "ngram 2=3", 15, "the \\2-grams: section has 2 entries but \\data\\ says 3"),
    (2, "ngram 1=5", 11, "the \\1-grams: section has 4 entries but \\data\\ says 5"),
    (2, "ngram one=4", 2, "expected 'ngram N=COUNT'"),
    (3, "ngram 3=2", 3, "expected 'ngram 2=COUNT'"),
    (11, "\\3-grams:", 11, "expected '\\2-grams:'"),
    (15, "", 15, "ends before \\end\\"),
])
def test_malformed_arpa_errors_name_the_line(tmp_path, line, replacement, error_line, fragment):
    lines = list(VALID)
    lines[line - 1] = replacement
    path = write_lines(tmp_path / "bad.arpa", lines)
    with pytest.raises(LMError) as caught:
        read_arpa(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{error_line}: "), message
    assert fragment in message
    assert "\n" not in message


def test_the_valid_file_used_for_the_errors_reads(tmp_path):
    # the base of the malformed cases above is itself fine
    lm = read_arpa(write_lines(tmp_path / "ok.arpa", VALID))
    assert lm.counts() == [4, 2]


def test_files_that_are_not_arpa(tmp_path):
    with pytest.raises(LMError, match=r"no \\data\\ line"):
        read_arpa(write_lines(tmp_path / "words.txt", ["just some text"]))
    junk = tmp_path / "junk.arpa"
    junk.write_bytes(b"\\data\\\nngram 1=1\n\xff\xfe\x00binary\n")
    with pytest.raises(LMError, match=rf"^{junk}:3: not UTF-8"):
        read_arpa(junk)
    with pytest.raises(LMError, match="not found"):
        load_lm(tmp_path / "missing.arpa")


@pytest.mark.needs_no_kenlm
def test_a_kenlm_binary_needs_the_kenlm_module(tmp_path):
    binary = tmp_path / "lm.bin"
    binary.write_bytes(b"mmap lm http://kheafield.com/code format version 5\n\0" + bytes(64))
    with pytest.raises(LMError) as caught:
        load_lm(binary)
    assert str(caught.value).startswith(f"{binary}: ")
    assert "kenlm" in str(caught.value) and "ARPA" in str(caught.value)


# ----------------------------------------------------------------------------
# beam search with the LM and hot words
# ----------------------------------------------------------------------------

TOK = Tokenizer()


def frames(*spec):
    """Log-probabilities ``[T, V]``: each frame a ``{char: probability}`` dict
    (``"_"`` is the blank); the rest of the mass spread over the other classes."""
    out = np.empty((len(spec), TOK.vocab_size))
    for t, probs in enumerate(spec):
        ids = {0 if ch == "_" else TOK.encode(ch, normalize=False)[0]: p for ch, p in probs.items()}
        rest = (1 - sum(ids.values())) / (TOK.vocab_size - len(ids))
        out[t] = np.log([ids.get(i, rest) for i in range(TOK.vocab_size)])
    return out


def spell(text, p=0.98):
    """Confident frames spelling ``text``, a blank after each character."""
    return [f for ch in text for f in ({ch: p}, {"_": p})]


def decode(decoder, log_probs):
    return decoder(log_probs[None], [len(log_probs)])[0]


def test_the_lm_fixes_a_word_greedy_gets_wrong(tmp_path):
    # "thirte", then a blank, then a frame where a second "e" (0.45) loses to the blank (0.53)
    log_probs = frames(*spell("thirte"), {"_": 0.98}, {"e": 0.45, "_": 0.53}, *spell("n"))
    lm = built(tmp_path, ["set a timer for thirteen minutes", "thirteen", "channel thirteen", "ten"])
    assert decode(GreedyDecoder(TOK), log_probs) == "thirten"
    assert decode(BeamSearchDecoder(TOK, beam_size=8), log_probs) == "thirten"
    assert decode(BeamSearchDecoder(TOK, beam_size=8, lm=lm), log_probs) == "thirteen"
    # an LM that knows neither word does not invent "thirteen"
    other = built(tmp_path, ["turn on the lights"], name="other.arpa")
    assert decode(BeamSearchDecoder(TOK, beam_size=8, lm=other), log_probs) == "thirten"


def test_scores_add_alpha_ln10_lm_and_beta_per_word(tmp_path):
    lm = built(tmp_path, ["turn on the lights", "turn off the lights", "turn on"])
    log_probs = frames(*spell("turn o"), {"n": 0.6, "f": 0.38}, {"_": 0.98}, *spell(" zz"))
    alpha, beta = 0.7, 1.3
    # only the listed characters are tried (p >= 0.05) and nothing is pruned, so both
    # searches hold the same prefixes with the same CTC probabilities
    wide = {"beam_size": 1000, "prune_log_prob": math.log(0.05)}
    plain = dict(BeamSearchDecoder(TOK, **wide).search(log_probs))
    scored = dict(BeamSearchDecoder(TOK, lm=lm, alpha=alpha, beta=beta, **wide).search(log_probs))
    spelling = math.log10(1 / 27)  # an unknown word also pays for its letters
    for text in ("turn on zz", "turn of zz"):
        words = text.split()
        lm_log10 = lm.sentence_log10(words) + sum(len(w) * spelling for w in words if w not in lm)
        assert scored[text] == pytest.approx(plain[text] + alpha * math.log(10) * lm_log10 + beta * len(words))


def test_hot_words_win_a_close_call_but_not_a_clear_one():
    close = frames({"c": 0.5, "k": 0.45}, {"_": 0.98}, *spell("at"))
    clear = frames({"c": 0.995, "k": 0.001}, {"_": 0.98}, *spell("at"))
    plain, hot = BeamSearchDecoder(TOK, beam_size=8), BeamSearchDecoder(TOK, beam_size=8, hotwords=["Kat"])
    assert decode(plain, close) == "cat"
    assert decode(hot, close) == "kat"
    assert decode(hot, clear) == "cat"
    # the partial bonus (1/3 of the weight after "k") keeps the hot word alive even with one beam
    assert decode(BeamSearchDecoder(TOK, beam_size=1, hotwords=["kat"]), close) == "kat"
    assert decode(BeamSearchDecoder(TOK, beam_size=1, hotwords=["kat"], hotword_weight=0.0), close) == "cat"


def test_make_decoder_chooses_and_checks(tmp_path):
    lm_path = tmp_path / "lm.arpa"
    build_lm(write_lines(tmp_path / "t.txt", ["turn on the lights"]), lm_path)
    assert isinstance(make_decoder(TOK), GreedyDecoder)
    beam = make_decoder(TOK, lm=lm_path, alpha=0.25)
    assert isinstance(beam, BeamSearchDecoder) and beam.lm.order == 3 and beam.alpha == 0.25
    assert make_decoder(TOK, hotwords=["Lights!"]).hotwords == {"lights"}
    with pytest.raises(DecoderError, match="language model"):
        make_decoder(TOK, beam_size=4, beta=2.0)
    with pytest.raises(DecoderError, match="beam size"):
        make_decoder(TOK, beam_size=0)
    with pytest.raises(DecoderError, match="hot word 'Привет'"):
        make_decoder(TOK, hotwords=["Привет"])
    with pytest.raises(LMError, match="not found"):
        make_decoder(TOK, lm=tmp_path / "missing.arpa")


# ----------------------------------------------------------------------------
# the command line, end to end
# ----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.needs_espeak
def test_cli_builds_an_lm_and_transcribes_with_it(cli, tmp_path):
    text = write_lines(tmp_path / "commands.txt", ["Turn on the lights.", "turn off the lights",
                                                   "turn on the kitchen lights", "set a timer for 10 minutes"])
    built_lm = cli("lm", "build", text, "--order", "3", "--out", tmp_path / "lm.arpa")
    assert built_lm.returncode == 0, built_lm.stderr
    assert "3-gram ARPA" in built_lm.stdout and "4 sentences" in built_lm.stdout
    assert read_arpa(tmp_path / "lm.arpa").sentence_log10(["set", "a", "timer", "for", "ten", "minutes"]) > -3
    wav = tmp_path / "lights.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(wav), "turn on the lights"], check=True, timeout=60)
    bad = write_lines(tmp_path / "bad.arpa", [*VALID[:6], "-0.5 a b c", *VALID[7:]])
    result = cli("transcribe", "--beam-size", "8", "--lm", tmp_path / "lm.arpa", "--alpha", "0.8",
                 "--format", "json", wav, "--lm", bad)  # the last --lm wins: a clear error first
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [f"asr: error: {bad}:7: expected 1 word in a 1-gram line, "
                                                  "found 4 fields"]
    result = cli("transcribe", "--beam-size", "8", "--lm", tmp_path / "lm.arpa", "--alpha", "0.8",
                 "--format", "json", wav)
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["text"] for line in result.stdout.splitlines()] == ["turn on the lights"]
