"""Layers: each file holds one layer's forward and backward side by side as pure functions.

embedding, linear, rnn (tanh), lstm, gru, dropout, stack (L layers), softmax_ce, masked_softmax_ce (losses).
This package is the book, the reference the gradient checks run on; minirnn/fast is the engine,
the same equations made fast for the CPU and tested equal to these.
"""
from . import dropout, embedding, gru, linear, lstm, masked_softmax_ce, rnn, softmax_ce, stack

__all__ = ["dropout", "embedding", "gru", "linear", "lstm", "masked_softmax_ce", "rnn", "softmax_ce", "stack"]
