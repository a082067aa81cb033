"""The corpus settings ``asr synth --grammar/--text-file`` uses when no recipe is given:
every installed engine, equal shares, and realistic acoustics, so that a user who only
writes a phrase file gets the best corpus this machine can make (docs/VOICES.md)."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from asr.config import AcousticsConfig, CorpusConfig
from asr.core.errors import ConfigError
from asr.data.synth.engines import ALL_ENGINES, engine_problem
from asr.data.synth.grammars import is_grammar_file

log = logging.getLogger("asr")


def installed_engines() -> list[str]:
    """The engines that can run here, in :data:`ALL_ENGINES` order; one log line for each that cannot."""
    engines = []
    for engine in ALL_ENGINES:
        problem = engine_problem(engine)
        if problem is None:
            engines.append(engine)
        else:
            log.info(f"synth: left out {problem}")
    return engines


def best_corpus(corpus: CorpusConfig, *, engines_given: bool, share_given: bool, clean: bool,
                out_given: bool = True) -> CorpusConfig:
    """``corpus`` with what the user did not set filled in with the best available:
    every installed engine (unless ``engines_given``), flite's training share equal to
    every other engine's (unless ``share_given``), ``AcousticsConfig.realistic()``
    (unless ``clean``), and (unless ``out_given``) a folder named after the text or
    grammar file, ``data/<name>``: never the recipes' folders.

    Raises:
        ConfigError: no ``out_given`` with a built-in grammar (whose folder a recipe uses).
    """
    changes: dict = {}
    if not out_given:
        source = corpus.text_file or (corpus.grammar if is_grammar_file(corpus.grammar) else None)
        if source is None:
            raise ConfigError(f"give --out: data/{corpus.grammar} is where configs/{corpus.grammar}.yaml keeps its "
                              "corpus")
        changes["out_dir"] = str(Path("data") / Path(source).stem)
    if not engines_given:
        changes["engines"] = installed_engines()
    engines = changes.get("engines", corpus.engines)
    if not share_given and "flite" in engines and len(engines) > 1:
        changes["train_flite_share"] = round(1 / len(engines), 4)
    if not clean:
        changes["acoustics"] = AcousticsConfig.realistic()
    return dataclasses.replace(corpus, **changes)
