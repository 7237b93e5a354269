from .adapters import CDCConv2d, ParallelAdapter
from .clip_loading import (ClipWeightsMismatchError, build_clip_model,
                           get_clip_tokenizer, is_torchscript_archive,
                           load_clip_state_dict, load_clip_weights,
                           resolve_pretrained, uses_quick_gelu)
from .cocoop import MetaNet
from .prompt_guidance import PromptGuidance
from .prompt_projection import TextToVisionPrompt
from .prompts import (FLIP_TEMPLATES, PromptLearner, TemplateBank,
                      TextFeatureCache, average_class_embeddings,
                      placeholder_token_ids)
from .trainable import (enable_trainable_checkpoint, frozen_parameter_names,
                        trainable_state_dict)

__all__ = [
    'CDCConv2d', 'ParallelAdapter', 'ClipWeightsMismatchError',
    'build_clip_model', 'get_clip_tokenizer', 'is_torchscript_archive',
    'load_clip_state_dict', 'load_clip_weights', 'resolve_pretrained',
    'uses_quick_gelu', 'MetaNet', 'FLIP_TEMPLATES', 'PromptLearner',
    'TemplateBank', 'TextFeatureCache', 'average_class_embeddings',
    'placeholder_token_ids', 'enable_trainable_checkpoint',
    'frozen_parameter_names', 'trainable_state_dict'
]
__all__ += ['PromptGuidance', 'TextToVisionPrompt']
