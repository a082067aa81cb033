"""The ``commands`` grammar: smart-home commands in the toolkit's normal form.

Lights, timers, volume, thermostat, alarms, media, locks, blinds, fans,
weather, codes and reminders, with optional polite openers and closers. About
15% of its sentences are bare digit strings, so a model trained on it also
recognises plain digits. Numbers are spelled by the text normaliser's speller.
"""

from __future__ import annotations

import random
from typing import Callable

from asr.data.synth.digits import digit_string, digits

# The normaliser's speller, so grammar text and normalised file text spell
# numbers the same way ("three hundred fifty", no "and").
from asr.text import number_to_words

# ----------------------------------------------------------------------------
# commands grammar: slot fillers
# ----------------------------------------------------------------------------

_ROOMS = (
    "kitchen", "bedroom", "living room", "bathroom", "garage", "hallway", "office",
    "dining room", "basement", "attic", "nursery", "guest room", "laundry room",
    "study", "den", "master bedroom", "kids room", "porch", "patio", "family room",
)
_LIGHTS = ("lights", "light", "lamp", "lamps", "ceiling light", "floor lamp", "desk lamp")
_COLOURS = (
    "red", "green", "blue", "yellow", "orange", "purple", "pink", "white",
    "warm white", "cool white", "teal", "gold", "lavender", "cyan",
)
_APPLIANCES = (
    "tv", "television", "coffee maker", "dishwasher", "washing machine", "dryer",
    "microwave", "kettle", "robot vacuum", "sprinklers", "heater", "humidifier",
    "air purifier", "space heater", "radio",
)
_DOORS = ("front door", "back door", "side door", "garage door", "patio door", "gate")
_COVERS = ("blinds", "curtains", "shades", "shutters")
_GENRES = (
    "jazz", "rock", "classical music", "pop music", "country music", "hip hop",
    "the blues", "reggae", "folk music", "relaxing music", "something upbeat",
)
_MEDIA_THINGS = (
    "the radio", "the news", "a podcast", "my workout playlist", "my favorites",
    "an audiobook", "white noise", "rain sounds",
)
_DAYS = (
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
    "tomorrow", "today", "on weekdays", "every day", "this weekend",
)
_WHEN = (
    "today", "tomorrow", "tonight", "this afternoon", "this evening", "this weekend",
    "tomorrow morning", "on saturday", "on sunday", "next week", "later",
)
_TASKS = (
    "call mom", "take out the trash", "water the plants", "feed the cat",
    "walk the dog", "pick up the kids", "pay the bills", "buy groceries",
    "take my medicine", "check the mail",
)
_ITEMS = (
    "milk", "eggs", "bread", "butter", "apples", "bananas", "coffee", "cheese",
    "rice", "paper towels", "orange juice", "chicken",
)
_FOODS = ("pasta", "pizza", "egg", "tea", "rice", "cookie", "laundry", "oven")
_FAN_SPEEDS = ("low", "medium", "high", "the highest setting", "the lowest setting")

# Openers that fit any sentence vs. only imperatives ("could you what's..." is wrong).
_OPENERS_ANY = ("hey computer", "computer", "okay computer", "hey house", "excuse me")
_OPENERS_COMMAND = ("please", "could you", "can you", "would you please", "could you please")
_CLOSERS_COMMAND = ("please", "thanks", "thank you", "right now", "now please", "for me")
_CLOSERS_QUESTION = ("please", "thanks", "thank you")


def _c(rng: random.Random, options: tuple[str, ...]) -> str:
    return rng.choice(options)


def _maybe(rng: random.Random, text: str, p: float = 0.5) -> str:
    return text if rng.random() < p else ""


def _join(*parts: str) -> str:
    # Slots may be empty; joining this way keeps exactly single spaces.
    return " ".join(p for p in parts if p)


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _plural(n: int, unit: str) -> str:
    return f"{number_to_words(n)} {unit}" + ("" if n == 1 else "s")


def _percent(rng: random.Random) -> str:
    # Mostly round numbers, like people say, but any 1-100 is possible.
    n = rng.choice((10, 20, 25, 30, 40, 50, 60, 70, 75, 80, 90)) if rng.random() < 0.7 else rng.randint(1, 100)
    return "one hundred percent" if n == 100 else f"{number_to_words(n)} percent"


def _duration(rng: random.Random) -> str:
    kind = rng.randrange(8)
    if kind in (0, 1, 2):
        return _plural(rng.randint(1, 59), "minute")
    if kind == 3:
        return _plural(rng.choice((10, 15, 20, 30, 40, 45, 50, 60, 90)), "second")
    if kind == 4:
        return _c(rng, ("an hour", "half an hour", "an hour and a half", "a minute",
                        "a minute and a half", "two and a half minutes"))
    if kind == 5:
        return _plural(rng.randint(1, 5), "hour")
    if kind == 6:
        return f"{_plural(rng.randint(1, 3), 'hour')} and {_plural(rng.randint(1, 59), 'minute')}"
    return f"{_plural(rng.randint(1, 9), 'minute')} and {_plural(rng.choice((10, 15, 20, 30, 45)), 'second')}"


def _clock_time(rng: random.Random) -> str:
    """A spoken clock time: "seven thirty a m", "six forty five", "half past nine"..."""
    hour = rng.randint(1, 12)
    h = number_to_words(hour)
    kind = rng.randrange(10)
    if kind == 0:
        return _c(rng, ("noon", "midnight"))
    if kind == 1:
        nxt = number_to_words(hour % 12 + 1)
        core = _c(rng, (f"half past {h}", f"quarter past {h}", f"quarter to {nxt}"))
    elif kind == 2:
        # "seven o'clock a m" is odd; o'clock takes a phrase or nothing.
        return _join(f"{h} o'clock", _c(rng, ("", "in the morning", "tonight", "in the evening")))
    else:
        minute = rng.choice((0, 5, 10, 15, 20, 30, 40, 45, 50)) if rng.random() < 0.6 else rng.randint(0, 59)
        if minute == 0:
            core = h
        elif minute < 10:
            core = f"{h} oh {number_to_words(minute)}"
        else:
            core = f"{h} {number_to_words(minute)}"
    # Normalised text spells "a.m." as the two letters "a m".
    suffix = _c(rng, ("a m", "p m", "a m", "p m", "in the morning", "in the evening",
                      "at night", "", "", ""))
    return _join(core, suffix)


def _temperature(rng: random.Random) -> str:
    if rng.random() < 0.75:
        n, unit = rng.randint(60, 85), _c(rng, ("degrees", "degrees", "degrees", "degrees fahrenheit", ""))
    else:
        n, unit = rng.randint(16, 28), _c(rng, ("degrees", "degrees celsius"))
    return _join(number_to_words(n), unit)


def _room_phrase(rng: random.Random) -> str:
    return _c(rng, ("in the", "in my")) + " " + _c(rng, _ROOMS)


# ----------------------------------------------------------------------------
# commands grammar: templates. Each returns (sentence, is_question), where
# is_question also marks fragments ("volume up") that a "could you" opener
# would make ungrammatical.
# ----------------------------------------------------------------------------


def _lights(rng: random.Random) -> tuple[str, bool]:
    room, light = _c(rng, _ROOMS), _c(rng, _LIGHTS)
    on_off = _c(rng, ("on", "off"))
    verb = _c(rng, ("turn", "switch"))
    k = rng.randrange(9)
    if k == 0:
        s = f"{verb} {on_off} the {room} {light}"
    elif k == 1:
        s = f"{verb} the {light} {on_off} {_room_phrase(rng)}"
    elif k == 2:
        s = f"{_c(rng, ('dim', 'set', 'turn down', 'brighten'))} the {room} {light} to {_percent(rng)}"
    elif k == 3:
        verb = _c(rng, ("make", "change", "set", "turn"))
        # "make the lamp blue" but "change the lamp to blue"; "turn" takes either.
        to = {"make": "", "turn": _c(rng, ("", "to"))}.get(verb, "to")
        s = f"{verb} the {room} {light} {to} {_c(rng, _COLOURS)}"
    elif k == 4:
        s = f"{_c(rng, ('dim', 'brighten'))} the {light} {_maybe(rng, _room_phrase(rng))}"
    elif k == 5:
        s = f"{verb} {_c(rng, ('off', 'on'))} all the lights {_maybe(rng, _c(rng, ('upstairs', 'downstairs', 'in the house')))}"
    elif k == 6:
        s = f"{_c(rng, ('are', 'did i leave'))} the {room} lights {_c(rng, ('on', 'off'))}"
        return " ".join(s.split()), True
    elif k == 7:
        s = f"set the lights to {_c(rng, ('movie mode', 'reading mode', 'night mode', 'full brightness', 'half brightness'))}"
    else:
        s = f"turn the {room} {light} {_c(rng, ('up', 'down'))} {_maybe(rng, 'a little')}"
    return " ".join(s.split()), False


def _timers(rng: random.Random) -> tuple[str, bool]:
    k = rng.randrange(7)
    if k in (0, 1):
        return f"set a timer for {_duration(rng)}", False
    if k == 2:
        food = _c(rng, _FOODS)
        return f"set {_article(food)} {food} timer for {_duration(rng)}", False
    if k == 3:
        return f"start a timer for {_duration(rng)}", False
    if k == 4:
        return _c(rng, ("how much time is left on the timer", "how long is left on my timer",
                        "how much time is left")), True
    if k == 5:
        return f"{_c(rng, ('cancel', 'stop', 'pause', 'resume'))} the {_maybe(rng, _c(rng, _FOODS))} timer".replace("  ", " "), False
    return f"add {_duration(rng)} to the timer", False


def _volume(rng: random.Random) -> tuple[str, bool]:
    k = rng.randrange(7)
    if k == 0:
        return f"turn the volume {_c(rng, ('up', 'down'))} {_maybe(rng, _c(rng, ('a bit', 'a little', 'a lot')))}".strip(), False
    if k == 1:
        if rng.random() < 0.5:
            return _c(rng, ("mute the tv", "turn it up", "turn it down", "unmute the speaker")), False
        return _c(rng, ("volume up", "volume down", "louder", "quieter", "mute", "unmute")), True
    if k == 2:
        return f"set the volume to {number_to_words(rng.randint(0, 10))}", False
    if k == 3:
        return f"set the volume to {_percent(rng)}", False
    if k == 4:
        return f"turn the volume {_c(rng, ('up', 'down'))} by {number_to_words(rng.randint(1, 5))}", False
    if k == 5:
        return f"{_c(rng, ('raise', 'lower'))} the volume {_maybe(rng, _room_phrase(rng))}".strip(), False
    return "what is the volume at", True


def _thermostat(rng: random.Random) -> tuple[str, bool]:
    k = rng.randrange(8)
    if k in (0, 1):
        return f"set the {_c(rng, ('temperature', 'thermostat', 'heat', 'air conditioning'))} to {_temperature(rng)}", False
    if k == 2:
        return f"{_c(rng, ('raise', 'lower'))} the temperature by {_plural(rng.randint(1, 5), 'degree')}", False
    if k == 3:
        if rng.random() < 0.5:
            return _c(rng, ("make it warmer", "make it cooler", "make it a little warmer")), False
        return _c(rng, ("it's too hot in here", "it's too cold in here")), True
    if k == 4:
        return f"turn {_c(rng, ('on', 'off'))} the {_c(rng, ('heat', 'heating', 'air conditioning', 'furnace'))}", False
    if k == 5:
        return _c(rng, ("what's the temperature inside", "what is the thermostat set to",
                        "how warm is it in the house", f"what's the temperature {_room_phrase(rng)}")), True
    if k == 6:
        return f"set the {_c(rng, _ROOMS)} to {_temperature(rng)}", False
    return f"preheat the oven to {number_to_words(rng.choice(range(300, 475, 25)))} degrees", False


def _alarms(rng: random.Random) -> tuple[str, bool]:
    k = rng.randrange(7)
    when = _maybe(rng, _c(rng, _DAYS), 0.3)
    if k in (0, 1):
        return _join("wake me up at", _clock_time(rng), when), False
    if k in (2, 3):
        return _join("set an alarm for", _clock_time(rng), when), False
    if k == 4:
        return f"{_c(rng, ('cancel', 'delete', 'turn off'))} my {_clock_time(rng)} alarm", False
    if k == 5:
        return _c(rng, (f"snooze for {_plural(rng.randint(1, 15), 'minute')}", "snooze",
                        "stop the alarm", "turn off the alarm")), False
    return _c(rng, ("what alarms do i have", "what time is my alarm set for",
                    "what time is it", "what's the date today", "what day is it")), True


def _media(rng: random.Random) -> tuple[str, bool]:
    k = rng.randrange(6)
    if k == 0:
        return _join("play", _c(rng, _GENRES), _maybe(rng, _room_phrase(rng), 0.3)), False
    if k == 1:
        return _join("play", _c(rng, _MEDIA_THINGS), _maybe(rng, _c(rng, ("on the speaker", "in the kitchen")), 0.3)), False
    if k in (2, 3):
        return _c(rng, ("pause", "pause the music", "resume", "resume playback", "stop the music",
                        "skip this song", "skip", "next song", "next track", "previous song",
                        "go back", "play the next episode", "shuffle my playlist",
                        "repeat this song", "play it again", "i like this song")), False
    if k == 4:
        return _c(rng, ("who sings this song", "what song is this", "what's playing")), True
    return f"skip ahead {_plural(rng.choice((10, 15, 30)), 'second')}", False


def _home(rng: random.Random) -> tuple[str, bool]:
    door, cover, room = _c(rng, _DOORS), _c(rng, _COVERS), _c(rng, _ROOMS)
    k = rng.randrange(10)
    if k == 0:
        return f"{_c(rng, ('lock', 'unlock', 'open', 'close'))} the {door}", False
    if k == 1:
        return f"is the {door} {_c(rng, ('locked', 'open', 'closed'))}", True
    if k == 2:
        return _join(_c(rng, ("open", "close", "raise", "lower")), "the", _maybe(rng, room), cover), False
    if k == 3:
        return f"{_c(rng, ('lower', 'raise', 'set'))} the {cover} to {_percent(rng)}", False
    if k == 4:
        return f"{_c(rng, ('open', 'close'))} the {cover} {_c(rng, ('halfway', 'all the way', 'a little'))}", False
    if k == 5:
        return _join("turn", _c(rng, ("on", "off")), "the", _maybe(rng, room, 0.4),
                     _c(rng, ("fan", "ceiling fan"))), False
    if k == 6:
        return f"set the fan to {_c(rng, _FAN_SPEEDS)}", False
    if k == 7:
        return f"turn {_c(rng, ('on', 'off'))} the {_c(rng, _APPLIANCES)}", False
    if k == 8:
        return f"{_c(rng, ('start', 'stop'))} the {_c(rng, ('dishwasher', 'washing machine', 'dryer', 'robot vacuum', 'sprinklers', 'coffee maker'))}", False
    if rng.random() < 0.5:
        return _c(rng, ("arm the security system", "disarm the security system",
                        "show me the front door camera")), False
    return _c(rng, ("is the security system on", "who is at the door")), True


def _weather(rng: random.Random) -> tuple[str, bool]:
    when = _c(rng, _WHEN)
    k = rng.randrange(6)
    if k == 0:
        return f"what's the weather {_c(rng, ('like', 'going to be like', ''))} {when}".replace("  ", " "), True
    if k == 1:
        return f"will it {_c(rng, ('rain', 'snow'))} {when}", True
    if k == 2:
        return f"how {_c(rng, ('hot', 'cold', 'windy', 'humid'))} will it be {when}", True
    if k == 3:
        return f"what's the forecast for {_c(rng, _WHEN + _DAYS[:7])}", True
    if k == 4:
        return _c(rng, ("do i need an umbrella today", "do i need a jacket", "is it sunny outside",
                        "what's the humidity", "how windy is it outside",
                        "what's the temperature outside", "when is sunset", "when is sunrise")), True
    return f"is it going to be {_c(rng, ('sunny', 'cloudy', 'foggy', 'stormy'))} {when}", True


def _codes(rng: random.Random) -> tuple[str, bool]:
    code = digit_string(rng, 4, 6)
    k = rng.randrange(6)
    if k == 0:
        return f"unlock the {_c(rng, _DOORS)} code {code}", False
    if k == 1:
        return f"{_c(rng, ('my pin is', 'the code is', 'enter code', 'pin'))} {code}", False
    if k == 2:
        return f"{_c(rng, ('disarm', 'arm'))} the alarm {_maybe(rng, 'with')} code {code}".replace("  ", " "), False
    if k == 3:
        return f"{_c(rng, ('call', 'dial'))} {digit_string(rng, 7, 10)}", False
    if k == 4:
        return f"set the {_c(rng, ('door', 'gate', 'garage'))} code to {code}", False
    return f"change to channel {_c(rng, (number_to_words(rng.randint(2, 99)), digit_string(rng, 1, 3)))}", False


def _reminders(rng: random.Random) -> tuple[str, bool]:
    k = rng.randrange(4)
    if k == 0:
        return f"remind me to {_c(rng, _TASKS)} at {_clock_time(rng)}", False
    if k == 1:
        return f"remind me to {_c(rng, _TASKS)} in {_duration(rng)}", False
    if k == 2:
        return f"add {_c(rng, _ITEMS)} to my shopping list", False
    what = _c(rng, ("what is", "what's"))
    return f"{what} on my {_c(rng, ('shopping list', 'calendar today', 'calendar tomorrow'))}", True


# Weights roughly match how often people use each kind of command.
_TEMPLATES: tuple[tuple[Callable[[random.Random], tuple[str, bool]], float], ...] = (
    (_lights, 3.0), (_timers, 2.0), (_volume, 1.5), (_thermostat, 1.5), (_alarms, 2.0),
    (_media, 1.5), (_home, 2.0), (_weather, 1.2), (_codes, 1.0), (_reminders, 1.0),
)
_BARE_DIGITS_FRACTION = 0.15


def commands(rng: random.Random) -> str:
    """One smart-device command, or (15% of the time) a bare digit string.

    Args:
        rng: the random source (consumed).
    """
    if rng.random() < _BARE_DIGITS_FRACTION:
        return digits(rng)
    funcs = [f for f, _ in _TEMPLATES]
    weights = [w for _, w in _TEMPLATES]
    template = rng.choices(funcs, weights=weights)[0]
    core, is_question = template(rng)
    r = rng.random()
    opener = closer = ""
    if r < 0.25:
        opener = _c(rng, _OPENERS_ANY if is_question else _OPENERS_ANY + _OPENERS_COMMAND)
    elif r < 0.40:
        closer = _c(rng, _CLOSERS_QUESTION if is_question else _CLOSERS_COMMAND)
    return " ".join(_join(opener, core, closer).split())
