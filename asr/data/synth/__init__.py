"""Synthetic speech: sentences, voices, engines, corpora and long recordings.

- :mod:`~asr.data.synth.grammars`: built-in grammars (:mod:`~asr.data.synth.digits`,
  :mod:`~asr.data.synth.commands`) and sentences read from text files.
- :mod:`~asr.data.synth.engines`: running espeak-ng and flite (and the optional
  mbrola, pico and piper: :mod:`~asr.data.synth.piper_engine`) to make one WAV.
- :mod:`~asr.data.synth.voices`: the voices kept, random extra speakers, and
  the train/dev/test voice split; :mod:`~asr.data.synth.extra_voices`: the
  optional engines' voices, whether each is installed, and their split.
- :mod:`~asr.data.synth.corpus`: :func:`~asr.data.synth.corpus.make_corpus`.
- :mod:`~asr.data.synth.long`: :func:`~asr.data.synth.long.long_recording`.
- :mod:`~asr.data.synth.acoustics` (and :mod:`~asr.data.synth.rooms`): rooms, noise and
  channels rendered into the corpus (``corpus.acoustics``; off by default).

Nothing here runs a program at import time.
"""
