"""fvlm-eval: exact, fast, resumable evaluation of the foveated VLM fVLM-135M."""

__version__ = "0.1.0"
