from .inference import get_test_pipeline_cfg, inference_model, init_model

__all__ = ['init_model', 'inference_model', 'get_test_pipeline_cfg']
