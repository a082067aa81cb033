"""Stage 5, decoding: greedy and CTC prefix beam search (``decoders``), word n-gram
language models, and CTC forced alignment of words to frames (``alignment``)."""
