"""Structured-config schemas for the Hydra command line.

The YAML files in ``conf/`` are merged onto these dataclasses, so an override with a typo
(``trainer.epochz=3``) or a wrong type (``trainer.epochs=many``) fails before anything runs, with
an error naming the key. Defaults here are the ENAS micro search settings (official
``scripts/cifar10_micro_search.sh``); the YAML groups and experiments change what differs.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

from .methods import FewShotConfig, MultiTrialConfig, PreferredConfig, ZeroCostWarmupConfig

__all__ = ["SCHEDULES", "OPTIMIZERS", "AMP_MODES", "SHARED_SAMPLING", "CONTROLLER_KINDS", "ALGORITHMS", "REWARDS",
           "REGULARISERS", "DATA_SPLITS", "DATA_SOURCES", "OBJECTIVES", "MODES", "TrainerConfig", "ShortTrainConfig",
           "ProxyConfig", "PredictorConfig", "PreferredConfig", "ZeroCostWarmupConfig", "FewShotConfig", "MultiTrialConfig",
           "ConstraintConfig", "LatencyConfig", "ControllerConfig", "DeriveConfig",
           "ImageFolderDataConfig", "CustomDataConfig", "EvolutionConfig", "DifferentiableConfig",
           "ImageDataConfig", "TextDataConfig", "SearchConfig", "TrainConfig", "DeriveRunConfig", "ExportConfig",
           "register_configs", "structured"]


# The names each choice field accepts; the checks (enas.config.checks) and the code that acts on them read
# these tuples, so a name is written once.
SCHEDULES = ("cosine", "decay")
OPTIMIZERS = ("sgd", "adam")
AMP_MODES = ("none", "bf16")
SHARED_SAMPLING = ("policy", "uniform")
CONTROLLER_KINDS = ("lstm", "transformer")        # enas.policies holds their classes
ALGORITHMS = ("reinforce", "actor_critic", "ppo")  # enas.policies holds their update steps
REWARDS = ("default", "likelihood")
REGULARISERS = ("none", "beta")
DATA_SPLITS = ("random", "nb201")
DATA_SOURCES = ("auto", "embedded", "torchvision", "npz", "image_folder", "custom")
OBJECTIVES = ("derive_score", "benchmark_acc")
MODES = ("one_shot", "multi_trial")


@dataclass
class TrainerConfig:
    """Training of the shared weights (search) or of the standalone child (retrain)."""

    epochs: int = 150
    lr: float = 0.05
    lr_min: float = 0.0005
    schedule: str = "cosine"      # cosine (SGDR) | decay (constant until decay_start, then x decay_rate per epoch)
    t0: Optional[int] = 10        # SGDR restart period in epochs (official T_0=10, T_mul=2); null: one cosine
    t_mult: int = 2
    decay_start: int = 0          # schedule=decay: first epoch that decays (official PTB: 12)
    decay_rate: float = 1.0       # schedule=decay: factor per epoch (official PTB: 0.95)
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 2e-4    # official micro l2_reg 1e-4 on the loss = SGD weight decay 2e-4
    grad_clip: float = 5.0
    optimizer: str = "sgd"        # sgd | adam (sgd for every CIFAR setting; some language models use others)
    aux_weight: float = 0.4       # auxiliary-head loss weight (needs space.aux_head=true)
    drop_path_prob: float = 0.0   # maximum drop-path probability, ramped up linearly over training
    warmup_epochs: int = 0        # epochs of uniform sampling before the controller starts learning
    shared_sampling: str = "policy"  # policy (ENAS: the controller's samples train the shared weights) |
                                  # uniform (decoupled: uniform samples train them while the controller learns)
    max_steps_per_epoch: Optional[int] = None  # cap for quick runs and tests
    amp: str = "none"             # none | bf16 (CUDA autocast; fp32 is the reference)
    channels_last: bool = True    # NHWC memory format: same fp32 math, 1.5-2x faster convs on CPU here
    sync_bn: bool = False         # under torchrun on CUDA: batch-norm statistics over all ranks' shards
                                  # (SyncBatchNorm), for when each rank's share of a batch gets small
    early_stop: int = 0           # enas-train: stop after this many epochs without a better validation
                                  # score (0: off); images tasks hold out data.valid_size training images
    log_every: int = 50           # steps between progress-bar refreshes (.item() syncs the device)
    progress: bool = True


@dataclass
class ControllerConfig:
    """ENAS controller and REINFORCE (official micro search script unless noted)."""

    lstm_size: int = 64
    lstm_layers: int = 1
    temperature: Optional[float] = None
    tanh_constant: Optional[float] = 1.1
    op_tanh_reduce: float = 2.5
    share_heads: bool = False
    lr: float = 0.0035
    beta1: float = 0.0
    eps: float = 1e-3
    baseline_decay: float = 0.99
    entropy_weight: float = 1e-4
    num_aggregate: int = 10       # architectures per controller update
    train_steps: int = 30         # controller updates per epoch
    reward_batches: int = 1       # validation minibatches per reward (official: 1)
    reward: str = "default"       # default: accuracy (80/perplexity for text) | likelihood: exp(-validation loss)
    skip_target: float = 0.4
    skip_weight: float = 0.0
    grad_clip: Optional[float] = None
    op_prior: Dict[str, float] = field(default_factory=dict)  # initial logit bias per op name
    screen_keep: int = 0          # >0: per update, evaluate only the samples the predictor rates best
                                  # (needs predictor.enabled); the rest get the predictor's estimate
    kind: str = "lstm"            # lstm (ENAS) | transformer (causal self-attention, same interface;
                                  # lstm_size is the width of either kind): enas/policies/
    transformer_layers: int = 2   # kind=transformer: blocks (2 keeps it within 2x the LSTM's parameters)
    transformer_heads: int = 4    # kind=transformer: attention heads (must divide lstm_size)
    algorithm: str = "reinforce"  # reinforce (EMA baseline) | actor_critic (learned value baseline) |
                                  # ppo (clipped surrogate, Schulman et al. 2017, with the learned baseline)
    value_lr: float = 0.005       # actor_critic/ppo: Adam lr of the value head (at the controller's 0.05 on the
                                  # NB201 table a transformer's critic diverged: top-1% in 4/10 seeds, 10/10 at 0.005)
    ppo_clip: float = 0.2         # ppo: clip epsilon of the probability ratio (the paper's and tianshou's 0.2)
    ppo_epochs: int = 4           # ppo: passes over each batch of num_aggregate samples
    ppo_minibatch: Optional[int] = None  # ppo: samples per gradient step; null: the whole batch
    warm_start: List[str] = field(default_factory=list)  # run folders or archive files of this space: before
                                  # the search, the policy learns to propose their best (enas/search/warm_start.py)
    warm_start_top: int = 20      # how many of the archives' best the policy imitates
    warm_start_steps: int = 100   # Adam steps of that imitation (maximum likelihood), at controller.lr
    init: Optional[str] = None    # an earlier strategy=enas run (folder or checkpoint) of this space and
                                  # controller: the policy starts from its weights (not its optimizer or baseline)


@dataclass
class ShortTrainConfig:
    """derive.select=short_train: successive halving over derive's finalists, trained from scratch."""

    finalists: int = 8            # best candidates (by derive.rank_by) that enter the first round
    epochs: int = 1               # training epochs of the first round; doubled each round (Hyperband's eta=2)
    eta: int = 2                  # keep 1/eta of the architectures after each round
    space: Dict[str, Any] = field(default_factory=dict)  # size overrides for the trained networks
    train_subset: Optional[int] = None  # search-train images used (default: all of the split)
    lr: float = 0.1


@dataclass
class DeriveConfig:
    num_samples: int = 100        # candidates sampled from the final policy
    num_batches: int = 10         # validation batches every candidate is scored on (the same ones)
    top_k: int = 5                # best candidates re-scored on the whole validation split
    greedy: bool = True           # also score the policy's most likely architecture
    select: str = "shared"        # the final pick: shared | predictor | combined | short_train | a proxy name
    signals: List[str] = field(default_factory=lambda: ["shared"])  # select=combined: the signals whose
                                  # ranks are combined (log-rank sum); also written per candidate
    record: List[str] = field(default_factory=list)  # more signals computed and written per candidate
                                  # without taking part in the pick (ablations)
    rank_by: str = "shared"       # select=short_train: the signal that chooses its finalists
    screen_samples: int = 0       # >num_samples: sample this many, score the num_samples the predictor rates best
    uniform_samples: int = 0      # add this many uniformly random candidates to the strategy's (exploration)
    short_train: ShortTrainConfig = field(default_factory=ShortTrainConfig)


@dataclass
class ProxyConfig:
    """Zero-cost proxies (enas.predictors): used by derive's signals and as predictor features."""

    space: Dict[str, Any] = field(default_factory=dict)  # overrides of the space's size for the proxy
                                  # network (untrained: it may be larger than the searched supernet)
    batches: int = 2              # training minibatches (zico needs 2; the others use the first)


@dataclass
class PredictorConfig:
    """The learned performance predictor (`enas.predictors.surrogate`) and strategy=predictor."""

    enabled: bool = False         # strategy=predictor turns it on by itself; controller.screen_keep and
                                  # derive.select=predictor need it on
    features: List[str] = field(default_factory=list)  # zero-cost proxies used beside the encoding
    ensemble: int = 5
    hidden: int = 64
    steps: int = 150              # full-batch Adam steps per fit (two fits per epoch: held-out check, then all)
    holdout: float = 0.2          # share of the points held out to report its error each refit
    window: Optional[int] = None  # fit on the latest points only (rewards drift as shared weights train)
    min_points: int = 30          # evaluated architectures before it screens or guides
    pool: int = 100               # strategy=predictor: architectures proposed per step
    evaluate: int = 5             # strategy=predictor: of which evaluated with the shared weights
    kappa: float = 0.5            # strategy=predictor: exploration (mean + kappa * ensemble spread)
    elite: int = 10               # strategy=predictor: best evaluated architectures that are mutated
    warm_start: List[str] = field(default_factory=list)  # run folders or archive files of this space: their
                                  # scores, as ranks, are learned before the search (other data allowed)


@dataclass
class EvolutionConfig:
    """strategy=evolution: regularized evolution (Real et al. 2019, arXiv:1802.01548) on shared weights
    trained under uniform sampling (SPOS, Guo et al. 2020, arXiv:1904.00420); enas/strategies/evolution.py."""

    population: int = 50          # members kept; oldest dies (Real et al.: 100; SPOS: 50; NB201's REA: 10)
    sample: int = 10              # tournament size (Real et al.: 25; NB201's REA: 3)
    cycles: Optional[int] = None  # children per learning phase; null: controller.train_steps x num_aggregate,
                                  # the rewards of an ENAS controller phase (equal cost)
    mutation_rate: float = 0.1    # per-decision resample probability, at least one changed (SPOS: 0.1);
                                  # 0: exactly one decision per child, as Real et al. and NB201's REA
    crossover: float = 0.0        # probability a child is the uniform crossover of two tournament winners
                                  # (SPOS: 0.5; Real et al.: none)
    rescore: bool = True          # re-evaluate the population each phase: its fitness came from older weights
    warm_start: List[str] = field(default_factory=list)  # run folders or archive files of this space: the
                                  # initial population is their best, evaluated here, instead of random


@dataclass
class DifferentiableConfig:
    """strategy=darts | gdas: architecture logits learned by Adam on validation minibatches, one step beside
    each shared-weights step (first-order DARTS, Liu et al. 2019, arXiv:1806.09055; GDAS, Dong & Yang 2019,
    arXiv:1910.04465); enas/strategies/differentiable.py. The shared weights keep the trainer's settings (both papers:
    SGD lr 0.025 cosine to 0.001, momentum 0.9, weight decay 3e-4, batch 64; DARTS 50 epochs, GDAS 250 on
    NAS-Bench-201), and trainer.warmup_epochs freezes the logits while the relaxed supernet trains."""

    lr: float = 3e-4              # Adam lr of the logits (both papers)
    betas: List[float] = field(default_factory=lambda: [0.5, 0.999])  # Adam betas (both papers)
    weight_decay: float = 1e-3    # L2 on the logits (both papers)
    init_scale: float = 1e-3      # logits start at init_scale x N(0, 1): near-uniform (both papers' code)
    tau_max: float = 10.0         # gdas: Gumbel-softmax temperature of the first epoch, falling linearly to
    tau_min: float = 0.1          # tau_min at the last (GDAS on NAS-Bench-201: 10 -> 0.1)
    regulariser: str = "none"     # none (DARTS as published) | beta: Beta-Decay (beta-DARTS, Ye et al. 2022,
                                  # arXiv:2203.01665) against DARTS's collapse to skip/pool cells on NB201
    regulariser_weight: float = 25.0  # beta: its weight at the last epoch, ramped up linearly from 0 (the
                                  # authors' code: 50 x epoch / 100, so 24.5 at the end of a 50-epoch search)


@dataclass
class ConstraintConfig:
    """A budget for the child at the searched space's size; null: unbounded."""

    max_params: Optional[float] = None
    max_flops: Optional[float] = None   # multiply-accumulates per input example
    max_latency_ms: Optional[float] = None  # the standalone child's forward pass on the search's device, as the
                                  # latency table predicts it (batch of latency.batch_size)


@dataclass
class LatencyConfig:
    """The child's latency on the device the search runs on (enas/search/latency.py, docs/latency.md): a
    per-op lookup table, built at the start of a search that needs it (constraint.max_latency_ms,
    target_ms or report) and saved in the run folder as latency_table.json."""

    batch_size: int = 1           # the batch a forward pass is timed on
    repeats: int = 30             # timed forward passes per measurement (their median)
    warmup: int = 5               # untimed passes before them (caches, allocator, cuDNN's algorithm choice)
    calibration: int = 10         # children measured whole to calibrate the sum of the ops against
    check: int = 10               # children measured whole after that to report the table's error (0: none)
    table: Optional[str] = None   # a saved latency_table.json to reuse (refused unless measured in this setting)
    report: bool = False          # build the table only to report latencies (derive_candidates.csv, the pick)
    target_ms: Optional[float] = None  # MnasNet's soft reward: reward x (latency / target_ms) ** weight
    weight: float = -0.07         # MnasNet's w (Tan et al. 2019: alpha = beta = -0.07)


@dataclass
class ImageDataConfig:
    task: str = "image"           # the task this data feeds (enas.tasks): image classification
    name: str = "cifar10"
    source: str = "auto"          # auto | embedded | torchvision | npz
    root: Optional[str] = None
    download: bool = False
    split: str = "random"         # random (seeded, valid_size images) | nb201 (split_file)
    split_file: Optional[str] = None
    valid_size: int = 5000        # official ENAS: 45k train / 5k validation
    train_subset: Optional[int] = None  # keep only this many search-train images (proxy tasks)
    valid_subset: Optional[int] = None
    test_subset: Optional[int] = None  # retrain: test on only this many images (tokens for text): smoke checks
    resize: Any = None            # null | one side | [height, width]: resampled once at load (a cheaper proxy)
    batch_size: int = 160
    eval_batch_size: int = 500
    augment: bool = True
    cutout: int = 0
    num_classes: int = 10


@dataclass
class ImageFolderDataConfig:
    """Your images in torchvision's ImageFolder layout (enas/data/image_folder.py); classes and size from the files."""

    task: str = "image"
    name: str = "image_folder"
    source: str = "image_folder"
    root: str = MISSING           # <root>/<class>/<image>; or <root>/train/... and <root>/test/ (or val/)
    resize: Any = None            # null | one side | [height, width]: needed when the images differ in size
    test_size: float = 0.2        # without train/ and test/ folders: held out for the final test (<1: a fraction)
    valid_size: float = 0.1       # search: held out of the training images for rewards (<1: a fraction)
    num_classes: Optional[int] = None  # null: the number of class folders
    split: str = "random"
    split_file: Optional[str] = None
    download: bool = False
    train_subset: Optional[int] = None
    valid_subset: Optional[int] = None
    test_subset: Optional[int] = None
    batch_size: int = 64
    eval_batch_size: int = 256
    augment: bool = True          # pad-4 random crop and flip, as CIFAR
    cutout: int = 0


@dataclass
class CustomDataConfig(ImageFolderDataConfig):
    """Any map-style dataset of (image, label) pairs that Hydra builds from a ``_target_``."""

    name: str = "custom"
    source: str = "custom"
    root: Optional[str] = None
    dataset: Dict[str, Any] = field(default_factory=dict)       # {_target_: my.module.Dataset, ...its arguments}
    test_dataset: Optional[Dict[str, Any]] = None                # null: hold out data.test_size of dataset


@dataclass
class TextDataConfig:
    task: str = "text"            # the task this data feeds (enas.tasks): language modelling
    name: str = "ptb"
    root: Optional[str] = None
    batch_size: int = 64
    eval_batch_size: int = 10
    bptt: int = 35
    variable_length: bool = True  # AWD-LSTM style random sequence length around bptt
    train_subset: Optional[int] = None  # keep only this many training tokens (proxy tasks)
    valid_subset: Optional[int] = None
    test_subset: Optional[int] = None


@dataclass
class SearchConfig:
    space: Dict[str, Any] = field(default_factory=dict)
    data: Any = MISSING
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    controller: ControllerConfig = field(default_factory=ControllerConfig)
    derive: DeriveConfig = field(default_factory=DeriveConfig)
    proxies: ProxyConfig = field(default_factory=ProxyConfig)
    predictor: PredictorConfig = field(default_factory=PredictorConfig)
    constraint: ConstraintConfig = field(default_factory=ConstraintConfig)
    latency: LatencyConfig = field(default_factory=LatencyConfig)
    preferred: PreferredConfig = field(default_factory=PreferredConfig)
    zero_cost_warmup: ZeroCostWarmupConfig = field(default_factory=ZeroCostWarmupConfig)
    few_shot: FewShotConfig = field(default_factory=FewShotConfig)
    evolution: EvolutionConfig = field(default_factory=EvolutionConfig)
    darts: DifferentiableConfig = field(default_factory=DifferentiableConfig)
    multi_trial: MultiTrialConfig = field(default_factory=MultiTrialConfig)
    mode: str = "one_shot"        # one_shot (shared weights) | multi_trial (each child trained: enas.trials)
    strategy: str = "enas"        # enas | random (random search with weight sharing) | predictor | evolution |
                                  # darts | gdas (differentiable: enas/strategies/differentiable.py)
    device: str = "auto"          # auto | cpu | cuda | cuda:N
    seed: int = 0
    resume: Optional[str] = None  # true (latest run) | a run directory | a checkpoint file
    output_dir: Optional[str] = None  # default: Hydra's run directory
    task_name: str = "search"
    objective: str = "derive_score"  # what enas-search returns to a Hydra sweeper (optuna): derive_score |
                                  # benchmark_acc (needs benchmark=nb201); sweepers maximise it with direction=maximize
    benchmark: Optional[str] = None   # nb201: look the derived cell up in the NAS-Bench-201 table
    benchmark_file: Optional[str] = None
    tune_malloc: bool = True      # glibc: keep freed activations mapped, here and in multi-trial workers
                                  # (see enas/runs/malloc.py)
    keep_every: int = 0           # also keep checkpoints/epoch_{n}.pt every this many epochs (0: last.pt only)
    imports: List[str] = field(default_factory=list)  # modules or .py files imported first: your spaces register
    overwrite: bool = False       # start over in a run folder that already holds a run (else refused)


@dataclass
class TrainConfig:
    architecture: str = MISSING   # path to architecture.json
    init: Optional[str] = None    # a search run (or its checkpoint): start from its shared weights and fine-tune;
                                  # null: a fresh initialisation
    space: Dict[str, Any] = field(default_factory=dict)
    data: Any = MISSING
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    device: str = "auto"
    seed: int = 0
    resume: Optional[str] = None
    output_dir: Optional[str] = None
    task_name: str = "train"
    tune_malloc: bool = True
    keep_every: int = 0           # also keep checkpoints/epoch_{n}.pt every this many epochs (0: last.pt only)
    imports: List[str] = field(default_factory=list)
    overwrite: bool = False


@dataclass
class DeriveRunConfig:
    checkpoint: str = MISSING     # a search checkpoint (.pt) or run directory
    derive: DeriveConfig = field(default_factory=DeriveConfig)
    device: str = "auto"
    seed: int = 0
    output_dir: Optional[str] = None
    task_name: str = "derive"
    tune_malloc: bool = True
    imports: List[str] = field(default_factory=list)


@dataclass
class ExportConfig:
    """``enas-export``: the retrained child of an ``enas-train`` run (``run``), or a fresh child of an architecture file."""
    run: Optional[str] = None     # an enas-train run folder or checkpoint: the trained child
    architecture: Optional[str] = None  # or an architecture.json: a freshly initialised child, at the searched size
    formats: List[str] = field(default_factory=lambda: ["onnx", "torchscript"])
    batch_size: int = 2           # the example batch the files are checked on
    image_size: int = 32          # image spaces: the example's height and width
    channels: int = 3
    bptt: int = 8                 # the recurrent cell: the example's sequence length
    tolerance: float = 1e-4       # largest absolute difference from the PyTorch child a file may show
    output_dir: Optional[str] = None
    task_name: str = "export"
    tune_malloc: bool = True
    imports: List[str] = field(default_factory=list)


def register_configs() -> None:
    # ${pid:} in the run folder's name: two runs started in the same second get two folders.
    if not OmegaConf.has_resolver("pid"):
        OmegaConf.register_new_resolver("pid", lambda: os.getpid())
    cs = ConfigStore.instance()
    cs.store(name="search_schema", node=SearchConfig)
    cs.store(name="train_schema", node=TrainConfig)
    cs.store(name="derive_schema", node=DeriveRunConfig)
    cs.store(name="export_schema", node=ExportConfig)
    cs.store(group="data", name="image_schema", node=ImageDataConfig)
    cs.store(group="data", name="text_schema", node=TextDataConfig)
    cs.store(group="data", name="image_folder_schema", node=ImageFolderDataConfig)
    cs.store(group="data", name="custom_schema", node=CustomDataConfig)


def _data_schema(data: Dict[str, Any]) -> type:
    """The data schema a stored data node belongs to (configs written before ``data.task`` lack it)."""
    task = data.get("task") or ("text" if "bptt" in data else "image")
    if task == "text":
        return TextDataConfig
    return {"image_folder": ImageFolderDataConfig, "custom": CustomDataConfig}.get(data.get("source"), ImageDataConfig)


def structured(stored: Dict[str, Any], schema: type = SearchConfig):
    """A config as a checkpoint stored it, merged onto ``schema`` once: a key added to the schema since the
    checkpoint was written gets its default, so every reader can rely on every field."""
    data = stored.get("data")
    merged = OmegaConf.merge(OmegaConf.structured(schema), {k: v for k, v in stored.items() if k != "data"})
    if isinstance(data, dict):
        merged.data = OmegaConf.merge(OmegaConf.structured(_data_schema(data)), data)
    return merged
