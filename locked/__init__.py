"""What students must not change: data splits, the validation transform, the training loop, the metrics.

Layout (each idea in one file):
    info.py         class names, split sizes, official counts (from medmnist.INFO)
    data.py         load the official splits, or the synthetic stand-in; say which
    synthetic.py    deterministic offline dataset in the exact medmnist npz format
    transforms.py   the fixed validation/test transform
    upload.py       where the two student files are in an upload (folder or zip): the one rule
    submission.py   load and validate a student's model.py + train_config.py
    consistency.py  train-vs-validation preprocessing check (the Normalize trap)
    engine.py       seeding, device, the training loop, prediction
    history.py      one epoch's row of the training history: its fields, named once
    metrics.py      the course's metrics, computed with scikit-learn
    report.py       the text report the course prints
    page.py         the run as one self-contained HTML page with plots (matplotlib, imported only to draw)
    compare.py      this run against the previous one: metrics, code changed (not docstrings), time
    diagnosis.py    what the student's own numbers say (rules over history, per-class table, config), forecast
    settings.py     every environment variable the project reads (DERMA_*), checked; the grading images' facts
    terms.py        the grading terms a student reads: the course's, or an instructor's packaged (terms.json)
    train.py        `python -m locked.train`: the student's run
    weights.py      the pretrained ResNet18 weights: cached, or a clear message, never a silent fallback
"""
