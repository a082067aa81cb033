"""Errors that end in a clear one-line message instead of a traceback."""


class ASRError(Exception):
    """Base class for every error the CLI reports as one line.

    The message should name the file (or config key) and the reason.
    """


class AudioError(ASRError):
    """An audio file cannot be used: undecodable, empty, silent, too short or too long."""


class ManifestError(ASRError):
    """A manifest line is malformed or points at a missing file."""


class TextError(ASRError):
    """Text holds characters that the tokenizer cannot represent."""


class ConfigError(ASRError):
    """A config file or override is malformed or names an unknown key."""


class DistributionError(ASRError):
    """This machine or cluster lacks what ``train.distribution`` asks for: devices, or a valid TF_CONFIG."""


class ModelError(ASRError):
    """A model path is missing or is not a model of this project."""


def first_line(exc: BaseException, default: str | None = None) -> str:
    """The first line of an exception's message; ``default`` (else the exception's
    type name) when the message is empty."""
    text = str(exc)
    return text.splitlines()[0] if text else (default or type(exc).__name__)


def one_line(exc: BaseException, limit: int | None = None) -> str:
    """An exception's whole message on one line (whitespace runs become one space), cut at ``limit``."""
    return " ".join(str(exc).split())[:limit]


def describe_load_error(exc: Exception) -> str:
    """One short line saying why Keras refused a model file."""
    text = one_line(exc)
    if "Lambda" in text and "safe_mode" in text:
        return "refused: it holds a Lambda layer, whose Python code could do anything; safe loading is on"
    first = text.split(". ")[0] if text else type(exc).__name__
    return first[:200]


class LMError(ASRError):
    """A language model file is missing, malformed, or of a kind that cannot be read here."""


class DecoderError(ASRError):
    """A decoder option is out of range (beam size, weights, hot words)."""
