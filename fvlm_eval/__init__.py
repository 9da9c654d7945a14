"""fvlm-eval: exact, fast, resumable evaluation of the foveated VLM fVLM-135M.

``from fvlm_eval import evaluate`` scores a model (in memory, as a training loop holds it, or a
path) through the same code as ``fvlm-eval run``; see ``fvlm_eval.api``.
"""

__version__ = "0.1.0"

_API = (
    "evaluate",
    "Evaluation",
    "BenchmarkResult",
    "ProtocolResult",
    "SettingsError",
    "save_model_folder",
    "export_checkpoint",
    "adapter_for",
)


def __getattr__(name: str):
    """The API, imported when first used (``import fvlm_eval`` and ``fvlm-eval --help`` stay instant)."""
    if name in _API:
        from fvlm_eval import api

        return getattr(api, name)
    raise AttributeError(f"module 'fvlm_eval' has no attribute {name!r}")


__all__ = ["__version__", *_API]
