"""Train the bundled Turkish demo checkpoint: `python -m training.run`.

Stages (each in its own module): `sources` fetches and reads the two corpora, `tokenizer` trains
the BPE, `pairs` turns documents into question/answer pairs in dllm's SFT layout, `train` runs the
MDLM objective with resumable checkpoints, `evaluate` scores held-out masked-token accuracy, and
`export` writes `diffutron_demo/demo_model/` with its model card.
"""
