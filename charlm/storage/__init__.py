"""Where models live on disk, in three nested layers: checkpoint ⊂ run ⊂ store (plus zips to move them).

    checkpoint   one model's folder: ``model.safetensors`` + ``config.json`` (+ resume state); never pickled,
                 swapped in whole on save, validated on load (``save_checkpoint``, ``load_checkpoint``)
    run          a named folder the app keeps: ``run.json``, ``corpus.txt`` and ``best/``, ``last/`` checkpoints
                 (the CLI's ``train --out`` writes the same ``best``/``last`` layout)
    store        every user's runs under one root (``users/<user>/<run>/``), the per-user cap, expiry, and the
                 secret that lets a browser find its user again after a restart
    archive      a checkpoint as a zip: the app's download, and an upload read as untrusted input

The CLI uses ``checkpoint`` only; the app's ``charlm.ui`` reaches runs through the store. Import the submodules
directly (``from charlm.storage.checkpoint import load_checkpoint``, also ``charlm.load_checkpoint``).
"""
