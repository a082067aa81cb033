"""Grammar files: JSGF and phrase lists parsed into expressions (``jsgf``), and sentences
sampled from them for a corpus (``sample``). Decoding within a grammar is ``asr.decoding.grammar``."""
