"""Grammar-constrained decoding: JSGF or a phrase list → a character automaton → a CTC search
that returns only sentences the grammar accepts, with their tags, or "no match" (docs/GRAMMARS.md)."""
