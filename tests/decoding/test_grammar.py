"""Grammar-constrained decoding: JSGF and phrase lists → automaton → CTC search → sentence, tags, rejection.

The CTC scores here are made from text (``_scores``): each label for a few frames,
then a blank, so every expected answer is known without a trained model."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from asr.core.errors import DecoderError
from asr.decoding.grammar.automaton import compile_expr, load, save
from asr.decoding.grammar.decoder import GrammarDecoder, tag_slots
from asr.grammar.jsgf import Alt, GrammarError, Repeat, Tagged, Words, inline, parse_jsgf, phrase_list
from asr.decoding.grammar.search import search
from asr.text import Tokenizer

LIGHTS = """#JSGF V1.0;
grammar lights;
// a comment
public <command> = [please] (turn | switch) <state> the <room> lights;
<state> = on {action=on} | off {action=off};
<room> = /3/ kitchen {room=kitchen} | /1/ "living room" {room=living};  /* another */
"""
TOK = Tokenizer(repeat_token=True)


def _scores(text: str, tok: Tokenizer = TOK, frames: int = 2, floor: float = -8.0) -> np.ndarray:
    """Log-probability-like scores ``[T, V]`` that spell ``text``: each label ``frames`` times, then a blank."""
    rows = []
    for label in tok.encode(text):
        for _ in range(frames):
            rows.append(np.full(tok.vocab_size, floor))
            rows[-1][label] = 0.0
        rows.append(np.full(tok.vocab_size, floor))
        rows[-1][0] = 0.0
    return np.array(rows)


def _grammar(text: str = LIGHTS, tok: Tokenizer = TOK):
    return compile_expr(inline(parse_jsgf(text)), tok)


def test_jsgf_parses_rules_weights_tags_optionals_and_quoted_words():
    rules = parse_jsgf(LIGHTS)
    assert set(rules) == {"command", "state", "room"} and rules["command"][0] and not rules["room"][0]
    room = rules["room"][1]
    assert isinstance(room, Alt) and room.weights == (3.0, 1.0)
    assert room.items[1] == Tagged(Words(("living", "room")), "room=living")
    star = parse_jsgf("public <d> = (one | two)* <NULL>;")["d"][1]
    assert isinstance(star.items[0], Repeat) and star.items[0].least == 0 and star.items[0].most is None


def test_grammar_words_are_normalised_like_transcripts():
    assert parse_jsgf("public <t> = 7:30 | Café;")["t"][1].items == (Words(("seven", "thirty")), Words(("cafe",)))
    assert phrase_list(["Turn ON the lights!", "", "turn on the lights"]).items == (
        Words(("turn", "on", "the", "lights")),)


@pytest.mark.parametrize("text, message", [
    ("public <a> = <b>;", "<grammar>:1: rule <b> is not defined"),
    ("public <a> = x <b>;\n<b> = y <a>;", "<grammar>:2: recursion (<a> -> <b> -> <a>) is not supported; use * or +"),
    ("import <other.*>;\npublic <a> = x;", "<grammar>:1: import is not supported"),
    ("<a> = x;", "no public rule"),
    ("public <a> = x", "rule <a> has no closing ';'"),
    ("public <a> = x | ;", "an empty alternative"),
    ("public <a> = x;\n\npublic <a> = y;", "<grammar>:3: rule <a> is defined twice"),
    ("public <a> = (x | y;", "expected ')'"),
])
def test_bad_grammars_are_one_line_errors_with_the_line(text, message):
    with pytest.raises(GrammarError) as err:
        inline(parse_jsgf(text))
    assert message in str(err.value) and "\n" not in str(err.value)


def _sentences():
    for please, verb, (state, action), (room, slot) in itertools.product(
            ["", "please "], ["turn", "switch"], [("on", "on"), ("off", "off")],
            [("kitchen", "kitchen"), ("living room", "living")]):
        yield f"{please}{verb} {state} the {room} lights", {"action": action, "room": slot}


@pytest.mark.parametrize("repeat_token", [True, False])
def test_every_sentence_of_the_grammar_decodes_to_itself_with_its_tags(repeat_token):
    tok = Tokenizer(repeat_token=repeat_token)  # "off": a repeat token, or two f's with a blank between
    decoder = GrammarDecoder(_grammar(tok=tok), tok)
    sentences = list(_sentences())
    assert len(sentences) == 16
    for sentence, tags in sentences:
        scores = _scores(sentence, tok)
        found = decoder.match(scores[None], [len(scores)])[0]
        assert (found.text, found.tags, found.accepted) == (sentence, tags, True)
        # the grammar path is the best path; "living room" weighs 1 against kitchen's 3
        cost = math.log(3) if tags["room"] == "living" else 0.0
        assert found.gap_per_frame == pytest.approx(cost / len(scores))


def test_speech_off_the_grammar_is_forced_to_the_nearest_sentence_with_a_gap():
    g = _grammar()
    found = search(g, _scores("turn of the kitchen light"))
    assert " ".join(found.words) == "turn off the kitchen lights"
    assert found.gap_per_frame > 0 and found.score < found.free_score


def test_rejection_says_no_match_when_the_gap_is_too_large():
    decoder = GrammarDecoder(_grammar(), TOK, reject_threshold=0.5)
    inside, outside = _scores("turn on the kitchen lights"), _scores("what time is it now")
    a, b = decoder.match(np.stack([inside, inside]), [len(inside)] * 2)  # a batch of two
    assert a.accepted and a.text == b.text == "turn on the kitchen lights"
    rejected = decoder.match(outside[None], [len(outside)])[0]
    assert not rejected.accepted and rejected.text == "" and rejected.tags == {} and rejected.cost_per_letter > 0.5
    assert rejected.gap_per_frame > 0 and a.cost_per_letter < 0.1
    never = GrammarDecoder(_grammar(), TOK, reject_threshold=None)
    assert never(outside[None], [len(outside)])[0] != ""  # without a threshold every utterance gets a sentence


def test_weights_cost_the_lighter_alternatives():
    g = _grammar("public <a> = /9/ yes | /1/ no;")
    yes, no = search(g, _scores("yes")), search(g, _scores("no"))
    assert yes.words == ("yes",) and no.words == ("no",)
    assert yes.score == pytest.approx(yes.free_score)
    assert no.score == pytest.approx(no.free_score + math.log(1 / 9))


def test_repeats_loop_instead_of_expanding():
    digits = "public <n> = (one | two | three)+;"
    g = _grammar(digits)
    assert search(g, _scores("one three two two one three")).words == ("one", "three", "two", "two", "one", "three")
    # the automaton is as large for a + as for an optional: the repeat is a loop
    assert g.size == _grammar("public <n> = [one | two | three];").size
    assert search(_grammar("public <n> = (one | two) [three];"), _scores("two three")).words == ("two", "three")


def test_a_phrase_list_shares_prefixes():
    lines = [f"set timer for {a} {b}" for a in ("one", "two", "three") for b in ("minutes", "hours")]
    g = compile_expr(phrase_list(lines), TOK)
    spelled = sum(len(line) for line in lines)
    assert g.size < spelled / 2  # "set timer for " and each number once, not six times
    for line in lines:
        assert " ".join(search(g, _scores(line)).words) == line


def test_a_compiled_grammar_round_trips_through_a_file(tmp_path):
    g = _grammar()
    save(g, tmp_path / "lights.npz")
    again = load(tmp_path / "lights.npz")
    for sentence, _ in _sentences():
        assert search(again, _scores(sentence)) == search(g, _scores(sentence))
    decoder = GrammarDecoder.from_file(tmp_path / "lights.npz", TOK)
    scores = _scores("switch off the kitchen lights")
    assert decoder.match(scores[None], [len(scores)])[0].sentence == "switch off the kitchen lights"
    (tmp_path / "bad.npz").write_bytes(b"not a grammar")
    with pytest.raises(GrammarError, match="bad.npz: not a compiled grammar"):
        load(tmp_path / "bad.npz")


def test_a_grammar_compiled_for_another_tokenizer_is_refused():
    with pytest.raises(DecoderError, match="another tokenizer"):
        GrammarDecoder(_grammar(tok=Tokenizer(repeat_token=False)), TOK)


def test_words_the_model_cannot_spell_are_refused():
    with pytest.raises(GrammarError, match="word 'naïve'|outside the vocabulary"):
        compile_expr(Alt((Words(("naïve",)),), (1.0,)), Tokenizer(characters=" abcdefghijklmnopqrstuvwxyz"))


def test_tag_slots():
    assert tag_slots(["action=on", "out.room='kitchen'; level = 3", "urgent"]) == {
        "action": "on", "room": "kitchen", "level": "3", "urgent": True}


def test_phrase_list_and_jsgf_files(tmp_path):
    from asr.grammar.jsgf import read_grammar

    (tmp_path / "phrases.txt").write_text("lights on\nlights off\n")
    assert len(read_grammar(str(tmp_path / "phrases.txt")).items) == 2
    (tmp_path / "g.jsgf").write_text(LIGHTS)
    from_file = compile_expr(read_grammar(str(tmp_path / "g.jsgf")), TOK)
    assert search(from_file, _scores("turn on the kitchen lights")).tags == ("action=on", "room=kitchen")
    with pytest.raises(GrammarError, match="missing.jsgf: grammar file not found"):
        read_grammar(str(tmp_path / "missing.jsgf"))
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(GrammarError, match="empty.txt: phrase list has no sentences"):
        read_grammar(str(tmp_path / "empty.txt"))
