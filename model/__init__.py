"""fVLM-135M: the foveated vision-language model, and its loader."""

from .fvlm import MODES, FoveatedVLM, Mode, VisionKV, parameter_count
from .loading import CheckpointError, load_fvlm

__all__ = ["MODES", "FoveatedVLM", "Mode", "VisionKV", "parameter_count", "CheckpointError", "load_fvlm"]
