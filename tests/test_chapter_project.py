"""The chapter's character-level LSTM project: each defect reproduced with our own minimal code, then the corrected
design (charlm.lessons.chapter) shown to work. The Learn tab's lesson 10 explains each one.

The code here is written for these tests from the chapter's description (a 16-character window dataset,
embedding + LSTM + linear, a training loop, a greedy generation loop); none of the chapter's code is copied.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from charlm.lessons.chapter import SENTENCE, UNSEEN, WINDOW, train_sentence

TEXT = SENTENCE
CHARS = sorted(set(TEXT))
STOI = {c: i for i, c in enumerate(CHARS)}
IDS = torch.tensor([STOI[c] for c in TEXT])
V, E, H, B = len(CHARS), 8, 16, 16


class WindowsOverWholeLength(Dataset):
    """The defect: one item per character of the text, each slicing a 16-character window from its index."""

    def __len__(self) -> int:
        return len(IDS)

    def __getitem__(self, i: int):
        return IDS[i : i + WINDOW], IDS[i + 1 : i + WINDOW + 1]


class WindowsThatFit(WindowsOverWholeLength):
    def __len__(self) -> int:
        return len(IDS) - WINDOW


def test_the_chapters_sentence_has_68_characters():
    assert len(SENTENCE) == 68


def test_len_of_the_whole_text_gives_short_windows_and_batching_fails():
    ds = WindowsOverWholeLength()
    assert len(ds[0][0]) == WINDOW and len(ds[len(ds) - 1][0]) == 1  # the last windows are short
    with pytest.raises(RuntimeError, match="equal size"):
        for _ in DataLoader(ds, batch_size=B):
            pass
    assert sum(x.shape[0] for x, _ in DataLoader(WindowsThatFit(), batch_size=B)) == len(TEXT) - WINDOW


def test_the_target_is_a_window_not_the_next_character():
    x, y = WindowsThatFit()[0]
    assert y.shape == (WINDOW,) and torch.equal(y[:-1], x[1:])  # 16 targets: every position's next character


def test_without_batch_first_examples_leak_into_each_other():
    torch.manual_seed(0)
    lstm = nn.LSTM(E, H)  # the defect: batch_first is False, batches are (batch, 16, E)
    x = torch.randn(B, WINDOW, E)
    x2 = x.clone()
    x2[0] += 1.0  # change example 0 only
    out, _ = lstm(x)
    out2, _ = lstm(x2)
    assert not torch.allclose(out[1], out2[1])  # example 1 changed: it was read as the next time step of example 0
    fixed = nn.LSTM(E, H, batch_first=True)
    fixed.load_state_dict(lstm.state_dict())
    a, _ = fixed(x)
    b, _ = fixed(x2)
    assert torch.allclose(a[1:], b[1:])


def test_a_one_row_hidden_state_for_a_batch_of_16_is_refused():
    lstm = nn.LSTM(E, H, batch_first=True)
    init_hidden = (torch.zeros(1, 1, H), torch.zeros(1, 1, H))  # the defect: (1, 1, H) whatever the batch
    with pytest.raises(RuntimeError, match=r"Expected hidden\[0\] size \(1, 16, 16\), got \[1, 1, 16\]"):
        lstm(torch.randn(B, WINDOW, E), init_hidden)


def test_last_step_scores_against_16_targets_and_flattened_scores_are_refused():
    loss = nn.CrossEntropyLoss()
    last_step = torch.randn(B, V)  # the forward keeps only the last time step
    targets = torch.randint(V, (B, WINDOW))  # while the target holds 16 characters
    with pytest.raises((RuntimeError, ValueError)):
        loss(last_step, targets)
    with pytest.raises((RuntimeError, ValueError)):
        loss(last_step.view(-1), targets)  # outputs.view(-1): a flat vector, not (positions, vocabulary) scores
    every_step = torch.randn(B, WINDOW, V)  # the fix: scores at every position against every target
    assert loss(every_step.reshape(-1, V), targets.reshape(-1)).ndim == 0


class TinyLM(nn.Module):
    """Embedding + LSTM + linear, the chapter's parts, built the corrected way (batch_first, every time step)."""

    def __init__(self) -> None:
        super().__init__()
        self.embed, self.lstm, self.head = nn.Embedding(V, E), nn.LSTM(E, H, batch_first=True), nn.Linear(H, V)

    def forward(self, x, state=None):
        out, state = self.lstm(self.embed(x), state)
        return self.head(out), state


def _train(optimizer: str, lr: float = 1e-3, steps: int = 60) -> tuple[float, float]:
    torch.manual_seed(0)
    model = TinyLM()
    opt = (torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam)(model.parameters(), lr=lr)
    x, y = next(iter(DataLoader(WindowsThatFit(), batch_size=len(TEXT) - WINDOW)))
    losses = []
    for _ in range(steps):
        logits, _ = model(x)
        loss = nn.functional.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses[0], losses[-1]


def test_sgd_at_adams_learning_rate_hardly_moves():
    """The text says SGD, the code uses Adam: at the same small learning rate they are not interchangeable."""
    sgd_first, sgd_last = _train("sgd")
    adam_first, adam_last = _train("adam")
    assert sgd_first == pytest.approx(adam_first)  # same start
    assert sgd_first - sgd_last < 0.01 and adam_first - adam_last > 0.1


def test_printing_every_100_epochs_of_a_10_epoch_run_never_prints(capsys):
    for epoch in range(10):
        if (epoch + 1) % 100 == 0:
            print(f"epoch {epoch + 1}")
    assert capsys.readouterr().out == ""


def test_a_1d_input_with_a_3d_hidden_state_is_refused():
    lstm = nn.LSTM(E, H)  # unbatched 2-D input (time, E) after embedding a 1-D tensor
    x = nn.Embedding(V, E)(IDS[:WINDOW])
    with pytest.raises(RuntimeError, match="unbatched 2-D input"):
        lstm(x, (torch.zeros(1, 1, H), torch.zeros(1, 1, H)))


def _greedy(model: TinyLM, prompt: str, n: int, carry: bool) -> str:
    ids = [STOI[c] for c in prompt]
    out, state = "", None
    with torch.no_grad():
        logits, state = model(torch.tensor([ids]))
        for _ in range(n):
            nxt = int(logits[0, -1].argmax())
            out += CHARS[nxt]
            logits, state = model(torch.tensor([[nxt]]), state if carry else None)  # carry=False: the defect
    return out


def test_restarting_the_state_every_step_makes_greedy_loop():
    torch.manual_seed(1)
    model = TinyLM()
    out = _greedy(model, "The ", 80, carry=False)
    follows = {}
    for a, b in zip(out, out[1:], strict=False):
        assert follows.setdefault(a, b) == b  # each character always followed by the same one: a function of one char
    tail = out[-40:]
    period = next(p for p in range(1, V + 1) if all(tail[i] == tail[i + p] for i in range(len(tail) - p)))
    assert period <= V


def test_print_with_end_empty_prints_no_spaces_between_characters(capsys):
    for c in "fox":
        print(c, end="")
    assert capsys.readouterr().out == "fox"


@pytest.fixture(scope="module")
def corrected():
    torch.set_num_threads(1)
    return train_sentence(SENTENCE, steps=150, seed=0)


def test_the_corrected_design_memorises_the_sentence_and_generates_it(corrected):
    r = corrected
    assert r["curve"][-1]["loss"] < 0.3 * r["curve"][0]["loss"]
    assert (r["prompt"] + r["greedy"]).startswith(SENTENCE[:40])  # state carried: it recites the sentence
    assert r["greedy"] != r["sampled"]
    text = r["prompt"] + r["greedy"]
    after_o = {text[i + 1] for i in range(len(text) - 1) if text[i] == "o"}
    assert len(after_o) > 1  # the state, not just the last character, decides what comes next


def test_memorising_one_sentence_is_not_learning_a_language(corrected):
    assert corrected["bpc_seen"] < 0.5
    assert corrected["bpc_unseen"] > 3 * corrected["bpc_seen"] + 1.0  # a new sentence of the same words
    assert len(UNSEEN) == pytest.approx(len(SENTENCE), abs=3)
