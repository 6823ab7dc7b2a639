"""ZeroGPU on Hugging Face Spaces: functions that generate run inside spaces.GPU; elsewhere unchanged."""

try:
    import spaces

    on_gpu = spaces.GPU
except ImportError:
    def on_gpu(fn):
        return fn
