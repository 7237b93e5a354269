"""Benchmark an mmfas model on synthetic batches (no dataset needed).

Measures, for the model built from CONFIG:

(a) training images/s through a bare PyTorch loop: ``data_preprocessor`` ->
    ``model(mode='loss')`` -> sum of the losses -> ``backward`` -> step of an
    optimizer built from the config's ``optim_wrapper`` (bf16 / fp16 autocast
    and, for fp16, a GradScaler with ``--amp``); for a staged model
    (``train_stages()``, ``StagedOptimWrapperConstructor``, e.g. SLIP) one
    iteration runs every stage in order: ``model(mode='loss', stage=s)``
    with the other stages' parameters switched off -> backward -> step of
    the stage's own optimizer;
(b) training images/s through mmengine: ``model.train_step(data,
    optim_wrapper)`` with the optim wrapper built as the Runner builds it
    (``AmpOptimWrapper`` with ``--amp``; an ``OptimWrapperDict`` of one
    wrapper per stage for staged models, whose train step runs all
    stages), and the per-iteration overhead of (b) over (a) in percent;
(c) inference images/s (``data_preprocessor`` + ``model(mode='predict')``
    under ``torch.no_grad`` in eval mode) at batch 1 and at ``--batch-size``,
    and for models with cached class text features (FLIP-IT, FLIP-MCL,
    prompt learners) the same with the cache disabled, i.e. the class text
    features recomputed at every call as FLIP's reference does. The cache
    is warmed (one untimed call) before every cached block, because the
    uncached variant empties it; the speed-up is the median over adjacent
    (uncached, cached) block pairs of their time ratio (ratio of the
    medians printed too), and the text computations counted during the
    cached blocks (0 when the cache works) are reported;
(d) peak memory: ``torch.cuda.max_memory_allocated`` per phase on a GPU, the
    growth of the process' peak RSS (``resource.getrusage``) over the RSS
    after building the model on a CPU.

Timings are taken in blocks of ``--iters`` iterations after ``--warmup``
iterations; the compared variants run in alternating blocks (order reversed
every repeat) ``--repeats`` times and medians are reported, so drift of a
noisy CPU hits both alike. The overhead of (b) is the median over adjacent
(a, b) block pairs of their relative difference (robust to load that comes
and goes); the ratio of the median times and of the best blocks are printed
too. On a CPU shared with other jobs use ``--threads`` / ``OMP_NUM_THREADS``
below the free cores: OpenMP threads that lose their core stall every
parallel region and make timings meaningless. Both training variants
update the same model (with separate optimizer states), so they do identical
work.

A training "image" is one sample: multi-view models (FLIP-MCL: plain view +
two SimCLR views) get every view of it, so their images/s count samples.

Examples::

    python tools/analysis_tools/benchmark.py configs/flip/flip-it_tiny_demo.py
    python tools/analysis_tools/benchmark.py \\
        configs/flip/flip-it_vitb16_oci2m.py --no-pretrained \\
        --batch-size 2 --iters 2 --json bench.json
    python tools/analysis_tools/benchmark.py CONFIG --device cuda --amp
"""
import argparse
import contextlib
import json
import os
import platform
import resource
import statistics
import time
from collections import OrderedDict
from typing import Callable, Dict, List, Optional

import torch
from mmengine.config import Config, DictAction
from mmengine.optim import OptimWrapperDict, build_optim_wrapper
from mmengine.registry import init_default_scope

from mmfas.engine import stage_parameters
from mmfas.models.data_preprocessors import pipeline_num_views
from mmfas.models.utils.trainable import temporarily_frozen
from mmfas.registry import MODELS
from mmfas.utils import register_all_modules, set_amp
from mmfas.utils.config import merge_data_preprocessor


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Benchmark training / inference speed and memory of an '
        'mmfas model on synthetic inputs')
    parser.add_argument('config', help='config file')
    parser.add_argument('--batch-size', type=int, default=8,
                        help='training and (large-)batch inference batch '
                        'size (default 8)')
    parser.add_argument('--iters', type=int, default=3,
                        help='timed iterations per block (default 3)')
    parser.add_argument('--warmup', type=int, default=3,
                        help='untimed iterations per variant (default 3)')
    parser.add_argument('--repeats', type=int, default=5,
                        help='alternating timed blocks per variant; medians '
                        'are reported (default 5)')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision (AmpOptimWrapper; bf16 on CPU, '
                        'fp16 on GPU) for training and autocast inference')
    parser.add_argument('--device', choices=['cpu', 'cuda'], default=None,
                        help='default: cuda when available, else cpu')
    parser.add_argument('--image-size', type=int, default=None,
                        help='input size; also sets '
                        'model.backbone.force_image_size (default: the '
                        "model's own image size)")
    parser.add_argument('--views', type=int, default=None,
                        help='training views per sample (default: from the '
                        "train pipeline's MultiView, 3 for FLIP-MCL)")
    parser.add_argument('--channels', type=int, default=None,
                        help='input channels (default: 3 x paired '
                        'modalities of the train dataset)')
    parser.add_argument('--no-pretrained', action='store_true',
                        help='model.backbone.pretrained=None: random '
                        'weights, runs offline')
    parser.add_argument('--skip-train', action='store_true',
                        help='do not measure training')
    parser.add_argument('--skip-inference', action='store_true',
                        help='do not measure inference')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch.set_num_threads (CPU); on a shared CPU '
                        'fewer threads than cores avoid OpenMP stalls')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the model init and the random inputs')
    parser.add_argument('--json', metavar='OUT',
                        help='also write the numbers to this JSON file')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, key=value')
    return parser.parse_args(argv)


# --------------------------------------------------------------- environment
def device_name(device: torch.device) -> str:
    if device.type == 'cuda':
        return torch.cuda.get_device_name(device)
    name = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.lower().startswith('model name'):
                    name = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    return (f'{name} ({torch.get_num_threads()} torch threads, '
            f'{os.cpu_count()} logical CPUs)')


def rss_mb() -> float:
    """Current resident set size of this process in MiB."""
    try:
        with open('/proc/self/statm') as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf('SC_PAGE_SIZE') / 2**20
    except (OSError, ValueError):
        return peak_rss_mb()


def peak_rss_mb() -> float:
    """Peak RSS of this process so far in MiB (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ------------------------------------------------------------------ config
def _find(cfg, key):
    """First value of ``key`` in a nested dict/list config (depth first)."""
    if isinstance(cfg, dict):
        if key in cfg:
            return cfg[key]
        values = cfg.values()
    elif isinstance(cfg, (list, tuple)):
        values = cfg
    else:
        return None
    for v in values:
        found = _find(v, key)
        if found is not None:
            return found
    return None


def _train_pipeline(cfg) -> list:
    loader = cfg.get('train_dataloader') or {}
    return _find(loader.get('dataset', {}), 'pipeline') or []


def count_views(cfg, model) -> int:
    # the layout is defined once (mmfas.models.data_preprocessors.multi_view)
    pipeline = _train_pipeline(cfg)
    if pipeline:
        return pipeline_num_views(pipeline)
    return getattr(model, 'num_views', 1)


def count_channels(cfg) -> int:
    dataset = (cfg.get('train_dataloader') or {}).get('dataset', {})
    mods = _find(dataset, 'modalities')
    mode = _find(dataset, 'modality_mode') or 'paired'
    if isinstance(mods, (list, tuple)) and mode == 'paired':
        return 3 * max(1, len(mods))
    return 3


def _find_all(cfg, key) -> list:
    """Every value of ``key`` in a nested dict/list config."""
    if isinstance(cfg, dict):
        found = [cfg[key]] if key in cfg else []
        return found + [x for k, v in cfg.items() if k != key
                        for x in _find_all(v, key)]
    if isinstance(cfg, (list, tuple)):
        return [x for v in cfg for x in _find_all(v, key)]
    return []


def train_labels(cfg, model=None) -> Optional[int]:
    """The one label of a one-class model (``model.one_class``: 1, live) or
    training recipe (every training dataset filtered to ``label='live'``:
    1; ``'spoof'``: 0), else None (both classes: the synthetic batch
    alternates them)."""
    if getattr(model, 'one_class', False):
        return 1
    dataset = (cfg.get('train_dataloader') or {}).get('dataset', {})
    labels = set(_find_all(dataset, 'label'))
    if len(labels) == 1 and next(iter(labels)) in ('live', 'spoof'):
        return 1 if labels == {'live'} else 0
    return None


def _label_note(label: Optional[int]) -> str:
    if label is None:
        return ''
    return f', training labels all {"live" if label else "spoof"} ' \
        '(one-class)'


def load_config(args) -> Config:
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    merge_data_preprocessor(cfg)  # the data recipe's normalisation
    backbone = cfg.model.get('backbone')
    if args.no_pretrained:
        if not isinstance(backbone, dict):
            raise ValueError('--no-pretrained: the model has no backbone '
                             'config')
        backbone['pretrained'] = None
    if args.image_size is not None:
        if not isinstance(backbone, dict):
            raise ValueError('--image-size: the model has no backbone config')
        backbone['force_image_size'] = args.image_size
    if args.amp:
        set_amp(cfg)
    return cfg


def model_image_size(model) -> int:
    visual = getattr(getattr(model, 'backbone', None), 'visual', None)
    size = getattr(visual, 'image_size', 224)
    return int(size[0] if isinstance(size, (list, tuple)) else size)


# -------------------------------------------------------------- synthetic
def make_batch(batch: int, size: int, views: int, channels: int,
               seed: int, label: Optional[int] = None) -> dict:
    """What the dataloader yields: ``pseudo_collate`` of PackFASInputs'
    uint8 BGR images (C, H, W): a list over samples, or, with
    ``views > 1``, a list over views of sequences over the batch (the
    collate transposes each sample's list of views); data samples with
    alternating spoof / live labels, or all ``label`` (a one-class recipe,
    :func:`train_labels`)."""
    from mmengine.dataset import pseudo_collate
    from mmpretrain.structures import DataSample
    g = torch.Generator().manual_seed(seed)

    def img():
        return torch.randint(0, 256, (channels, size, size), generator=g,
                             dtype=torch.uint8)

    per_sample = [[img() for _ in range(views)] if views > 1 else img()
                  for _ in range(batch)]
    inputs = pseudo_collate(per_sample)
    samples = []
    for i in range(batch):
        s = DataSample().set_gt_label(i % 2 if label is None else label)
        s.set_field(torch.tensor([i % 3]), 'domain_label')
        s.set_field(torch.tensor([0]), 'modality_label')
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


# ---------------------------------------------------------------- timing
class Clock:

    def __init__(self, device: torch.device):
        self.cuda = device.type == 'cuda'

    def sync(self):
        if self.cuda:
            torch.cuda.synchronize()

    def block(self, fn: Callable[[], object], iters: int) -> float:
        """Seconds per iteration of ``iters`` calls."""
        self.sync()
        start = time.perf_counter()
        for _ in range(iters):
            fn()
        self.sync()
        return (time.perf_counter() - start) / iters


def interleaved(clock: Clock, variants: Dict[str, Callable], iters: int,
                warmup: int, repeats: int,
                before_block: Optional[Dict[str, Callable]] = None,
                after_block: Optional[Dict[str, Callable]] = None
                ) -> Dict[str, List[float]]:
    """Per-iteration seconds of each variant in ``repeats`` blocks, the
    variants alternating (order reversed every other repeat);
    ``before_block[name]()`` / ``after_block[name]()``, if given, run
    untimed before / after each block of that variant (e.g. to warm a cache
    the other variant emptied)."""
    names = list(variants)
    before_block = before_block or {}
    after_block = after_block or {}
    for name in names:
        for _ in range(warmup):
            variants[name]()
    clock.sync()
    times = {n: [] for n in names}
    for r in range(repeats):
        for name in (names if r % 2 == 0 else names[::-1]):
            if name in before_block:
                before_block[name]()
            times[name].append(clock.block(variants[name], iters))
            if name in after_block:
                after_block[name]()
    return times


def _median(xs):
    return statistics.median(xs) if xs else float('nan')


# ------------------------------------------------------------- text cache
def text_caches(model) -> list:
    from mmfas.models.utils.prompts import TextFeatureCache
    return [m for m in model.modules() if isinstance(m, TextFeatureCache)]


@contextlib.contextmanager
def text_cache_disabled(caches):
    """Make every TextFeatureCache recompute at each call (FLIP reference
    behaviour)."""

    def uncached(self, compute, params):
        self.num_computed += 1
        return compute()

    for c in caches:
        c.clear()
        c.get = uncached.__get__(c)
    try:
        yield
    finally:
        for c in caches:
            del c.get
            c.clear()


# ------------------------------------------------------------ optimisers
def build_runner_optim_wrapper(model, cfg, device, notes):
    """The optim wrapper exactly as ``Runner.build_optim_wrapper`` builds it
    (registry + OPTIM_WRAPPER_CONSTRUCTORS, paramwise_cfg honoured); with
    ``--amp`` that is ``AmpOptimWrapper`` on GPUs and
    ``BF16AmpOptimWrapper`` on CPUs (``set_amp``)."""
    return build_optim_wrapper(model, cfg.optim_wrapper.copy())


def amp_dtype(wrapper, device) -> torch.dtype:
    dtype = getattr(wrapper, 'cast_dtype', None)
    if dtype is None:
        dtype = torch.bfloat16 if device.type == 'cpu' else torch.float16
    return dtype


def _sum_losses(losses: dict) -> torch.Tensor:
    """mmengine's ``parse_losses`` rule: every entry whose key contains
    'loss', each reduced by mean."""
    total = 0
    for key, value in losses.items():
        if 'loss' not in key:
            continue
        if isinstance(value, torch.Tensor):
            total = total + value.mean()
        else:
            total = total + sum(v.mean() for v in value)
    return total


# ------------------------------------------------------------------ main
def main(argv=None):
    args = parse_args(argv)
    device = torch.device(args.device or (
        'cuda' if torch.cuda.is_available() else 'cpu'))
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('--device cuda: CUDA is not available')
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    register_all_modules(init_default_scope=False)
    cfg = load_config(args)
    init_default_scope(cfg.get('default_scope', 'mmfas'))

    notes: List[str] = []
    # weights as constructed (open_clip's init / the pretrained CLIP); the
    # Runner's init_weights() would only log that nothing changed
    model = MODELS.build(cfg.model)
    model.to(device)
    n_params = sum(p.numel() for p in model.parameters())
    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    size = args.image_size or model_image_size(model)
    views = args.views or count_views(cfg, model)
    channels = args.channels or count_channels(cfg)
    clock = Clock(device)
    caches = text_caches(model)

    label = train_labels(cfg, model)  # synthetic training labels
    results = dict(
        config=args.config, model=type(model).__name__,
        device=str(device), device_name=device_name(device),
        torch=torch.__version__, amp=args.amp, batch_size=args.batch_size,
        image_size=size, train_views=views, channels=channels,
        train_label=label, iters=args.iters,
        warmup=args.warmup, repeats=args.repeats,
        params=n_params, trainable_params=n_train, notes=notes)

    print(f'config:        {args.config}')
    print(f'model:         {type(model).__name__}, {n_params / 1e6:.2f} M '
          f'params ({n_train / 1e6:.2f} M trainable)')
    print(f'device:        {device} - {results["device_name"]}')
    print(f'torch:         {torch.__version__}; amp: {args.amp}')
    print(f'input:         batch {args.batch_size}, {channels}x{size}x{size}'
          f', {views} view(s) per training sample'
          f'{_label_note(label)}; timing: {args.warmup} '
          f'warm-up + {args.repeats} x {args.iters} iters per variant, '
          'medians')

    base_rss = rss_mb()
    base_peak = peak_rss_mb()
    memory = {}

    def mem_begin():
        if device.type == 'cuda':
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats(device)

    def mem_end(name):
        if device.type == 'cuda':
            memory[name] = dict(
                max_allocated_mb=torch.cuda.max_memory_allocated(device) /
                2**20,
                max_reserved_mb=torch.cuda.max_memory_reserved(device) / 2**20)
        else:
            # ru_maxrss only grows: run the lighter phase (inference) first
            memory[name] = dict(peak_rss_delta_mb=max(
                0.0, peak_rss_mb() - base_rss), peak_rss_mb=peak_rss_mb())

    # ------------------------------------------------------- (c) inference
    if not args.skip_inference:
        model.eval()
        autocast = (torch.autocast(device.type, dtype=torch.bfloat16 if
                                   device.type == 'cpu' else torch.float16)
                    if args.amp else contextlib.nullcontext())
        infer = {}
        mem_begin()
        for bs in sorted({1, args.batch_size}):
            raw = make_batch(bs, size, 1, channels, args.seed + 1)

            def predict(raw=raw):
                with torch.no_grad(), autocast:
                    data = model.data_preprocessor(raw, False)
                    return model(**data, mode='predict')

            variants = {'cached': predict}
            before, after = {}, {}
            in_cached = []  # text computations during each cached block
            if caches:
                def predict_uncached(raw=raw):
                    with text_cache_disabled(caches):
                        return predict(raw)

                def warm(predict=predict):
                    # the uncached variant empties the cache: refill it
                    # untimed, so a cached block never recomputes
                    predict()
                    in_cached.append(-sum(c.num_computed for c in caches))

                def count():
                    in_cached[-1] += sum(c.num_computed for c in caches)

                variants['uncached'] = predict_uncached
                before['cached'], after['cached'] = warm, count
            times = interleaved(clock, variants, args.iters, args.warmup,
                                args.repeats, before, after)
            entry = {}
            for name, ts in times.items():
                med = _median(ts)
                entry[name] = dict(sec_per_iter=med, images_per_s=bs / med,
                                   blocks=ts)
            if 'uncached' in entry:
                # the two blocks of a repeat ran back to back
                entry['cache_speedup'] = _median([
                    u / c for u, c in zip(times['uncached'], times['cached'])
                ])
                entry['cache_speedup_of_medians'] = (
                    entry['uncached']['sec_per_iter'] /
                    entry['cached']['sec_per_iter'])
                entry['text_computed_in_cached_blocks'] = sum(in_cached)
                # sanity: the uncached variant really recomputes
                before = sum(c.num_computed for c in caches)
                predict_uncached()
                entry['text_recomputed_per_call'] = sum(
                    c.num_computed for c in caches) - before
            infer[f'batch_{bs}'] = entry
        mem_end('inference')
        results['inference'] = infer

    # -------------------------------------------------------- (a) + (b)
    if not args.skip_train:
        model.train()
        raw = make_batch(args.batch_size, size, views, channels, args.seed,
                         label=label)
        optim_wrapper = build_runner_optim_wrapper(model, cfg, device, notes)
        optim_wrapper.initialize_count_status(
            model, 0, args.warmup + args.iters * args.repeats)
        staged = isinstance(optim_wrapper, OptimWrapperDict)
        bare = build_runner_optim_wrapper(model, cfg, device, [])
        # one optimizer per stage in run order; a single-stage model is one
        # stage named None (model(mode='loss') without a stage)
        if staged:
            bare_optimizers = OrderedDict(
                (name, w.optimizer) for name, w in bare.items())
            owned = stage_parameters(bare)
            wrappers = list(optim_wrapper.values())
        else:
            bare_optimizers = OrderedDict([(None, bare.optimizer)])
            owned = {}
            wrappers = [optim_wrapper]
        scalers = {}
        if args.amp:
            dtype = amp_dtype(wrappers[0], device)
            if dtype == torch.float16:
                scalers = {name: torch.amp.GradScaler(device.type)
                           for name in bare_optimizers}
            bare_ctx = lambda: torch.autocast(device.type, dtype=dtype)  # noqa
        else:
            bare_ctx = contextlib.nullcontext

        def bare_step():
            data = model.data_preprocessor(raw, True)
            for stage, optimizer in bare_optimizers.items():
                # as staged_train_step: the other stages' parameters are
                # switched off during the stage
                others = [p for name, ps in owned.items() if name != stage
                          for p in ps]
                kwargs = {} if stage is None else dict(stage=stage)
                with temporarily_frozen(others):
                    with bare_ctx():
                        losses = model(**data, mode='loss', **kwargs)
                    loss = _sum_losses(losses)
                    # same order as OptimWrapper.update_params: gradients
                    # are freed before the next forward
                    scaler = scalers.get(stage)
                    if scaler is not None:
                        scaler.scale(loss).backward()
                        scaler.step(optimizer)
                        scaler.update()
                    else:
                        loss.backward()
                        optimizer.step()
                optimizer.zero_grad(set_to_none=True)

        def mmengine_step():
            model.train_step(raw, optim_wrapper)

        mem_begin()
        times = interleaved(clock, {'bare': bare_step,
                                    'mmengine': mmengine_step},
                            args.iters, args.warmup, args.repeats)
        mem_end('train')
        train = {}
        for name, ts in times.items():
            med = _median(ts)
            train[name] = dict(sec_per_iter=med,
                               images_per_s=args.batch_size / med, blocks=ts)
        a, b = train['bare']['sec_per_iter'], train['mmengine']['sec_per_iter']
        paired = [(tb - ta) / ta * 100
                  for ta, tb in zip(times['bare'], times['mmengine'])]
        # primary: median over adjacent (a, b) block pairs, which share the
        # machine's state at the time; secondary: ratio of the medians
        train['overhead_pct'] = _median(paired)
        train['overhead_ms_per_iter'] = _median(
            [(tb - ta) * 1e3
             for ta, tb in zip(times['bare'], times['mmengine'])])
        train['overhead_pct_of_medians'] = (b - a) / a * 100
        best_a, best_b = min(times['bare']), min(times['mmengine'])
        train['overhead_pct_best_of'] = (best_b - best_a) / best_a * 100
        train['optim_wrapper'] = type(optim_wrapper).__name__
        if staged:
            train['stages'] = OrderedDict(
                (name, f'{type(w).__name__}({type(w.optimizer).__name__})')
                for name, w in optim_wrapper.items())
            train['optimizer'] = ', '.join(
                f'{name}: {type(w.optimizer).__name__}'
                for name, w in optim_wrapper.items())
        else:
            train['stages'] = None
            train['optimizer'] = type(optim_wrapper.optimizer).__name__
        results['train'] = train
    results['memory'] = memory
    if base_peak > base_rss * 1.05 + 16 and device.type == 'cpu':
        notes.append(f'peak RSS before benchmarking ({base_peak:.0f} MiB, '
                     'e.g. while loading weights) exceeded the baseline '
                     f'RSS ({base_rss:.0f} MiB): a phase peak below it is '
                     'reported as that earlier peak minus the baseline')
    results['baseline_rss_mb'] = base_rss

    report(results, args)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)),
                    exist_ok=True)
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=2)
        print(f'wrote {args.json}')
    return results


def report(r, args):
    bs = r['batch_size']
    if 'train' in r:
        t = r['train']
        views = (f' (x{r["train_views"]} views per sample)'
                 if r['train_views'] > 1 else '')
        print(f'\n[train] batch {bs}{views}, optimizer {t["optimizer"]}, '
              f'optim wrapper {t["optim_wrapper"]}')
        if t.get('stages'):
            print(f'[train] {len(t["stages"])} stages per iteration, in '
                  'order (each: forward, backward, step of its own '
                  'optimizer): ' + ', '.join(
                      f'{k} {v}' for k, v in t['stages'].items()))
        print(f'(a) train bare PyTorch loop:   '
              f'{t["bare"]["images_per_s"]:10.2f} images/s  '
              f'({t["bare"]["sec_per_iter"] * 1e3:.2f} ms/iter)')
        print(f'(b) train mmengine train_step: '
              f'{t["mmengine"]["images_per_s"]:10.2f} images/s  '
              f'({t["mmengine"]["sec_per_iter"] * 1e3:.2f} ms/iter)')
        verdict = 'OK' if t['overhead_pct'] <= 5 else 'ABOVE 5 % TARGET'
        print(f'    mmengine overhead per iter (b) over (a): '
              f'{t["overhead_pct"]:+.2f} % ({t["overhead_ms_per_iter"]:+.3f} '
              'ms; median over adjacent block pairs; ratio of medians '
              f'{t["overhead_pct_of_medians"]:+.2f} %, best blocks '
              f'{t["overhead_pct_best_of"]:+.2f} %) '
              f'[target <= 5 %: {verdict}]')
    if 'inference' in r:
        print('\n[inference] model(mode="predict") under torch.no_grad, '
              'eval mode')
        for key, e in r['inference'].items():
            b = int(key.split('_')[1])
            tag = 'text cache ON: ' if 'uncached' in e else 'no text cache:'
            line = (f'(c) inference batch {b:<3d} {tag} '
                    f'{e["cached"]["images_per_s"]:10.2f} images/s  '
                    f'({e["cached"]["sec_per_iter"] * 1e3:.2f} ms/call)')
            print(line)
            if 'uncached' in e:
                print(f'(c) inference batch {b:<3d} text cache OFF: '
                      f'{e["uncached"]["images_per_s"]:10.2f} images/s  '
                      f'({e["uncached"]["sec_per_iter"] * 1e3:.2f} ms/call, '
                      'class text features recomputed every call)')
                print(f'    speed-up from caching at batch {b}: '
                      f'{e["cache_speedup"]:.2f}x (median of paired '
                      '(OFF, ON) block ratios; cache warmed before each ON '
                      'block, text features computed in ON blocks: '
                      f'{e["text_computed_in_cached_blocks"]}; ratio of '
                      f'medians {e["cache_speedup_of_medians"]:.2f}x)')
    print()
    for phase, m in r['memory'].items():
        if 'max_allocated_mb' in m:
            print(f'(d) peak memory {phase:<9s}: '
                  f'{m["max_allocated_mb"]:.1f} MiB max_memory_allocated '
                  f'({m["max_reserved_mb"]:.1f} MiB reserved)')
        else:
            print(f'(d) peak memory {phase:<9s}: '
                  f'+{m["peak_rss_delta_mb"]:.1f} MiB peak RSS over the '
                  f'{r["baseline_rss_mb"]:.1f} MiB after building the model '
                  f'(process peak {m["peak_rss_mb"]:.1f} MiB)')
    for n in r['notes']:
        print(f'NOTE: {n}')


if __name__ == '__main__':
    main()
