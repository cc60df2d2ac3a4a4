"""The loss, worked by hand: the cross-entropy of the next character at a few positions, then bits per character.

At each position the model gives a probability p to the character that really comes next; the loss there is
-ln p (nats). The training loss is the mean over positions; divided by ln 2 it is bits per character (bpc), the
number the Train and Evaluate tabs report. A model that guesses uniformly among V characters scores log2 V bpc.
"""

from __future__ import annotations

import math

from charlm.lessons import check_text


def worked_loss(loaded, text: str, shown: int = 6) -> dict:
    """Per position: the context's last character, the true next character, p, -ln p and bits, with the model's
    best guess; the first ``shown`` rows are the worked examples. Also the mean (nats and bpc) and log2 V."""
    from charlm.inspection.surprise import surprise

    check_text(text, 2)
    s = surprise(loaded.model, loaded.vocab, text)
    chars = loaded.vocab.chars
    rows = []
    for i, (c, p) in enumerate(zip(s.chars, s.probs, strict=True)):
        guess = s.top_ids[i][0]
        rows.append({"position": i + 1, "after": text[i], "next": c, "p": p,
                     "nats": None if p is None else -math.log(max(p, 1e-45)),
                     "bits": None if p is None else -math.log2(max(p, 1e-45)),
                     "guess": chars[guess - 1] if guess else "\ufffd", "p_guess": s.top_probs[i][0]})  # fmt: skip
    scored = [r["nats"] for r in rows if r["nats"] is not None]
    mean = sum(scored) / len(scored) if scored else float("nan")
    return {"rows": rows, "shown": max(1, min(shown, len(rows))), "mean_nats": mean, "bpc": mean / math.log(2),
            "uniform_bpc": math.log2(len(chars)), "scored": len(scored)}  # fmt: skip


__all__ = ["worked_loss"]
