"""mmfas.visualization's plots of a test run's score CSVs: the threshold of
the run (from its log), the rates drawn, the PNG files (written and
non-trivial), several runs overlaid, matplotlib optional."""
import importlib.util
import os.path as osp
import sys

import cv2
import numpy as np
import pytest

from mmfas.evaluation import FASMetric
from mmfas.visualization import (error_table, find_score_csvs,
                                 load_score_run, plot_results)
from mmfas.visualization.score_plots import plot_det, plot_roc

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _load_tool(name, rel):
    spec = importlib.util.spec_from_file_location(name, osp.join(REPO, rel))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def write_run(log_dir, seed=0, name='fas_iter_8', policy='val',
              threshold=None, log=True, shift=0.25):
    """A run's score CSV as FASMetric writes it (``_write_csv`` of
    ``calculate``'s details), and its log lines. Returns the metrics."""
    rng = np.random.default_rng(seed)
    scores, labels, ids, types, roles = [], [], [], [], []
    for role, n in (('val', 20), ('test', 30)):
        for t in ('none', 'print', 'replay', 'mask'):
            live = t == 'none'
            mu = 0.5 + (shift if live else -shift * (0.5 if t == 'mask'
                                                     else 1.0))
            for k in range(n if live else n // 2):
                scores.append(float(np.clip(rng.normal(mu, 0.15), 0, 1)))
                labels.append(int(live))
                ids.append(f'{role}/{t}_{k}')
                types.append(t)
                roles.append(role)
    metrics, details = FASMetric.calculate(
        scores, labels, video_ids=ids, attack_types=types,
        domains=['D'] * len(ids), eval_roles=roles, threshold_policy=policy,
        threshold=threshold, return_details=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    FASMetric._write_csv(str(log_dir), name, details)
    if log:
        with open(log_dir / f'{log_dir.name}.log', 'a') as f:
            # an earlier evaluation of another file must not be taken
            f.write('12/04 10:00:00 - mmengine - INFO - FASMetric [fas]: '
                    "threshold_policy='val', video level: threshold=0.123, "
                    "threshold_source='val (self)', from the ...\n")
            f.write('12/04 10:00:00 - mmengine - INFO - FASMetric [fas]: '
                    'wrote fas_scores_fas.csv and fas_roc_fas.csv to x\n')
            f.write('12/04 10:00:01 - mmengine - INFO - FASMetric [fas]: '
                    f'{details["message"]}\n')
            f.write('12/04 10:00:01 - mmengine - INFO - FASMetric [fas]: '
                    f'wrote fas_scores_{name}.csv and fas_roc_{name}.csv '
                    f'to {log_dir}\n')
    return metrics


def check_png(path, min_kb=15, min_w=500, min_h=350):
    assert osp.isfile(path), path
    assert osp.getsize(path) > min_kb * 1024, (path, osp.getsize(path))
    img = cv2.imread(path)
    assert img is not None and img.shape[1] >= min_w and \
        img.shape[0] >= min_h, (path, None if img is None else img.shape)
    # not a blank canvas: plenty of distinct colours
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 50
    return img


def test_threshold_and_rates_are_the_runs(tmp_path):
    log_dir = tmp_path / 'work' / '20261204_100000'
    metrics = write_run(log_dir)
    path = str(log_dir / 'fas_scores_fas_iter_8.csv')
    run = load_score_run(path)
    # the threshold the run used, at full precision
    assert run.threshold == metrics['threshold']
    assert "threshold_policy='val'" in run.threshold_note
    assert run.evaluated_role == 'test' and run.scores.size == 75
    # APCER per attack type and BPCER at that threshold: the metric's
    table = {n: 100 * v for n, v, _, _ in error_table(run)}
    assert set(table) == {'APCER_print', 'APCER_replay', 'APCER_mask',
                          'BPCER'}
    for k, v in table.items():
        assert v == pytest.approx(metrics[k], abs=1e-9), k
    # without a log: recomputed with the default policy (same here: EER of
    # the val rows), and said so
    bare = tmp_path / 'bare'
    bare.mkdir()
    (bare / 'fas_scores_x.csv').write_text(
        (log_dir / 'fas_scores_fas_iter_8.csv').read_text())
    run2 = load_score_run(str(bare / 'fas_scores_x.csv'))
    assert run2.threshold == metrics['threshold']
    assert 'recomputed' in run2.threshold_note
    # a fixed threshold is read from the log; another one can be given
    fixed_dir = tmp_path / 'fixed' / '20261204_100001'
    m = write_run(fixed_dir, policy='fixed', threshold=0.4321, name='fas_d')
    assert m['threshold'] == 0.4321
    run3 = load_score_run(str(fixed_dir / 'fas_scores_fas_d.csv'))
    assert run3.threshold == 0.4321 and "'fixed'" in run3.threshold_note
    assert load_score_run(path, threshold=0.7).threshold == 0.7
    with pytest.raises(ValueError, match='threshold'):
        load_score_run(path, threshold=1.5)


def test_plot_files(tmp_path):
    log_dir = tmp_path / 'work' / '20261204_100000'
    write_run(log_dir)
    files = plot_results([str(tmp_path / 'work')], logger=lambda m: None)
    names = sorted(osp.basename(f) for f in files)
    assert names == sorted(f'plot_fas_iter_8_{k}.png'
                           for k in ('roc', 'det', 'hist', 'apcer'))
    for f in files:
        # next to the CSV
        assert osp.dirname(f) == str(log_dir)
        check_png(f)
    hist = check_png(str(log_dir / 'plot_fas_iter_8_hist.png'))
    assert hist.shape[1] > 1.5 * hist.shape[0]  # two panels side by side


def test_several_runs_are_overlaid(tmp_path, capsys):
    for seed in (0, 1, 2):
        write_run(tmp_path / 'multi' / f'seed_{seed}' / '20261204_100000',
                  seed=seed, shift=0.1 + 0.1 * seed)
    tool = _load_tool('plot_results_tool',
                      'tools/analysis_tools/plot_results.py')
    out = tmp_path / 'plots'
    files = tool.main([str(tmp_path / 'multi'), '--out-dir', str(out)])
    assert len(files) == 3 * 4 + 2
    assert {osp.dirname(f) for f in files} == {str(out)}
    for seed in (0, 1, 2):
        assert (out / f'plot_seed_{seed}_fas_iter_8_roc.png').is_file()
    one = check_png(str(out / 'plot_seed_0_fas_iter_8_roc.png'))
    both = check_png(str(out / 'compare_roc.png'))
    check_png(str(out / 'compare_det.png'))
    # three curves and their operating points: a longer legend
    assert both.shape[0] > one.shape[0]
    printed = capsys.readouterr().out
    assert 'wrote 14 PNG files' in printed and 'seed_2' in printed
    # the CSVs are found recursively; a glob selects some
    assert len(find_score_csvs(str(tmp_path / 'multi'))) == 3
    with pytest.raises(FileNotFoundError, match='fas_nothing'):
        find_score_csvs(str(tmp_path / 'multi'), 'fas_nothing*.csv')


def test_bad_input_is_named(tmp_path):
    bad = tmp_path / 'fas_scores_bad.csv'
    bad.write_text('id,domain,attack_type,label,score,eval_role\n'
                   'a,D,none,1,0.5,test\nb,D,print,0,high,test\n')
    with pytest.raises(ValueError, match=r'fas_scores_bad.csv:3'):
        load_score_run(str(bad))
    one_class = tmp_path / 'fas_scores_one.csv'
    one_class.write_text('id,domain,attack_type,label,score,eval_role\n'
                         'a,D,none,1,0.5,test\nb,D,none,1,0.6,test\n')
    run = load_score_run(str(one_class), threshold=0.5)
    with pytest.raises(ValueError, match='live and spoof'):
        plot_roc([run], str(tmp_path / 'x.png'))
    with pytest.raises(ValueError, match='live and spoof'):
        plot_det([run], str(tmp_path / 'x.png'))
    with pytest.raises(FileNotFoundError, match='not a directory'):
        find_score_csvs(str(tmp_path / 'missing'))


def test_matplotlib_is_optional(monkeypatch):
    import importlib
    monkeypatch.setitem(sys.modules, 'matplotlib', None)
    for name in [m for m in sys.modules
                 if m.startswith('mmfas.visualization')]:
        monkeypatch.delitem(sys.modules, name)
    # the package (the demos' drawing) imports without matplotlib
    vis = importlib.import_module('mmfas.visualization')
    with pytest.raises(ImportError, match='pip install matplotlib'):
        vis.require_matplotlib()
    with pytest.raises(ImportError, match='pip install matplotlib'):
        vis.plot_results(['unused'])
