"""summarizer: Hugging Face Daily Papers digests written by a locally hosted open-weights model."""

__version__ = "0.1.0"


class SummarizerError(Exception):
    """A failure the user can act on; the message is one full sentence naming the input. The CLI prints it."""
