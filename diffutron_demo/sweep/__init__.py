"""Sweeps: many sampler settings over a prompt set and seeds, split over processes by accelerate.

One job each: grid (parse, expand, validate), prompts (.txt / .jsonl, ids, hash), seeds (the
--seeds list; one stream per (prompt, setting, seed)), runsfile (runs.jsonl: locked appends,
torn-line repair), figures (a run's row from its trajectory), summary (means, t-intervals,
summary.csv), plots and report (report.html), manifest (the sweep's identity, its launches),
load (a sweep's files as uploaded to the app), finish (the main process's last step). None of
these imports torch: the app's Sweep tab and the input checks use them. runner (jobs, batching
with `drive`, phases over processes) and command (the CLI, accelerate's PartialState) load the model.
"""
