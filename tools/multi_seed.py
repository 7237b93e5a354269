"""Train + test a config over several seeds and report mean +- std.

For every seed, sequentially::

    python tools/train.py CONFIG --seed S --work-dir WORK_DIR/seed_S --test \\
        [extra train.py args]

``--test`` makes ``tools/train.py`` test the LAST weights and then the
BEST-by-source-validation checkpoint. The test metrics of both are collected
per seed and summarised as mean +- sample std (ddof=1) per metric in
``WORK_DIR/summary.json`` and ``WORK_DIR/summary.md``, together with the
exact commands that were run.

Where the numbers come from: the ``Iter(test)`` line of the mmengine log
(``WORK_DIR/seed_S/<timestamp>/<timestamp>.log``), one per ``test()`` call,
labelled by the ``Testing the LAST checkpoint`` / ``Testing the
BEST-by-source-val checkpoint`` lines ``tools/train.py`` logs before each.
The log is the only file that keeps both tests: mmengine's LoggerHook dumps
the test metrics to ``<timestamp>/<timestamp>.json`` with mode ``'w'`` (the
second test overwrites the first) and ``vis_data/scalars.json`` holds only
training and validation scalars. mmengine prints scalars with 4 decimals,
which is what the summary carries; the full-precision ``<timestamp>.json``
is used to cross-check the last parsed test (a mismatch is an error).

A run that fails (non-zero exit status, or no test metrics in its log) is
reported with its log paths; the remaining seeds still run (unless
``--fail-fast``), the summary covers the seeds that succeeded and lists the
failed ones, and the script exits with status 1.

Examples::

    python tools/multi_seed.py configs/flip/flip-it_vitb16_oci2m.py \\
        --seeds 0 1 2 3 4 --work-dir work_dirs/flip-it_oci2m_5seeds
    # extra tools/train.py arguments after "--"
    python tools/multi_seed.py configs/flip/flip-it_tiny_demo.py \\
        --seeds 0 1 -- --cfg-options train_cfg.max_iters=50
    # 4 GPUs per run (torchrun)
    python tools/multi_seed.py CONFIG --seeds 0 1 2 --launcher pytorch \\
        --nproc 4
"""
import argparse
import json
import math
import os
import os.path as osp
import re
import shlex
import statistics
import subprocess
import sys
import time
from collections import OrderedDict
from typing import Dict, List, Optional

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TRAIN = osp.join(REPO, 'tools', 'train.py')

#: log lines written by tools/train.py's test_last_and_best
LAST_MARK = 'Testing the LAST checkpoint'
BEST_MARK = 'Testing the BEST-by-source-val checkpoint'
TEST_LINE = re.compile(r'Iter\(test\)\s*\[[^\]]*\]\s*(?P<body>.*)$')
METRIC = re.compile(
    r'(?P<key>[^\s:]+):\s+(?P<val>[-+]?(?:\d+(?:\.\d*)?|\.\d+)'
    r'(?:[eE][-+]?\d+)?|[-+]?nan|[-+]?inf)(?=\s|$)')
POLICY = re.compile(r"threshold_policy='(?P<p>[\w-]+)'")
TIMESTAMP_DIR = re.compile(r'^\d{8}_\d{6}$')
#: per-iteration timing scalars of the log line, not metrics
NOT_METRICS = ('data_time', 'time', 'memory')
PHASES = ('last', 'best')


def parse_args(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: List[str] = []
    if '--' in argv:
        i = argv.index('--')
        argv, extra = argv[:i], argv[i + 1:]
    parser = argparse.ArgumentParser(
        description='Run tools/train.py --test over several seeds and '
        'report mean +- std of the test metrics (last and best checkpoint)',
        epilog='Arguments after "--" are passed to tools/train.py.')
    parser.add_argument('config', help='train config file')
    parser.add_argument('--seeds', type=int, nargs='+', required=True,
                        help='seeds, e.g. --seeds 0 1 2 3 4')
    parser.add_argument(
        '--work-dir',
        help='root work dir; seed S runs in WORK_DIR/seed_S (default: '
        'work_dirs/<config name>_seeds)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'],
                        default='none',
                        help='none: python; pytorch: torchrun with --nproc '
                        'processes; slurm: srun with --nproc tasks')
    parser.add_argument('--nproc', type=int, default=1,
                        help='processes (GPUs) per run for pytorch / slurm')
    parser.add_argument('--master-port', type=int, default=29500,
                        help='torchrun master port (pytorch launcher)')
    parser.add_argument('--srun-args', default='',
                        help='extra srun arguments (slurm launcher), e.g. '
                        '"-p PARTITION --gres=gpu:8"')
    parser.add_argument('--fail-fast', action='store_true',
                        help='stop at the first failed run')
    parser.add_argument('--dry-run', action='store_true',
                        help='print the commands, run nothing')
    parser.add_argument('--quiet', action='store_true',
                        help="don't echo the runs' output (it is always "
                        'written to WORK_DIR/seed_S/multi_seed_run.log)')
    args = parser.parse_args(argv)
    clash = {'--seed', '--work-dir', '--test', '--launcher'} & {
        a.split('=', 1)[0] for a in extra}
    if clash:
        parser.error(f'{sorted(clash)} are set by multi_seed.py; do not pass '
                     'them after "--"')
    if len(set(args.seeds)) != len(args.seeds):
        parser.error(f'duplicate seeds in {args.seeds}')
    args.extra = extra
    if args.work_dir is None:
        name = osp.splitext(osp.basename(args.config))[0]
        args.work_dir = osp.join('work_dirs', f'{name}_seeds')
    return args


# ------------------------------------------------------------- commands
def build_command(args, seed: int) -> List[str]:
    seed_dir = osp.join(args.work_dir, f'seed_{seed}')
    train_args = [args.config, '--seed', str(seed), '--work-dir', seed_dir,
                  '--test', *args.extra]
    if args.launcher == 'pytorch':
        return [sys.executable, '-m', 'torch.distributed.run',
                f'--nproc_per_node={args.nproc}',
                f'--master_port={args.master_port}', TRAIN, *train_args,
                '--launcher', 'pytorch']
    if args.launcher == 'slurm':
        return ['srun', f'--ntasks={args.nproc}', '--kill-on-bad-exit=1',
                *shlex.split(args.srun_args), sys.executable, '-u', TRAIN,
                *train_args, '--launcher', 'slurm']
    return [sys.executable, TRAIN, *train_args]


def _timestamp_dirs(seed_dir: str) -> set:
    if not osp.isdir(seed_dir):
        return set()
    return {d for d in os.listdir(seed_dir)
            if TIMESTAMP_DIR.match(d) and osp.isdir(osp.join(seed_dir, d))}


def run_seed(args, seed: int, cmd: List[str]) -> dict:
    seed_dir = osp.join(args.work_dir, f'seed_{seed}')
    os.makedirs(seed_dir, exist_ok=True)
    before = _timestamp_dirs(seed_dir)
    run_log = osp.join(seed_dir, 'multi_seed_run.log')
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        p for p in (REPO, env.get('PYTHONPATH')) if p)
    start = time.time()
    with open(run_log, 'w') as log:
        log.write(f'# {shlex.join(cmd)}\n')
        log.flush()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=env, text=True,
                                bufsize=1)
        for line in proc.stdout:
            log.write(line)
            if not args.quiet:
                sys.stdout.write(line)
        returncode = proc.wait()
    new = sorted(_timestamp_dirs(seed_dir) - before)
    mm_log = None
    if new:
        ts = new[-1]
        candidate = osp.join(seed_dir, ts, f'{ts}.log')
        mm_log = candidate if osp.isfile(candidate) else None
    record = dict(seed=seed, command=shlex.join(cmd), argv=cmd,
                  returncode=returncode, run_log=run_log, log=mm_log,
                  seconds=round(time.time() - start, 1))
    try:
        parsed = parse_test_log(mm_log or run_log)
    except Exception as e:  # noqa: BLE001 - reported as a failed run
        parsed, record['error'] = {}, f'could not parse the log: {e}'
    record.update(parsed)
    if returncode != 0:
        record['status'] = 'failed'
        record['error'] = f'exit status {returncode}'
    elif 'last' not in parsed:
        record['status'] = 'failed'
        record.setdefault('error', 'no Iter(test) metrics in the log')
    else:
        record['status'] = 'ok'
        if mm_log:
            problem = cross_check_json(mm_log, parsed)
            if problem:
                record['status'] = 'failed'
                record['error'] = problem
    return record


# -------------------------------------------------------------- parsing
def parse_metrics(line: str) -> Optional[Dict[str, float]]:
    """Metrics of one ``Iter(test)`` log line, or None for other lines."""
    m = TEST_LINE.search(line)
    if not m:
        return None
    out = OrderedDict()
    for mm in METRIC.finditer(m.group('body')):
        key = mm.group('key')
        if key in NOT_METRICS:
            continue
        out[key] = float(mm.group('val'))
    return out


def parse_test_log(path: str) -> dict:
    """``{'last': metrics, 'best': metrics, 'best_ckpt': path,
    'threshold_policy': [...]}`` from an mmengine log of tools/train.py
    --test. A test line before any marker counts as 'last'."""
    result: dict = {}
    phase = None
    policies = []
    with open(path, errors='replace') as f:
        for line in f:
            if LAST_MARK in line:
                phase = 'last'
                continue
            if BEST_MARK in line:
                phase = 'best'
                result['best_ckpt'] = line.split(BEST_MARK, 1)[1].strip()
                continue
            if phase is not None:
                p = POLICY.search(line)
                if p and p.group('p') not in policies:
                    policies.append(p.group('p'))
            metrics = parse_metrics(line)
            if not metrics:  # not a test line, or a per-iteration one
                continue
            key = phase or 'last'
            if key in result:
                raise ValueError(f'{path}: two Iter(test) results for the '
                                 f'{key!r} checkpoint')
            result[key] = metrics
            phase = None
    if policies:
        result['threshold_policy'] = policies
    return result


def cross_check_json(log_path: str, parsed: dict) -> Optional[str]:
    """The last test() call's full-precision metrics
    (``<timestamp>.json``) must match the last parsed Iter(test) line."""
    js = osp.splitext(log_path)[0] + '.json'
    if not osp.isfile(js):
        return None
    try:
        with open(js) as f:
            lines = [ln for ln in f.read().splitlines() if ln.strip()]
        ref = json.loads(lines[-1])
    except (OSError, ValueError, IndexError):
        return None
    last = parsed.get('best', parsed.get('last', {}))
    for key, val in last.items():
        r = ref.get(key)
        if isinstance(r, (int, float)) and not (
                math.isnan(r) and math.isnan(val)) and abs(r - val) > \
                5e-4 + 1e-6 * abs(r):
            return (f'log/json mismatch for {key}: log {val} vs {js} {r}; '
                    'the log parsing picked the wrong line')
    return None


# -------------------------------------------------------------- summary
def _fmt(x: float, small: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return 'n/a'
    return f'{x:.4f}' if small else f'{x:.2f}'


def summarise(records: List[dict]) -> dict:
    ok = [r for r in records if r['status'] == 'ok']
    summary = OrderedDict()
    for phase in PHASES:
        keys: List[str] = []
        for r in ok:
            for k in r.get(phase, {}):
                if k not in keys:
                    keys.append(k)
        per_metric = OrderedDict()
        for k in keys:
            vals = [r[phase][k] for r in ok if k in r.get(phase, {})]
            seeds = [r['seed'] for r in ok if k in r.get(phase, {})]
            mean = statistics.fmean(vals)
            std = statistics.stdev(vals) if len(vals) > 1 else float('nan')
            per_metric[k] = dict(mean=mean, std=std, n=len(vals),
                                 values=vals, seeds=seeds)
        if per_metric:
            summary[phase] = per_metric
    return summary


def write_markdown(path: str, args, records, summary, policies):
    ok = [r for r in records if r['status'] == 'ok']
    failed = [r for r in records if r['status'] != 'ok']
    lines = [f'# Multi-seed results: `{args.config}`', '',
             f'Seeds: {", ".join(str(s) for s in args.seeds)} '
             f'({len(ok)} ok, {len(failed)} failed). Mean +- sample std '
             '(ddof=1) over the seeds that succeeded; metrics from the '
             "mmengine log's Iter(test) lines (4 decimals).", '']
    if policies:
        lines.append('Threshold policy: ' + ', '.join(f'`{p}`'
                                                      for p in policies))
        if 'test_eer' in policies:
            lines.append('**Legacy: the threshold was chosen on the target '
                         'test set (`test_eer`).**')
        lines.append('')
    phases = [p for p in PHASES if p in summary]
    if phases:
        names = {'last': 'last checkpoint',
                 'best': 'best-by-source-val checkpoint'}
        header = '| metric | ' + ' | '.join(
            f'{names[p]} (mean ± std) | n' for p in phases) + ' |'
        lines += [header, '|---' * (1 + 2 * len(phases)) + '|']
        keys: List[str] = []
        for p in phases:
            keys += [k for k in summary[p] if k not in keys]
        for k in keys:
            cells = []
            for p in phases:
                s = summary[p].get(k)
                small = bool(s) and max(abs(v) for v in s['values']) < 1
                cells += ([f'{_fmt(s["mean"], small)} ± '
                           f'{_fmt(s["std"], small)}',
                           str(s['n'])] if s else ['', ''])
            lines.append(f'| {k} | ' + ' | '.join(cells) + ' |')
        lines.append('')
        main = [k for k in ('fas/HTER', 'fas/AUC', 'fas/TPR@FPR=1e-2')
                if any(k in summary[p] for p in phases)]
        if main:
            lines += ['Per seed:', '',
                      '| seed | ' + ' | '.join(f'{k} ({p})' for p in phases
                                               for k in main) + ' |',
                      '|---' * (1 + len(main) * len(phases)) + '|']
            for r in ok:
                cells = [_fmt(r.get(p, {}).get(k)) for p in phases
                         for k in main]
                lines.append(f'| {r["seed"]} | ' + ' | '.join(cells) + ' |')
            lines.append('')
    if failed:
        lines += ['## Failed runs', '']
        for r in failed:
            lines.append(f'- seed {r["seed"]}: {r.get("error")}; log '
                         f'`{r.get("log") or r["run_log"]}` (console output '
                         f'`{r["run_log"]}`)')
        lines.append('')
    lines += ['## Commands', '', f'Run in `{os.getcwd()}`:', '',
              '```bash']
    lines += [r['command'] for r in records]
    lines += ['```', '']
    with open(path, 'w') as f:
        f.write('\n'.join(lines))


def main(argv=None) -> int:
    args = parse_args(argv)
    cmds = [(s, build_command(args, s)) for s in args.seeds]
    if args.dry_run:
        for _, cmd in cmds:
            print(shlex.join(cmd))
        return 0
    os.makedirs(args.work_dir, exist_ok=True)
    records = []
    for i, (seed, cmd) in enumerate(cmds):
        print(f'[multi_seed] seed {seed} ({i + 1}/{len(cmds)}): '
              f'{shlex.join(cmd)}', flush=True)
        rec = run_seed(args, seed, cmd)
        records.append(rec)
        if rec['status'] == 'ok':
            hter = rec['last'].get('fas/HTER')
            print(f'[multi_seed] seed {seed} ok in {rec["seconds"]} s'
                  + (f' (last fas/HTER {hter:.2f})' if hter is not None
                     else ''), flush=True)
        else:
            print(f'[multi_seed] seed {seed} FAILED: {rec.get("error")}; '
                  f'see {rec.get("log") or rec["run_log"]}', flush=True)
            if args.fail_fast:
                break
    summary = summarise(records)
    policies = []
    for r in records:
        for p in r.get('threshold_policy', []):
            if p not in policies:
                policies.append(p)
    failed = [r for r in records if r['status'] != 'ok']
    out = OrderedDict(
        config=args.config, seeds=args.seeds, work_dir=args.work_dir,
        cwd=os.getcwd(),
        launcher=args.launcher, extra_train_args=args.extra,
        metric_source="mmengine log Iter(test) lines (4 decimals); "
        "'last' = final weights, 'best' = best-by-source-val checkpoint",
        std='sample standard deviation (ddof=1)',
        threshold_policy=policies, summary=summary,
        runs=[{k: v for k, v in r.items() if k != 'argv'} for r in records],
        commands=[r['command'] for r in records],
        not_run=[s for s, _ in cmds[len(records):]],
        failed=[dict(seed=r['seed'], error=r.get('error'),
                     log=r.get('log'), run_log=r['run_log'])
                for r in failed])
    # summary.json: json has no NaN; std of a single run becomes null
    js = osp.join(args.work_dir, 'summary.json')
    with open(js, 'w') as f:
        json.dump(_nan_to_none(out), f, indent=2)
    md = osp.join(args.work_dir, 'summary.md')
    write_markdown(md, args, records, summary, policies)
    print(open(md).read())
    print(f'[multi_seed] wrote {js} and {md}')
    if failed or out['not_run']:
        print(f'[multi_seed] {len(failed)} run(s) failed: ' + ', '.join(
            f'seed {r["seed"]} ({r.get("log") or r["run_log"]})'
            for r in failed), file=sys.stderr)
        return 1
    return 0


def _nan_to_none(obj):
    if isinstance(obj, float) and (math.isnan(obj) or math.isinf(obj)):
        return None
    if isinstance(obj, dict):
        return type(obj)((k, _nan_to_none(v)) for k, v in obj.items())
    if isinstance(obj, list):
        return [_nan_to_none(v) for v in obj]
    return obj


if __name__ == '__main__':
    sys.exit(main())
