"""The answer-line detector (minirnn/exercises/answers.py) on lines it must catch and lines it must
let pass; then every exercise file and exercise page, which may hold at most two answer lines."""
import inspect
import os
from pathlib import Path

import pytest

from minirnn import exercises
from minirnn.exercises.answers import answer_lines, is_answer
from minirnn.layers import embedding, gru, linear, lstm, masked_softmax_ce, rnn, softmax_ce

ROOT = Path(__file__).resolve().parent.parent
MAX_ANSWER_LINES = 2

ANSWERS = [
    # the book's backward, in code
    "        da_t = dh_t * (1 - h[:, t] * h[:, t])                  # (4)",
    "        dh_next = da_t @ Wh.T",
    "        dWh += h_prev.T @ da_t                                 # (6) step t's share",
    "        db += da_t.sum(axis=0)",
    "            scatter_add(dWx, x[:, t], da_t)",
    "    np.add.at(dW, ids.reshape(-1), dout.reshape(-1, D))",
    "                dx[:, t] = da_t @ Wx.T",
    "        di, df, dg = dc_t * g, dc_t * c_prev, dc_t * i",
    "        dax[:, Z] = dah[:, Z] = dz * z * (1 - z)",
    "    dz *= dloss / M",
    "    db = dy2.mean(axis=0)",
    "    dW = np.dot(x.T, dy)",
    "    dWx = np.einsum('ntd,ntk->dk', x, das)",
    "    dx = (dy2 @ W.T).reshape(x.shape)",
    # ... in comments
    "    # (5) dh_next = da_t Wh^T",
    "        # backprop: dc_prev = dc * f, the forget gate",
    # ... in docstrings and pages
    "    (4) da_t = dh_t * (1 - h_t^2)                            from (2), tanh' = 1 - tanh^2",
    "    (14) dWx += x_t^T da_t   dWh += h_{t-1}^T da_t   db += sum over n of da_t     from (1)",
    "    (11) da_i = di_t i_t (1 - i_t)  da_f = df_t f_t (1 - f_t)",
    "         db[:3H] += sum_n dax_t",
    "    (2)  dh_{t-1} += dah_t Wh^T",
    "the gradient is dL/dW = x^T dL/dy, one row per token",
    "    dx = dy W",                                               # a product written side by side
    "    da_g = tanh'(a_g) dg",
    "    dW = x transposed times dy",
    "    (4) dz = (p - onehot(y)) / M * dloss",
    "    db_hn += Σ_n dhn",
    "    ∂L/∂W = xᵀ ∂L/∂y",
]

NOT_ANSWERS = [
    # hints and set-up lines
    "    after the loop dh0 = dh_next",
    "and after the loop dh0 = dh_next, dc0 = dc_next. Wx, Wh and b are the same at every step, so",
    "    (6)  dh_t = dh[:, t] + dh_next                           both uses of h_t",
    "    dh_t = dh[:, t] + dh_next",
    "With ids, (6) reads dWx[ids_t] += da_t.",
    "    dWx[x[:, t]] += da_t            # drops a repeated id: the mistake the grader names",
    "    dWx = xp.zeros((D, 4 * H), dtype=h.dtype)                # (D, 4H) sums over t, (14)",
    "    dx = xp.empty((N, T, D), dtype=h.dtype) if need_dx and not ids else None  # (N, T, D)",
    "    dc_next = xp.zeros((N, H), dtype=h.dtype) if dcT is None else dcT  # (N, H) same for c_t",
    "    dh0, dc0 = dh_next, dc_next                              # (N, H) each",
    "# TODO(exercise): with need_dx=need_dx or l > 0; dstate[l] = (dh0, dc0) or (dh0,); dparams[l] = (dWx, dWh, db);",
    "    dh_next = dL/dh_t arriving from step t+1",
    "    dh_t = dL/dh_t from the output plus dh_next from step t+1",
    "t = T-1, except dc_next = dcT when something used the final cell state):",
    "    if x_t.ndim == 1:                                          # (6) dWx[ids_t] += da    (D, H)",
    # the forward and other code
    "        c[:, t] = f * c_prev + i * g                         # (4) cell state    (N, H)",
    "    (1) a_t = x_t Wx + h_{t-1} Wh + b",
    "    dtype = np.dtype(args.dtype)",
    "    data = x * 2",
    "    y = np.zeros((N, T, D), dtype=dout.dtype)",
    "    grads = {'dWx': dWx * 2}",
    "    dx0 == dy * W",
    "The derivative of tanh is 1 - tanh^2, and σ' = σ (1 - σ).",
    "with dX meaning dL/dX. h_t is used twice, by the layer above (dh[:, t])",
]


@pytest.mark.parametrize("line", ANSWERS)
def test_catches_a_backward_equation(line):
    assert is_answer(line), line


@pytest.mark.parametrize("line", NOT_ANSWERS)
def test_lets_a_hint_pass(line):
    assert not is_answer(line), line


def test_a_bracketed_statement_counts_once():
    code = ("        da_t = xp.concatenate([di * i * (1 - i),             # (11) σ' = σ (1 - σ)\n"
            "                               df * f * (1 - f),             # (11)\n"
            "                               dg * (1 - g * g),             # (12) tanh' = 1 - tanh^2\n"
            "                               do * o * (1 - o)], axis=1)    # (11)\n"
            "        dh_next = da_t @ Wh.T\n")
    assert [n for n, _ in answer_lines(code)] == [1, 5]


@pytest.mark.parametrize("module, lowest", [(rnn, 4), (lstm, 9), (gru, 7), (linear, 0), (softmax_ce, 1),
                                            (masked_softmax_ce, 1)])
def test_the_book_is_full_of_them(module, lowest):
    """Every numbered backward equation of a recurrent layer's docstring, and its backward code."""
    assert len(answer_lines(module.__doc__)) >= lowest
    code = inspect.getsource(module.backward)
    assert len(answer_lines(code)) >= {rnn: 6, lstm: 10, gru: 12}.get(module, 1)
    if hasattr(module, "step_backward"):
        assert len(answer_lines(inspect.getsource(module.step_backward))) >= 6
    assert len(answer_lines(inspect.getsource(embedding.backward))) == 1


# ---- every exercise file and every exercise page --------------------------------------------------

@pytest.mark.parametrize("name", list(exercises.EXERCISES))
def test_no_exercise_file_holds_more_than_two_answer_lines(name):
    text = exercises.source(name)
    found = answer_lines(text)
    assert len(found) <= MAX_ANSWER_LINES, "\n".join(f"{n}: {l}" for n, l in found)


PAGES = [ROOT / "docs" / "exercises.md", *sorted((ROOT / "docs" / "exercises").glob("*.md"))]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_exercise_page_holds_more_than_two_answer_lines(page):
    found = answer_lines(page.read_text(encoding="utf-8"))
    assert len(found) <= MAX_ANSWER_LINES, "\n".join(f"{n}: {l}" for n, l in found)


def test_every_page_is_checked():
    assert len(PAGES) >= 5 and all(os.path.getsize(p) > 1000 for p in PAGES)
