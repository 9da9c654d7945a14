"""fVLM-135M: the foveated vision-language model, and its loader."""

from model.fvlm import MODES, FoveatedVLM, Mode, VisionKV, parameter_count
from model.loading import CheckpointError, load_fvlm

__all__ = ["MODES", "FoveatedVLM", "Mode", "VisionKV", "parameter_count", "CheckpointError", "load_fvlm"]
