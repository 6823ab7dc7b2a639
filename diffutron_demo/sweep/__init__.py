"""Sweeps: many sampler settings over a prompt set and seeds, split over processes by accelerate.

grid, prompts, seeds, runsfile, summary, report, manifest and load import no torch (the app's
Sweep tab reads a sweep's files with them); runner and command load the model.
"""
