"""Stage 1, audio: decoding files of any format, rate and channel count into checked mono
float32 samples (``files``), and the energy VAD that cuts long recordings at pauses (``vad``)."""
