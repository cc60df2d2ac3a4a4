"""The model card: a few lines that say what a model is (architecture, size, training text, steps, quality)."""

from __future__ import annotations

from charlm.fit import FitReport
from charlm.storage.checkpoint import LoadedModel
from charlm.ui.i18n import corpus_label, text_or, ui_text


def render_card(
    name: str, kind: str, m: LoadedModel, int8: bool, lang: str = "en", fit: FitReport | None = None
) -> str:
    """Markdown for model ``name`` (``kind``: shipped, trained or uploaded; ``int8``: chat uses its int8 copy), in
    ``lang`` (a ``charlm.ui.i18n`` language). ``fit``: how its training run went (``charlm.fit``), so the card says
    which step's weights these are and why, and whether the run overfitted."""
    c = m.config
    if c.arch == "gpt":
        arch = ui_text(lang, "card.gpt", layers=c.n_layer, width=c.n_embd, heads=c.n_head, context=c.block_size)
    else:
        arch = ui_text(lang, "card.recurrent", arch=c.arch.upper(), layers=c.n_layer, hidden=c.hidden_size,
                    embd=c.n_embd)  # fmt: skip
    tr = m.meta.get("training") or {}
    corpus = tr.get("corpus") or {}
    lines = [ui_text(lang, "card.head", name=name, kind=text_or(lang, f"card.kind.{kind}", kind), arch=arch,
                  params=f"{m.n_params:,}", vocab=m.vocab.size - 1)]  # fmt: skip
    facts = []
    if corpus.get("name"):
        facts.append(ui_text(lang, "card.corpus", corpus=corpus_label(lang, corpus["name"]),
                          chars=f"{corpus.get('chars', 0):,}"))  # fmt: skip
    if fit is not None and fit.kept_early:
        facts.append(ui_text(lang, "card.kept", step=f"{fit.best_step:,}", last=f"{fit.last_step:,}"))
    elif tr.get("steps") is not None:
        facts.append(ui_text(lang, "card.steps", steps=f"{tr['steps']:,}", seconds=f"{tr.get('elapsed_sec', 0):.0f}"))
    if tr.get("best_val_bpc") is not None:
        facts.append(ui_text(lang, "card.validation", bpc=f"{tr['best_val_bpc']:.3f}"))
    if int8:
        facts.append(ui_text(lang, "card.int8"))
    if facts:
        lines.append(" · ".join(facts))
    if fit is not None and fit.overfitting:
        lines.append(overfit_notice(fit, lang))
    return "\n\n".join(lines)


def overfit_notice(fit: FitReport, lang: str = "en") -> str:
    """The overfitting story in plain words: validation stopped improving while training loss kept falling."""
    return ui_text(lang, "fit.overfit", best=f"{fit.best_step:,}", last=f"{fit.last_step:,}",
                   val_best=f"{fit.best_val_bpc:.3f}", val_last=f"{fit.last_val_bpc:.3f}",
                   train_best=f"{fit.train_bpc_at_best:.3f}", train_last=f"{fit.train_bpc_last:.3f}")  # fmt: skip
