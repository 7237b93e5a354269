"""tools/test.py --plot and tools/analysis_tools/plot_results.py on a real
(tiny) test run of the demo config: the PNGs next to the score CSVs, at the
threshold the run used."""
import glob
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import torch

from mmfas.apis import init_model
from mmfas.visualization import load_score_run

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'flip', 'flip-it_tiny_demo.py')
LOADERS = ['val_dataloader.num_workers=0', 'test_dataloader.num_workers=0',
           'train_dataloader.num_workers=0']
KINDS = ('roc', 'det', 'hist', 'apcer')


def test_test_py_plot_and_plot_results(tmp_path):
    from mmfas.datasets.demo_data import make_demo_dataset
    make_demo_dataset(str(tmp_path / 'data' / 'demo'), num_subjects=3,
                      frames_per_video=1, seed=0, num_workers=0)
    torch.manual_seed(0)
    ckpt = str(tmp_path / 'tiny_flipit.pth')
    torch.save(dict(state_dict=init_model(CONFIG).state_dict(),
                    meta=dict(iter=3)), ckpt)
    work = tmp_path / 'work'
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'test.py'), CONFIG, ckpt,
         '--work-dir', str(work), '--plot', '--cfg-options', *LOADERS],
        cwd=str(tmp_path), capture_output=True, text=True, timeout=900,
        env=dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1'))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    csvs = glob.glob(str(work / '*' / 'fas_scores_*.csv'))
    assert [osp.basename(c) for c in csvs] == ['fas_scores_fas_tiny_flipit'
                                               '.csv'], csvs
    log_dir = osp.dirname(csvs[0])
    for kind in KINDS:
        png = osp.join(log_dir, f'plot_fas_tiny_flipit_{kind}.png')
        assert osp.isfile(png), (png, os.listdir(log_dir))
        assert osp.getsize(png) > 15 * 1024
        img = cv2.imread(png)
        assert img.shape[0] > 350 and img.shape[1] > 500
        assert len(np.unique(img.reshape(-1, 3), axis=0)) > 50
        assert png in out  # the run's log lists what it wrote
    # the marked threshold is the one the metric used (full precision,
    # from the run's JSON)
    stamp = osp.basename(log_dir)
    with open(osp.join(log_dir, f'{stamp}.json')) as f:
        record = json.loads(f.read().splitlines()[-1])
    run = load_score_run(csvs[0])
    assert run.threshold == record['fas/threshold']
    assert "threshold_policy='val'" in run.threshold_note
    assert run.evaluated_role == 'test'
    assert int(run.is_live.sum()) == record['fas/num_live']

    # the tool on the work dir, into another folder
    spec = importlib.util.spec_from_file_location(
        'plot_results_tool2',
        osp.join(REPO, 'tools', 'analysis_tools', 'plot_results.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    files = tool.main([str(work), '--out-dir', str(tmp_path / 'plots')])
    assert sorted(osp.basename(f) for f in files) == sorted(
        f'plot_fas_tiny_flipit_{k}.png' for k in KINDS)
