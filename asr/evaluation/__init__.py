"""Evaluation: error rates (``metrics``), scoring a recognizer on a manifest or a long
recording (``evaluate``), and the frozen results they return (``results``)."""
