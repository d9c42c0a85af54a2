"""Config schemas (the one source of every default, `enas.config.schema`) and their checks (`enas.config.checks`)."""
from .checks import RESUME_MAY_CHANGE, check_config, config_differences, validate_values
from .methods import ENGINES, MultiTrialConfig
from .schema import (MODES, ALGORITHMS, AMP_MODES, CONTROLLER_KINDS, DATA_SOURCES, DATA_SPLITS, OBJECTIVES, OPTIMIZERS,
                     REGULARISERS, REWARDS, SCHEDULES, SHARED_SAMPLING, ConstraintConfig, ControllerConfig, LatencyConfig,
                     CustomDataConfig, DeriveConfig, DeriveRunConfig, ExportConfig, DifferentiableConfig, EvolutionConfig, FewShotConfig,
                     ImageDataConfig, ImageFolderDataConfig, PredictorConfig, PreferredConfig, ProxyConfig, SearchConfig,
                     ShortTrainConfig, TextDataConfig, TrainConfig, TrainerConfig, ZeroCostWarmupConfig, register_configs,
                     structured)

__all__ = ["ENGINES", "MODES", "MultiTrialConfig", "RESUME_MAY_CHANGE", "check_config", "config_differences", "validate_values", "ALGORITHMS", "AMP_MODES",
           "CONTROLLER_KINDS", "DATA_SOURCES", "DATA_SPLITS", "OBJECTIVES", "OPTIMIZERS", "REGULARISERS", "REWARDS",
           "SCHEDULES", "SHARED_SAMPLING", "ConstraintConfig", "ControllerConfig", "LatencyConfig", "CustomDataConfig", "DeriveConfig",
           "DeriveRunConfig", "ExportConfig", "DifferentiableConfig", "EvolutionConfig", "FewShotConfig", "ImageDataConfig", "ImageFolderDataConfig",
           "PredictorConfig", "PreferredConfig", "ProxyConfig", "ZeroCostWarmupConfig", "SearchConfig", "ShortTrainConfig", "TextDataConfig", "TrainConfig",
           "TrainerConfig", "register_configs", "structured"]
