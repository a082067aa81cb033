"""Text normalisation, number spelling and the character tokenizer."""

import json

import pytest

from asr.core.errors import TextError
from asr.text import BLANK, DEFAULT_CHARACTERS, REPEAT, Tokenizer, normalize_text, number_to_words

# ----------------------------------------------------------------------------
# Tokenizer
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["turn on the lights", "it's five o'clock", "a", "zz top", "abc xyz"])
def test_encode_decode_round_trip(text):
    tok = Tokenizer()
    ids = tok.encode(text)
    assert len(ids) == len(text)
    assert all(isinstance(i, int) and 1 <= i < tok.vocab_size for i in ids)
    assert tok.decode(ids) == text


def test_encode_normalises_first_and_decode_gives_normal_form():
    tok = Tokenizer()
    assert tok.decode(tok.encode("  Turn ON the Lights!! ")) == "turn on the lights"
    # without normalisation the capitals are outside the alphabet
    with pytest.raises(TextError):
        tok.encode("Turn", normalize=False)


def test_blank_is_id_zero_and_vocab_size_counts_it():
    for chars in (DEFAULT_CHARACTERS, "abc", "xy z"):
        tok = Tokenizer(chars)
        assert tok.blank_id == 0
        assert tok.vocabulary[0] == BLANK
        assert tok.vocab_size == len(chars) + 1
        # ids of the characters are 1..len(chars), in order, never 0
        assert tok.encode(chars, normalize=False) == list(range(1, len(chars) + 1))


def test_decode_skips_blank_and_out_of_range_ids():
    tok = Tokenizer("ab")
    assert tok.decode([0, 1, 0, 2, 0, 3, 99]) == "ab"
    assert tok.decode([]) == ""
    assert tok.decode([0, 0]) == ""


def test_default_alphabet_is_space_apostrophe_and_letters():
    tok = Tokenizer()
    assert set(tok.characters) == set(" '") | set("abcdefghijklmnopqrstuvwxyz")
    assert tok.vocab_size == 29


def test_duplicate_characters_are_refused():
    with pytest.raises(TextError):
        Tokenizer("abca")


def test_save_load_round_trip(tmp_path):
    tok = Tokenizer("ab c'")
    path = tmp_path / "sub" / "tokenizer.json"
    tok.save(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["blank_id"] == 0
    assert data["characters"] == "ab c'"
    loaded = Tokenizer.load(path)
    assert loaded == tok
    assert loaded.characters == tok.characters
    assert loaded.encode("ab c'", normalize=False) == tok.encode("ab c'", normalize=False)
    assert loaded != Tokenizer()


@pytest.mark.parametrize("text", ["turn off the door", "aaa bb c", "it's all good", "zz top", "a  a", "seventeen"])
def test_repeat_token_round_trip(text):
    tok = Tokenizer(repeat_token=True)
    ids = tok.encode(text, normalize=False)
    assert len(ids) == len(text)  # one id per character: a repeat token stands for the second letter
    assert all(a != b for a, b in zip(ids, ids[1:]) if a != tok.encode(" ", normalize=False)[0])
    assert tok.decode(ids) == text
    assert Tokenizer().decode(Tokenizer().encode(text, normalize=False)) == text


def test_repeat_token_ids_and_decoding_rules():
    tok = Tokenizer("dor ", repeat_token=True)
    d, o, r, space, rep = 1, 2, 3, 4, 5
    assert tok.vocab_size == 6 and tok.repeat_id == rep and tok.vocabulary[rep] == REPEAT
    assert tok.encode("door", normalize=False) == [d, o, rep, r]
    assert tok.encode("ooo", normalize=False) == [o, rep, o]  # never two repeat tokens in a row
    assert tok.encode("r  d", normalize=False) == [r, space, space, d]  # spaces are never repeated
    assert tok.decode([rep, d, o, rep, r]) == "door"  # a leading repeat token adds nothing
    assert tok.decode([d, space, rep, o]) == "d o"  # nor one after a space
    assert tok.decode([o, rep, rep, d]) == "ood"  # nor one after another
    assert tok.decode([d, 0, rep, 0, 99]) == "dd"  # blanks and out-of-range ids are skipped
    assert Tokenizer("dor ").encode("door", normalize=False) == [d, o, o, r]


def test_repeat_token_is_saved_and_compared(tmp_path):
    tok = Tokenizer(repeat_token=True)
    tok.save(tmp_path / "tokenizer.json")
    assert json.loads((tmp_path / "tokenizer.json").read_text(encoding="utf-8"))["repeat_token"] is True
    assert Tokenizer.load(tmp_path / "tokenizer.json") == tok != Tokenizer()
    # a tokenizer file written before the repeat token existed has none
    (tmp_path / "old.json").write_text(json.dumps({"type": "characters", "blank_id": 0, "characters": "ab"}))
    assert Tokenizer.load(tmp_path / "old.json") == Tokenizer("ab")


def test_load_refuses_bad_files(tmp_path):
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{not json", encoding="utf-8")
    with pytest.raises(TextError, match="bad.json"):
        Tokenizer.load(bad_json)
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"type": "bpe", "blank_id": 0, "characters": "ab"}), encoding="utf-8")
    with pytest.raises(TextError):
        Tokenizer.load(wrong)
    with pytest.raises(TextError, match="missing.json"):
        Tokenizer.load(tmp_path / "missing.json")


def test_oov_characters_raise_text_error_naming_them():
    tok = Tokenizer()
    with pytest.raises(TextError) as info:
        tok.encode("hello мир")
    message = str(info.value)
    for ch in "мир":
        assert ch in message
    assert "h" not in message.split(":", 1)[1]  # only the unknown characters are listed

    small = Tokenizer("abc ")
    with pytest.raises(TextError) as info:
        small.encode("abd cab q", normalize=False)
    assert "d" in str(info.value) and "q" in str(info.value)


# ----------------------------------------------------------------------------
# normalize_text
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("raw, expected", [
    ("Turn ON The LIGHTS", "turn on the lights"),
    ("the 21st century", "the twenty first century"),
    ("3.5 degrees", "three point five degrees"),
    ("1,000,000 dollars", "one million dollars"),
    ("room 42", "room forty two"),
    ("the 3rd and 2nd", "the third and second"),
    ("Hello, world! How are you?", "hello world how are you"),
    ("(wait) ... what; really:", "wait what really"),
    ("café", "cafe"),
    ("Crème Brûlée naïve", "creme brulee naive"),
    ("it's", "it's"),
    ("\"It's fine,\" she said.", "it's fine she said"),
    ("'quoted' words", "quoted words"),
    ("don't 'stop' me", "don't stop me"),
    ("It\u2019s mine", "it's mine"),
    ("  lots   of\tspace \n here  ", "lots of space here"),
    ("well-known", "well known"),
    ("", ""),
    ("!!!", ""),
])
def test_normalize_text(raw, expected):
    assert normalize_text(raw) == expected


def test_normalize_output_is_always_encodable():
    tok = Tokenizer()
    for raw in ["It's 5 o'clock!", "Café #7, 2nd floor", "100% sure", "A & B", "x+y @ 3.14"]:
        normal = normalize_text(raw)
        assert normal == normal.strip() and "  " not in normal
        assert tok.decode(tok.encode(normal)) == normal


def test_normalize_keeps_unknown_letters_for_the_tokenizer_to_reject():
    assert "ж" in normalize_text("жук")
    with pytest.raises(TextError):
        Tokenizer().encode("жук")


@pytest.mark.parametrize("n, words", [
    (0, "zero"),
    (7, "seven"),
    (13, "thirteen"),
    (19, "nineteen"),
    (20, "twenty"),
    (40, "forty"),
    (99, "ninety nine"),
    (100, "one hundred"),
    (101, "one hundred one"),
    (110, "one hundred ten"),
    (999, "nine hundred ninety nine"),
    (1000, "one thousand"),
    (1001, "one thousand one"),
    (2024, "two thousand twenty four"),
    (123456, "one hundred twenty three thousand four hundred fifty six"),
    (1000000, "one million"),
    (2000003, "two million three"),
])
def test_number_to_words(n, words):
    assert number_to_words(n) == words


@pytest.mark.parametrize("raw, expected", [
    ("set an alarm for 7am", "set an alarm for seven am"),
    ("5pm", "five pm"),
    ("4x4", "four x four"),
])
def test_numbers_glued_to_letters_are_spelled(raw, expected):
    assert normalize_text(raw) == expected
