"""Pictures: scored faces for the demos (OpenCV) and plots of a test run's
score files (matplotlib, optional: imported when a plot is drawn)."""
from .faces import LIVE_COLOR, SPOOF_COLOR, draw_faces, map_overlay
from .score_plots import (MATPLOTLIB_INSTALL, ScoreRun, error_table,
                          find_score_csvs, load_score_run, plot_apcer,
                          plot_det, plot_histograms, plot_results, plot_roc,
                          plot_score_run, read_scores_csv,
                          require_matplotlib)

__all__ = [
    'LIVE_COLOR', 'SPOOF_COLOR', 'draw_faces', 'map_overlay',
    'MATPLOTLIB_INSTALL', 'ScoreRun', 'error_table', 'find_score_csvs',
    'load_score_run', 'plot_apcer', 'plot_det', 'plot_histograms',
    'plot_results', 'plot_roc', 'plot_score_run', 'read_scores_csv',
    'require_matplotlib'
]
