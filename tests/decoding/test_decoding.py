"""Greedy CTC decoding, the prefix beam search without an LM, and the WER/CER metrics
(the beam search with an LM and hot words is in test_lm.py)."""

import itertools
import math

import numpy as np
import pytest

from asr.decoding.decoders import BeamSearchDecoder, GreedyDecoder, greedy_ids, ids_to_text, log_softmax
from asr.evaluation.metrics import error_rates, utterance_errors
from asr.text import Tokenizer

V = 6


def one_hot(frames, vocab=V, noise_seed=None):
    """Scores [T, V] whose argmax per frame is ``frames``."""
    scores = np.zeros((len(frames), vocab), np.float32)
    if noise_seed is not None:
        scores += np.random.default_rng(noise_seed).uniform(-1, 1, scores.shape).astype(np.float32)
    scores[np.arange(len(frames)), frames] = 5.0
    return scores


@pytest.mark.parametrize("frames, expected", [
    ([1, 1, 1, 2, 2, 3], [1, 2, 3]),            # repeats merged
    ([0, 1, 1, 0, 0, 2, 0], [1, 2]),            # blanks dropped
    ([1, 0, 1], [1, 1]),                        # a blank separates a real repeat ("aa")
    ([1, 1, 0, 1, 1, 0, 0, 1], [1, 1, 1]),
    ([0, 0, 0, 0], []),                         # all blank → nothing
    ([4], [4]),
    ([2, 3, 2, 3], [2, 3, 2, 3]),
])
def test_greedy_ids(frames, expected):
    assert greedy_ids(one_hot(frames, noise_seed=len(frames)), len(frames)) == expected


def test_greedy_ids_length_cuts_trailing_frames():
    frames = [1, 0, 2, 3, 3, 5, 5]
    scores = one_hot(frames)
    assert greedy_ids(scores, 3) == [1, 2]
    assert greedy_ids(scores, 4) == [1, 2, 3]
    assert greedy_ids(scores, 0) == []
    assert greedy_ids(scores, len(frames)) == [1, 2, 3, 5]


def test_greedy_ids_other_blank():
    assert greedy_ids(one_hot([3, 1, 3, 1, 1, 3]), 6, blank_id=3) == [1, 1]


def test_greedy_ids_on_log_probabilities():
    scores = one_hot([2, 2, 0, 4])
    log_probs = scores - np.log(np.exp(scores).sum(axis=-1, keepdims=True))
    assert greedy_ids(log_probs, 4) == [2, 4]


def frames_for(tokenizer, text, repeat=2):
    """Frames spelling ``text``: each character ``repeat`` times, a blank between."""
    frames = []
    for ch in text:
        frames += [tokenizer.encode(ch, normalize=False)[0]] * repeat + [0]
    return frames


def test_greedy_decoder_batch():
    tok = Tokenizer()
    texts = ["hello world", "aa", "ok"]
    rows = [frames_for(tok, t) for t in texts]
    T = max(map(len, rows)) + 5
    logits = np.zeros((len(rows), T, tok.vocab_size), np.float32)
    rng = np.random.default_rng(0)
    for i, frames in enumerate(rows):
        logits[i] = rng.uniform(-1, 1, (T, tok.vocab_size))  # padding frames: arbitrary scores
        logits[i, np.arange(len(frames)), frames] = 10.0
    lengths = [len(r) for r in rows]
    assert GreedyDecoder(tok)(logits, lengths) == texts


def test_greedy_decoder_collapses_stray_spaces():
    tok = Tokenizer()
    space = tok.encode(" ", normalize=False)[0]
    frames = [space, 0] + frames_for(tok, "a") + [space, 0, space] + frames_for(tok, "b") + [space]
    logits = one_hot(frames, vocab=tok.vocab_size)[None]
    assert GreedyDecoder(tok)(logits, [len(frames)]) == ["a b"]


def test_greedy_decoder_all_blank_gives_empty_text():
    tok = Tokenizer()
    logits = one_hot([0] * 8, vocab=tok.vocab_size)[None]
    assert GreedyDecoder(tok)(logits, [8]) == [""]


@pytest.mark.parametrize("repeat_token", [False, True])
def test_beam_of_one_equals_greedy_where_it_must(repeat_token):
    # when every frame's best class holds > 0.9 of the mass, the single best prefix
    # is the best path's, so a beam of one must agree with greedy
    tok = Tokenizer(repeat_token=repeat_token)
    rng = np.random.default_rng(7)
    greedy, beam = GreedyDecoder(tok), BeamSearchDecoder(tok, beam_size=1)
    for _ in range(200):
        T = int(rng.integers(1, 50))
        logits = rng.normal(0, 1, (T, tok.vocab_size))
        logits[np.arange(T), rng.integers(0, tok.vocab_size, T)] += 9.0  # favour blanks and repeats too
        logits[rng.random(T) < 0.4, 0] += 12.0
        assert beam(logits[None], [T]) == greedy(logits[None], [T])


def test_repeat_token_needs_no_blank_between_doubled_letters():
    plain, repeat = Tokenizer(), Tokenizer(repeat_token=True)
    # one frame per character, no blanks: CTC merges "oo" without the repeat token
    for tok, expected in ((plain, "dor"), (repeat, "door")):
        frames = tok.encode("door")
        logits = one_hot(frames, vocab=tok.vocab_size)[None]
        assert GreedyDecoder(tok)(logits, [len(frames)]) == [expected]
        assert BeamSearchDecoder(tok, beam_size=4)(logits, [len(frames)]) == [expected]


def test_beam_search_spells_words_through_the_repeat_token():
    # a hot word counts only if the beam's partial word expands the repeat token ("do<repeat>r" is "door")
    tok = Tokenizer(repeat_token=True)
    logits = one_hot(tok.encode("open door"), vocab=tok.vocab_size)
    plain = BeamSearchDecoder(tok, beam_size=4).search(logits)[0]
    hot = BeamSearchDecoder(tok, beam_size=4, hotwords=["door"], hotword_weight=2.0).search(logits)[0]
    assert plain[0] == hot[0] == "open door"
    assert hot[1] - plain[1] == pytest.approx(2.0)


def test_beam_search_scores_are_exact_ctc_probabilities():
    # with no pruning, each transcript's score is log of the sum over every alignment
    # (enumerated here: 4 classes, 6 frames)
    tok = Tokenizer("ab ")
    logits = np.random.default_rng(3).normal(0, 1.5, (6, tok.vocab_size))
    log_probs = log_softmax(logits)
    exact: dict[tuple, float] = {}
    for path in itertools.product(range(tok.vocab_size), repeat=len(log_probs)):
        ids = tuple(greedy_ids(np.eye(tok.vocab_size)[list(path)], len(path)))
        exact[ids] = exact.get(ids, 0.0) + math.exp(sum(log_probs[t, c] for t, c in enumerate(path)))
    best_per_text: dict[str, float] = {}
    for ids, p in exact.items():
        text = ids_to_text(tok, ids)
        best_per_text[text] = max(best_per_text.get(text, 0.0), p)
    found = BeamSearchDecoder(tok, beam_size=10**6, prune_log_prob=-math.inf).search(logits)
    assert {text for text, _ in found} == set(best_per_text)
    for text, score in found:
        assert score == pytest.approx(math.log(best_per_text[text]), abs=1e-9)
    assert found[0][0] == max(best_per_text, key=best_per_text.get)
    # a small beam still finds the best transcript here, and decodes a padded batch row by row
    beam = BeamSearchDecoder(tok, beam_size=4)
    padded = np.concatenate([logits, np.random.default_rng(4).normal(0, 1, (3, tok.vocab_size))])[None]
    assert beam(padded, [len(logits)]) == [found[0][0]]


# ----------------------------------------------------------------------------
# metrics
# ----------------------------------------------------------------------------


def test_one_substitution_in_four_words():
    # "down" → "up": no letters in common, 2 substitutions + 2 deletions over 16 characters
    rates = error_rates(["the cat sat down"], ["the cat sat up"])
    assert rates["wer"] == pytest.approx(1 / 4)
    assert rates["cer"] == pytest.approx(4 / 16)


def test_perfect_match():
    assert error_rates(["turn on the lights", "two"], ["turn on the lights", "two"]) == {"wer": 0.0, "cer": 0.0}


def test_corpus_level_rates_pool_the_edits():
    # 1 substitution (b→x) + 1 insertion (f) over 5 reference words;
    # characters: 1 substitution + 2 insertions (" f") over 5 + 3 = 8 characters
    rates = error_rates(["a b c", "d e"], ["a x c", "d e f"])
    assert rates["wer"] == pytest.approx(2 / 5)
    assert rates["cer"] == pytest.approx(3 / 8)


def test_deletion_and_insertion():
    # "one two three" → "one three": one deletion in 3 words
    assert error_rates(["one two three"], ["one three"])["wer"] == pytest.approx(1 / 3)
    # "one" → "one one one": two insertions over 1 word
    assert error_rates(["one"], ["one one one"])["wer"] == pytest.approx(2.0)


def test_empty_hypothesis_is_all_deletions():
    rates = error_rates(["one two three"], [""])
    assert rates["wer"] == pytest.approx(1.0)
    assert rates["cer"] == pytest.approx(1.0)
    # mixed with a correct utterance: 3 deleted words out of 5
    rates = error_rates(["one two three", "four five"], ["", "four five"])
    assert rates["wer"] == pytest.approx(3 / 5)


def test_error_rates_input_checks():
    with pytest.raises(ValueError):
        error_rates(["a"], ["a", "b"])
    assert error_rates([], []) == {"wer": 0.0, "cer": 0.0}


def test_utterance_errors():
    errs = utterance_errors("a b c d", "a x c")  # one substitution, one deletion
    assert errs["word_errors"] == 2
    assert errs["ref_words"] == 4
    assert errs["wer"] == pytest.approx(0.5)
    # "abcd" letters: b→x is one substitution, "d" and the space before it deleted: 3 of 7
    assert errs["cer"] == pytest.approx(3 / 7)
    empty = utterance_errors("hello there", "")
    assert empty["word_errors"] == 2 and empty["wer"] == pytest.approx(1.0) and empty["cer"] == pytest.approx(1.0)
