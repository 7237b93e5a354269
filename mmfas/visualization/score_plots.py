"""Plots of a test run's scores: ROC and DET curves, score histograms and
APCER per attack type, from the ``fas_scores_<name>.csv`` files
:class:`~mmfas.evaluation.FASMetric` writes into the run's log directory.

One CSV row is one evaluated unit (a video, or a frame with
``level='frame'``): ``id, domain, attack_type, label, score, eval_role``,
``label`` 1 = live, ``score`` the liveness score. The curves and rates are
those of the rows the metric evaluated: the ``'test'`` rows, or the
``'val'`` rows of a validation-only run. Live is the positive class: the ROC's
false positive rate is the share of attacks accepted as live (APCER pooled
over the attack types), its true positive rate ``1 - BPCER``; a sample is
accepted iff ``score >= threshold`` (:mod:`mmfas.structures.score_rule`).

**The marked threshold** is the one the run used. The metric logs it with
its policy (``FASMetric [fas]: threshold_policy='val', ... threshold=...``)
just before writing the CSV; it is read from the ``*.log`` next to the CSV.
The metric is then re-run on the CSV with that policy
(:func:`~mmfas.evaluation.score_files.evaluate_score_file`) to recover the
threshold at full precision;
when the result does not agree with the log's six digits (a ``val_target``
other than the EER, say) the log's value is used. Without a log the
threshold is recomputed with the default policy (``'val'``: the EER of the
validation rows; ``'test_eer'`` when the CSV has no validation rows). The
plots of one run say under them which file and threshold they show.
``threshold=`` overrides all of this.

matplotlib is optional (``pip install matplotlib``); it is imported when a
plot is drawn, and figures are drawn without pyplot (no display, no global
backend change).
"""
import fnmatch
import os
import os.path as osp
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

__all__ = [
    'MATPLOTLIB_INSTALL', 'require_matplotlib', 'ScoreRun',
    'read_scores_csv', 'find_score_csvs', 'load_score_run', 'plot_roc',
    'plot_det', 'plot_histograms', 'plot_apcer', 'error_table',
    'plot_score_run',
    'plot_results'
]

MATPLOTLIB_INSTALL = 'pip install matplotlib'
SCORES_GLOB = 'fas_scores_*.csv'
_LIVE_TYPE = 'none'

_MSG_RE = re.compile(
    r"FASMetric \[(?P<prefix>[^\]]+)\]: (?:LEGACY )?threshold_policy="
    r"'(?P<policy>\w+)', (?P<level>\w+) level: threshold=(?P<thr>[^,\s]+), "
    r"threshold_source='(?P<source>[^']*)'")
_WROTE_RE = re.compile(r'FASMetric \[(?P<prefix>[^\]]+)\]: wrote '
                       r'fas_scores_(?P<name>\S+?)\.csv')


def require_matplotlib():
    """Import matplotlib or fail with the command that installs it."""
    try:
        import matplotlib  # noqa: F401
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError(
            f'mmfas plots need matplotlib, which is not installed ({e}). '
            f'Install it: {MATPLOTLIB_INSTALL} (or pip install -r '
            'requirements/optional.txt)') from e
    return Figure


@dataclass
class ScoreRun:
    """The scores of one ``fas_scores_*.csv`` and the threshold of its run.

    ``scores``, ``labels``, ``attack_types`` hold the evaluated rows
    (``evaluated_role``); ``threshold_note`` says where the threshold came
    from.
    """
    path: str
    name: str
    scores: np.ndarray
    labels: np.ndarray
    attack_types: np.ndarray
    evaluated_role: str
    threshold: float
    threshold_note: str
    table: Dict[str, np.ndarray] = field(repr=False, default_factory=dict)

    @property
    def is_live(self) -> np.ndarray:
        return self.labels == 1

    @property
    def attack_names(self) -> List[str]:
        return sorted(set(self.attack_types[~self.is_live].tolist()))


# --------------------------------------------------------------- reading
def read_scores_csv(path: str) -> Dict[str, np.ndarray]:
    """Read a ``fas_scores_*.csv`` into column arrays (``label`` int,
    ``score`` float) with :func:`mmfas.evaluation.score_files.
    read_score_file`.

    Raises:
        ValueError: not a scores file (a ``fas_frames_*.csv`` or another
            header) or a bad row, naming the file and line.
    """
    from mmfas.evaluation.score_files import read_score_file
    kind, cols = read_score_file(path)
    if kind != 'scores':
        raise ValueError(
            f'{path}: a {kind} file; the plots read the rows a run '
            f'evaluated, its {SCORES_GLOB} file')
    return cols


def find_score_csvs(work_dir: str, pattern: str = SCORES_GLOB) -> List[str]:
    """Every score CSV under ``work_dir`` (recursively) whose file name
    matches ``pattern``, sorted.

    Raises:
        FileNotFoundError: ``work_dir`` is missing or holds none.
    """
    if osp.isfile(work_dir) and fnmatch.fnmatch(osp.basename(work_dir),
                                                '*.csv'):
        return [work_dir]
    if not osp.isdir(work_dir):
        raise FileNotFoundError(f'not a directory: {work_dir}')
    found = []
    for root, _, files in os.walk(work_dir):
        found += [osp.join(root, f) for f in files
                  if fnmatch.fnmatch(f, pattern)]
    if not found:
        raise FileNotFoundError(
            f'no {pattern} under {work_dir}: tools/test.py (and '
            'tools/train.py --test) write the FASMetric score files into '
            "the run's log directory WORK_DIR/<timestamp>/")
    return sorted(found)


def _logged_threshold(csv_path: str) -> Optional[dict]:
    """The metric's log message for this CSV (policy, threshold, ...), from
    the ``*.log`` files next to it; the last one that wrote it wins."""
    folder = osp.dirname(osp.abspath(csv_path))
    name = osp.basename(csv_path)[len('fas_scores_'):-len('.csv')]
    found = None
    for log in sorted(f for f in os.listdir(folder) if f.endswith('.log')):
        last = {}
        with open(osp.join(folder, log), errors='replace') as f:
            for line in f:
                m = _MSG_RE.search(line)
                if m:
                    last[m.group('prefix')] = m.groupdict()
                    continue
                w = _WROTE_RE.search(line)
                if w and w.group('name') == name and \
                        w.group('prefix') in last:
                    found = dict(last[w.group('prefix')], log=log)
    return found


def _recompute(path: str, policy: str) -> float:
    """The threshold :class:`FASMetric` computes on the file's rows with
    ``policy``."""
    import warnings

    from mmfas.evaluation.score_files import evaluate_score_file
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return float(
            evaluate_score_file(path, threshold_policy=policy)['threshold'])


def _run_threshold(path: str, table: dict) -> tuple:
    logged = _logged_threshold(path)
    has_val = bool((table['eval_role'] == 'val').any())
    if logged is None:
        policy = 'val' if has_val else 'test_eer'
        what = ('the EER of the validation rows' if has_val else
                'the EER of the evaluated rows (LEGACY test_eer)')
        return _recompute(path, policy), (
            f'recomputed ({what}; no log names the run\'s threshold)')
    policy, text = logged['policy'], logged['thr']
    try:
        logged_thr = float(text)
    except ValueError:
        raise ValueError(f'{logged["log"]}: cannot read the threshold '
                         f'{text!r} logged for {path}')
    note = f"threshold_policy='{policy}', source '{logged['source']}'"
    if policy in ('val', 'test_eer') and not np.isnan(logged_thr):
        try:
            exact = _recompute(path, policy)
        except ValueError:
            exact = float('nan')
        if f'{exact:.6g}' == text:
            return exact, note
    return logged_thr, note + ' (as logged, 6 digits)'


def _display_name(path: str, root: Optional[str]) -> str:
    name = osp.basename(path)[len('fas_scores_'):-len('.csv')]
    if root is None:
        return name
    rel = osp.relpath(osp.dirname(osp.abspath(path)), osp.abspath(root))
    parts = [p for p in rel.split(os.sep)
             if p not in ('.', '') and not re.fullmatch(r'\d{8}_\d{6}', p)]
    return '/'.join(parts + [name])


def load_score_run(path: str,
                   name: Optional[str] = None,
                   threshold: Optional[float] = None) -> ScoreRun:
    """Read one score CSV and find its threshold (see the module doc).

    Args:
        path (str): A ``fas_scores_*.csv``.
        name (str, optional): Label in plots. Defaults to the file's name.
        threshold (float, optional): Use this threshold instead.
    """
    table = read_scores_csv(path)
    role = 'test' if (table['eval_role'] == 'test').any() else 'val'
    rows = table['eval_role'] == role
    if threshold is not None:
        from mmfas.structures import score_rule
        thr = score_rule.check_threshold(threshold, 'threshold')
        note = 'given'
    else:
        thr, note = _run_threshold(path, table)
    return ScoreRun(
        path=path,
        name=name or _display_name(path, None),
        scores=table['score'][rows],
        labels=table['label'][rows],
        attack_types=table['attack_type'][rows],
        evaluated_role=role,
        threshold=float(thr),
        threshold_note=note,
        table=table)


# ------------------------------------------------------------- drawing
def _rates(run: ScoreRun) -> dict:
    from mmfas.evaluation import functional as F
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return F.error_rates(run.scores, run.labels, run.threshold,
                             attack_types=run.attack_types)


def _curve(run: ScoreRun):
    from mmfas.evaluation import functional as F
    roc = F.BinaryROC(run.scores, run.labels)
    if roc.num_live == 0 or roc.num_spoof == 0:
        raise ValueError(
            f'{run.path}: a ROC needs live and spoof rows among the '
            f'{run.evaluated_role} rows (got {roc.num_live} live, '
            f'{roc.num_spoof} spoof)')
    fpr, tpr, _ = roc.curve()
    return fpr, tpr, roc.auc(), roc.eer()[0], roc


def _new_figure(size=(6.4, 5.2)):
    Figure = require_matplotlib()
    fig = Figure(figsize=size, dpi=100)
    return fig


def _save(fig, path: str) -> str:
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches='tight')
    return path


def _legend_below(ax):
    """The legend under the axes, where it hides no curve."""
    ax.legend(loc='upper center', bbox_to_anchor=(0.5, -0.2), fontsize=7,
              ncol=1, frameon=False)


def _floor(runs: Sequence[ScoreRun], live: bool) -> float:
    n = max(int((r.is_live if live else ~r.is_live).sum()) for r in runs)
    return 0.5 / max(1, n)


def _operating_label(run: ScoreRun, rates: dict) -> str:
    return (f'threshold {run.threshold:.4g}: APCER {100 * rates["FAR"]:.1f}'
            f'% (max/type {100 * rates["APCER"]:.1f}%), BPCER '
            f'{100 * rates["BPCER"]:.1f}%')


def plot_roc(runs: Sequence[ScoreRun], out_file: str,
             title: Optional[str] = None) -> str:
    """ROC curve(s), log false-positive axis, each run's threshold
    marked; several runs are overlaid."""
    fig = _new_figure()
    ax = fig.add_subplot(1, 1, 1)
    floor = _floor(runs, live=False)
    for i, run in enumerate(runs):
        fpr, tpr, auc, eer, _ = _curve(run)
        color = f'C{i % 10}'
        ax.plot(np.maximum(fpr, floor), tpr, color=color, lw=1.6,
                label=f'{run.name} (AUC {100 * auc:.1f}%, EER '
                f'{100 * eer:.1f}%)')
        r = _rates(run)
        ax.plot(max(r['FAR'], floor), 1 - r['BPCER'], 'o', color=color,
                ms=8, mec='black', label=_operating_label(run, r))
    ax.set_xscale('log')
    ax.set_xlim(floor * 0.8, 1.05)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel('false positive rate = attacks accepted (APCER, pooled)'
                  f'\nlog scale; 0 drawn at {floor:.1e}')
    ax.set_ylabel('true positive rate = live accepted (1 - BPCER)')
    ax.grid(True, which='both', alpha=0.3)
    ax.set_title(title or f'ROC ({runs[0].evaluated_role} rows)')
    _legend_below(ax)
    if len(runs) == 1:
        _footnote(ax, runs[0], y=-0.2 - 0.045 * (
            len(ax.get_legend().get_texts()) + 0.5))
    return _save(fig, out_file)


def plot_det(runs: Sequence[ScoreRun], out_file: str,
             title: Optional[str] = None) -> str:
    """DET curve(s): BPCER against APCER (pooled), both axes log, each
    run's threshold marked, the EER line dashed."""
    fig = _new_figure()
    ax = fig.add_subplot(1, 1, 1)
    fx, fy = _floor(runs, live=False), _floor(runs, live=True)
    for i, run in enumerate(runs):
        fpr, tpr, _, eer, _ = _curve(run)
        color = f'C{i % 10}'
        ax.plot(np.maximum(fpr, fx), np.maximum(1 - tpr, fy), color=color,
                lw=1.6, label=f'{run.name} (EER {100 * eer:.1f}%)')
        r = _rates(run)
        ax.plot(max(r['FAR'], fx), max(r['BPCER'], fy), 'o', color=color,
                ms=8, mec='black', label=_operating_label(run, r))
    lo = min(fx, fy) * 0.8
    ax.plot([lo, 1], [lo, 1], 'k--', lw=0.8, alpha=0.6, label='EER line')
    ax.set_xscale('log')
    ax.set_yscale('log')
    ax.set_xlim(fx * 0.8, 1.05)
    ax.set_ylim(fy * 0.8, 1.05)
    ax.set_xlabel(f'APCER (attacks accepted, pooled); log, 0 at {fx:.1e}')
    ax.set_ylabel(f'BPCER (live rejected); log, 0 at {fy:.1e}')
    ax.grid(True, which='both', alpha=0.3)
    ax.set_title(title or f'DET ({runs[0].evaluated_role} rows)')
    _legend_below(ax)
    if len(runs) == 1:
        _footnote(ax, runs[0], y=-0.2 - 0.045 * (
            len(ax.get_legend().get_texts()) + 0.5))
    return _save(fig, out_file)


def _bins(run: ScoreRun, n: int = 30) -> np.ndarray:
    lo = min(float(run.scores.min()), run.threshold)
    hi = max(float(run.scores.max()), run.threshold)
    pad = max(1e-3, 0.05 * (hi - lo))
    return np.linspace(max(0.0, lo - pad), min(1.0, hi + pad), n + 1)


def plot_histograms(run: ScoreRun, out_file: str) -> str:
    """Score histograms per class (left) and per attack type (right), the
    threshold drawn."""
    fig = _new_figure(size=(11, 4.4))
    bins = _bins(run)
    live = run.is_live
    ax1 = fig.add_subplot(1, 2, 1)
    ax1.hist(run.scores[live], bins=bins, color='C2', alpha=0.6,
             label=f'live ({int(live.sum())})')
    ax1.hist(run.scores[~live], bins=bins, color='C3', alpha=0.6,
             label=f'spoof ({int((~live).sum())})')
    ax1.set_title(f'{run.name}: scores per class')
    ax2 = fig.add_subplot(1, 2, 2)
    groups = [('live', run.scores[live])] + [
        (t, run.scores[~live & (run.attack_types == t)])
        for t in run.attack_names
    ]
    for i, (t, s) in enumerate(groups):
        color = 'C2' if t == 'live' else f'C{(i + 2) % 10}'
        ax2.hist(s, bins=bins, histtype='step', lw=1.8, color=color,
                 label=f'{t} ({s.size})')
    ax2.set_title(f'{run.name}: scores per attack type')
    for ax in (ax1, ax2):
        ax.axvline(run.threshold, color='black', ls='--', lw=1.2,
                   label=f'threshold {run.threshold:.4g}')
        ax.set_xlabel('liveness score (live iff score >= threshold)')
        ax.set_ylabel(f'count ({run.evaluated_role} rows)')
        ax.legend(fontsize=7)
        ax.grid(True, alpha=0.3)
    _footnote(ax1, run)
    return _save(fig, out_file)


def error_table(run: ScoreRun) -> List[tuple]:
    """``(name, rate, errors, count)`` at the run's threshold: APCER per
    attack type (attacks accepted, ``score >= threshold``), then BPCER
    (live rejected)."""
    out = []
    for t in run.attack_names:
        s = run.scores[~run.is_live & (run.attack_types == t)]
        acc = int((s >= run.threshold).sum())
        out.append((f'APCER_{t}', acc / s.size, acc, s.size))
    s = run.scores[run.is_live]
    rej = int((s < run.threshold).sum())
    out.append(('BPCER', rej / s.size if s.size else float('nan'), rej,
                s.size))
    return out


def _footnote(ax, run: ScoreRun, y: float = -0.16) -> None:
    """Which file and threshold a plot shows, under the axes (``y`` in
    axes coordinates)."""
    ax.text(0.0, y, f'{run.path}\nthreshold {run.threshold:.6g}: '
            f'{run.threshold_note}', fontsize=6, va='top', color='0.3',
            transform=ax.transAxes)


def plot_apcer(run: ScoreRun, out_file: str) -> str:
    """APCER per attack type and BPCER at the run's threshold (bars, with
    the counts)."""
    fig = _new_figure(size=(6.4, 4.4))
    ax = fig.add_subplot(1, 1, 1)
    r = _rates(run)
    table = error_table(run)
    names = [('APCER\n' + n[len('APCER_'):]) if n != 'BPCER' else
             'BPCER\nlive' for n, _, _, _ in table]
    values = [100.0 * v for _, v, _, _ in table]
    counts = [f'{e}/{c}' for _, _, e, c in table]
    colors = ['C3'] * (len(names) - 1) + ['C2']
    bars = ax.bar(range(len(names)), values, color=colors, alpha=0.8)
    for b, v, c in zip(bars, values, counts):
        ax.text(b.get_x() + b.get_width() / 2, v + 1, f'{v:.1f}%\n({c})',
                ha='center', va='bottom', fontsize=8)
    ax.axhline(100 * r['APCER'], color='C3', ls=':', lw=1,
               label=f'APCER (max over types) {100 * r["APCER"]:.1f}%')
    ax.axhline(100 * r['ACER'], color='black', ls='--', lw=1,
               label=f'ACER {100 * r["ACER"]:.1f}%')
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, fontsize=8)
    ax.set_ylim(0, 119)
    ax.set_ylabel('error rate (%)')
    ax.set_title(f'{run.name}: errors at threshold {run.threshold:.4g}',
                 fontsize=10)
    ax.legend(fontsize=7, loc='upper right')
    ax.grid(True, axis='y', alpha=0.3)
    _footnote(ax, run)
    return _save(fig, out_file)


def plot_score_run(run: ScoreRun, out_dir: str,
                   prefix: Optional[str] = None) -> List[str]:
    """Every plot of one run: ``plot_<name>_{roc,det,hist,apcer}.png``."""
    stem = prefix or 'plot_' + osp.basename(run.path)[len('fas_scores_'):
                                                      -len('.csv')]
    out = osp.join(out_dir, stem)
    return [
        plot_roc([run], f'{out}_roc.png', title=f'ROC: {run.name}'),
        plot_det([run], f'{out}_det.png', title=f'DET: {run.name}'),
        plot_histograms(run, f'{out}_hist.png'),
        plot_apcer(run, f'{out}_apcer.png'),
    ]


def plot_results(work_dirs: Sequence[str],
                 out_dir: Optional[str] = None,
                 pattern: str = SCORES_GLOB,
                 threshold: Optional[float] = None,
                 logger=print) -> List[str]:
    """Plots of every score CSV under ``work_dirs``, and ROC / DET of all of
    them overlaid (``compare_roc.png``, ``compare_det.png``) when there are
    several (runs, seeds, checkpoints).

    Args:
        work_dirs (Sequence[str]): Work dirs, log dirs or CSV files.
        out_dir (str, optional): Where to write. Defaults to next to each
            CSV; the overlays go to the first work dir.
        pattern (str): File name glob of the CSVs. Defaults to
            ``'fas_scores_*.csv'``.
        threshold (float, optional): Mark this threshold instead of the
            runs' own.
        logger (callable): Where to report. Defaults to ``print``.

    Returns:
        list[str]: The PNG files written.
    """
    require_matplotlib()
    work_dirs = list(work_dirs)
    if not work_dirs:
        raise ValueError('plot_results: no work dir given')
    runs = []
    several_roots = len(work_dirs) > 1
    for wd in work_dirs:
        for path in find_score_csvs(wd, pattern):
            name = _display_name(path, wd if osp.isdir(wd) else None)
            if several_roots:
                name = f'{osp.basename(osp.normpath(wd))}/{name}'
            runs.append(load_score_run(path, name=name, threshold=threshold))
    names = [r.name for r in runs]
    for r in runs:
        if names.count(r.name) > 1:
            r.name = r.path
    written = []
    for r in runs:
        if out_dir is None:
            dest, prefix = osp.dirname(osp.abspath(r.path)), None
        else:
            dest = out_dir
            prefix = 'plot_' + re.sub(r'[^\w.-]+', '_', r.name)
        files = plot_score_run(r, dest, prefix)
        logger(f'{r.path}: {r.evaluated_role} rows ({int(r.is_live.sum())} '
               f'live / {int((~r.is_live).sum())} spoof), threshold '
               f'{r.threshold:.6g} [{r.threshold_note}] -> '
               + ', '.join(files))
        written += files
    if len(runs) > 1:
        dest = out_dir or (work_dirs[0] if osp.isdir(work_dirs[0]) else
                           osp.dirname(osp.abspath(work_dirs[0])))
        both = [plot_roc(runs, osp.join(dest, 'compare_roc.png'),
                         title=f'ROC of {len(runs)} runs'),
                plot_det(runs, osp.join(dest, 'compare_det.png'),
                         title=f'DET of {len(runs)} runs')]
        logger('overlays: ' + ', '.join(both))
        written += both
    return written
