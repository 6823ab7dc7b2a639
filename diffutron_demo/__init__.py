"""diffutron_demo: use, watch and understand a masked diffusion language model."""

__version__ = "0.1.0"
