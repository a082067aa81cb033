"""One config schema: typed dataclasses that the YAML files fill in.

YAML is plain data (``yaml.safe_load``: no object tags). A key the schema does
not know is an error that names it. ``--set section.key=value`` overrides go
through the same checks.
"""

from asr.config.checks import RANGES, check_choices, check_range, choice, choices_of
from asr.config.loading import apply_overrides, from_dict, load_config, save_config, save_json, to_dict
from asr.config.schema import (
    AcousticsConfig,
    AugmentConfig,
    Config,
    CorpusConfig,
    DataConfig,
    FeatureConfig,
    ModelConfig,
    TokenizerConfig,
    TrainConfig,
)

__all__ = [
    "RANGES", "AcousticsConfig", "AugmentConfig", "Config", "CorpusConfig", "DataConfig", "FeatureConfig",
    "ModelConfig", "TokenizerConfig", "TrainConfig", "apply_overrides", "check_choices", "check_range", "choice",
    "choices_of", "from_dict", "load_config", "save_config", "save_json", "to_dict",
]
