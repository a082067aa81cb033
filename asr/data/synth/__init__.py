"""Synthetic speech: sentences, voices, engines, corpora and long recordings.

- :mod:`~asr.data.synth.grammars`: built-in grammars (:mod:`~asr.data.synth.digits`,
  :mod:`~asr.data.synth.commands`) and sentences read from text files.
- :mod:`~asr.data.synth.engines`: running espeak-ng and flite to make one WAV.
- :mod:`~asr.data.synth.voices`: the voices kept, random extra speakers, and
  the train/dev/test voice split.
- :mod:`~asr.data.synth.corpus`: :func:`~asr.data.synth.corpus.make_corpus`.
- :mod:`~asr.data.synth.long`: :func:`~asr.data.synth.long.long_recording`.

Nothing here runs a program at import time.
"""
