"""A strict CuPy stand-in: NumPy underneath, CuPy's rules on top, so the GPU path runs without a GPU.

Nothing here is part of minirnn. The tests hand this module to ``minirnn.backend`` in place of CuPy
(``tests/conftest.py``: the ``xp`` fixture's "standin" case), and a subprocess gets it as the
modules ``cupy`` and ``cupyx`` by putting ``tests/standin`` first on PYTHONPATH (``cupy/`` and
``cupyx/`` there are two lines each that hand out this module).

What it enforces, as CuPy does or more strictly (marked *):
  - ``ndarray`` is its own type, not a NumPy array; nothing converts it to the host implicitly:
    ``np.asarray(a)`` / ``__array__``, ``float(a)``*, ``int(a)``*, ``bool(a)``*, ``a.item()``*,
    ``a.tolist()``*, ``operator.index(a)``* and ``iter(a)``* raise TypeError. (CuPy allows the starred
    ones on small arrays, each a hidden device synchronisation; here each is an error, so that every
    read back is written as one: ``a.get()``, ``cupy.asnumpy(a)``, ``backend.to_numpy(a)``.)
  - arithmetic, comparisons, ``cupy.*`` functions and NumPy's ufuncs refuse NumPy arrays mixed with
    device arrays (TypeError, as CuPy's "Unsupported type <class 'numpy.ndarray'>"); NumPy's other
    functions (``np.sum``, ``np.concatenate``, ...) refuse device arrays*. Python and NumPy scalars
    mix freely. Index arrays and values assigned with ``a[i] = v``
    may be NumPy arrays (CuPy copies them to the device; counted in ``counters["h2d"]``).
  - ``cupy.array``/``asarray``/``asanyarray`` copy host data to the device (``counters["h2d"]``).
  - reads back to the host are counted in ``counters["d2h"]``: ``.get()``, ``asnumpy``, and the
    operations whose result size depends on the data (boolean-mask indexing, ``nonzero``,
    ``flatnonzero``, ``argwhere``, ``unique``), which CuPy must synchronise for.
  - ``cupy.random``: ``default_rng``, ``Generator`` and the bit generators ``XORWOW``,
    ``MRG32k3a``, ``Philox4x3210``; each one constructed is counted in ``counters["generators"]``
    (a real one initialises a cuRAND state per thread: not something to do every iteration).
  - ``cupy.cuda``: ``runtime.getDeviceCount()`` (1), ``runtime.getDeviceProperties(0)``,
    ``Device().synchronize()``.
  - ``cupyx.scatter_add(a, indices, values)``: repeated indices summed (``np.add.at``).

The numbers are NumPy's (same dtype rules, same results); the random streams are not CuPy's.
With ``CUPY_STANDIN_REPORT=<path>`` in the environment, the counters are written to that file as
JSON when the process exits (how a test sees that a subprocess really ran on the stand-in).
"""
from __future__ import annotations

import atexit
import json
import os
import types

import numpy as np

__version__ = "0.0-standin"

counters = {"d2h": 0, "h2d": 0, "generators": 0}


def _report(path):
    with open(path, "w") as f:
        json.dump(counters, f)


if os.environ.get("CUPY_STANDIN_REPORT"):
    atexit.register(_report, os.environ["CUPY_STANDIN_REPORT"])


def reset_counters() -> None:
    for k in counters:
        counters[k] = 0


def _refuse(what):
    raise TypeError(f"standin: {what} would read a device array back to the host implicitly; "
                    "use .get(), cupy.asnumpy() or minirnn.backend.to_numpy()")


def _host_mixed(obj):
    raise TypeError(f"Unsupported type {type(obj)} (standin: a NumPy array mixed with device arrays)")


def _unwrap(obj):
    """Device arrays to their NumPy buffer (inside containers too); NumPy arrays refused."""
    if isinstance(obj, ndarray):
        return obj._a
    if isinstance(obj, np.ndarray):
        _host_mixed(obj)
    if isinstance(obj, (list, tuple)):
        return type(obj)(_unwrap(o) for o in obj)
    return obj


def _wrap(r):
    """NumPy results back to device arrays; NumPy scalars (CuPy returns 0-d arrays) too."""
    if isinstance(r, np.ndarray):
        return ndarray._new(r)
    if isinstance(r, (np.generic, bool)):
        return ndarray._new(np.asarray(r))
    if isinstance(r, tuple):
        return tuple(_wrap(x) for x in r)
    if isinstance(r, list):
        return [_wrap(x) for x in r]
    return r


def _index(key):
    """An index: device arrays unwrapped; host integer arrays and lists copied over (as CuPy does);
    a boolean device mask costs a read (the result's size)."""
    parts = key if isinstance(key, tuple) else (key,)
    out = []
    for k in parts:
        if isinstance(k, ndarray):
            if k.dtype == np.bool_:
                counters["d2h"] += 1
            out.append(k._a)
        elif isinstance(k, (np.ndarray, list)):
            counters["h2d"] += 1
            out.append(np.asarray(k))
        else:
            out.append(k)
    return tuple(out) if isinstance(key, tuple) else out[0]


class ndarray:
    """A device array: a NumPy buffer that refuses every implicit trip to the host."""

    __hash__ = None

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """As CuPy: a NumPy ufunc over device arrays and scalars (``np.float32(2) * a``) runs on the
        device; one with a NumPy array among its inputs is refused."""
        if method != "__call__":
            raise TypeError(f"standin: {ufunc.__name__}.{method} is not supported on device arrays")
        return _wrap(ufunc(*_unwrap(inputs), **{k: _unwrap(v) for k, v in kwargs.items()}))

    def __array_function__(self, func, types, args, kwargs):
        raise TypeError(f"standin: numpy.{func.__name__} on a device array; use the cupy (xp) function")

    def __init__(self, shape, dtype=float, order="C"):
        self._a = np.empty(shape, dtype=dtype, order=order)

    @classmethod
    def _new(cls, a):
        obj = cls.__new__(cls)
        obj._a = a
        return obj

    # ---- metadata: free, no transfer ---------------------------------------------------------
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: ndarray._new(self._a.T))
    device = property(lambda self: cuda.Device(0))

    def __len__(self):
        return len(self._a)

    def __repr__(self):
        return f"standin.ndarray(shape={self.shape}, dtype={self.dtype})"

    __str__ = __repr__

    # ---- explicit transfers ------------------------------------------------------------------
    def get(self, stream=None, order="C", out=None, blocking=True):
        counters["d2h"] += 1
        return self._a.copy(order=order)

    def set(self, arr, stream=None):
        counters["h2d"] += 1
        self._a[...] = np.asarray(arr)

    # ---- implicit transfers: refused ---------------------------------------------------------
    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. "
                        "Please use `.get()` to construct a NumPy array explicitly.")

    def __float__(self):
        _refuse("float()")

    def __int__(self):
        _refuse("int()")

    def __complex__(self):
        _refuse("complex()")

    def __bool__(self):
        _refuse("bool() (an `if` or `and`/`or` on a device array)")

    def __index__(self):
        _refuse("use as a Python index")

    def __iter__(self):
        _refuse("iteration")

    def item(self, *args):
        _refuse(".item()")

    def tolist(self):
        _refuse(".tolist()")

    def __reduce__(self):
        raise TypeError("standin: device arrays are not pickled here (minirnn saves .npz, never pickle)")

    # ---- indexing ----------------------------------------------------------------------------
    def __getitem__(self, key):
        return _wrap(self._a[_index(key)])

    def __setitem__(self, key, value):
        if isinstance(value, np.ndarray):
            counters["h2d"] += 1       # CuPy copies a host value over
        else:
            value = _unwrap(value)
        self._a[_index(key)] = value

    # ---- methods: NumPy's, on the buffer ------------------------------------------------------
    def __getattr__(self, name):
        if name.startswith("__") or name in _NOT_METHODS:
            raise AttributeError(name)
        method = getattr(self._a, name)

        def call(*args, **kwargs):
            if name in _SYNCING:
                counters["d2h"] += 1
            return _wrap(method(*_unwrap(args), **{k: _unwrap(v) for k, v in kwargs.items()}))
        call.__name__ = name
        return call

    def __copy__(self):
        return ndarray._new(self._a.copy())

    def __deepcopy__(self, memo):
        return ndarray._new(self._a.copy())


_NOT_METHODS = {"tofile", "tobytes", "dump", "dumps", "byteswap", "ctypes", "data", "base"}
_SYNCING = {"nonzero"}


def _binary(op):
    def forward(self, other):
        return _wrap(op(self._a, _unwrap(other)))

    def reflected(self, other):
        return _wrap(op(_unwrap(other), self._a))
    return forward, reflected


def _inplace(op):
    def method(self, other):
        op(self._a, _unwrap(other))
        return self
    return method


for _name, _op in [("add", np.add), ("sub", np.subtract), ("mul", np.multiply),
                   ("truediv", np.true_divide), ("floordiv", np.floor_divide), ("mod", np.remainder),
                   ("pow", np.power), ("matmul", np.matmul), ("and", np.bitwise_and),
                   ("or", np.bitwise_or), ("xor", np.bitwise_xor), ("lshift", np.left_shift),
                   ("rshift", np.right_shift)]:
    _f, _r = _binary(_op)
    setattr(ndarray, f"__{_name}__", _f)
    setattr(ndarray, f"__r{_name}__", _r)
    if _op is not np.matmul:
        setattr(ndarray, f"__i{_name}__",
                _inplace(lambda a, b, _op=_op: _op(a, b, out=a, casting="same_kind")))
ndarray.__imatmul__ = _inplace(lambda a, b: a.__setitem__(Ellipsis, a @ b))
for _name, _op in [("lt", np.less), ("le", np.less_equal), ("gt", np.greater),
                   ("ge", np.greater_equal), ("eq", np.equal), ("ne", np.not_equal)]:
    setattr(ndarray, f"__{_name}__", _binary(_op)[0])
for _name, _op in [("neg", np.negative), ("pos", np.positive), ("abs", np.absolute),
                   ("invert", np.invert)]:
    setattr(ndarray, f"__{_name}__", lambda self, _op=_op: _wrap(_op(self._a)))


# ---- the module's functions: NumPy's, refusing host arrays ------------------------------------
def _device_function(fn, name, syncs=False):
    def call(*args, **kwargs):
        if syncs:
            counters["d2h"] += 1
        return _wrap(fn(*_unwrap(args), **{k: _unwrap(v) for k, v in kwargs.items()}))
    call.__name__ = name
    return call


def _to_device(fn, name):
    def call(obj, dtype=None, *args, **kwargs):
        if isinstance(obj, ndarray):
            if fn is not np.array and (dtype is None or np.dtype(dtype) == obj.dtype):
                return obj                            # as CuPy: already a device array, no copy
            return _wrap(fn(obj._a, dtype, *args, **kwargs))
        counters["h2d"] += 1
        return _wrap(np.array(fn(obj, dtype, *args, **kwargs), copy=True))
    call.__name__ = name
    return call


array = _to_device(np.array, "array")
asarray = _to_device(np.asarray, "asarray")
asanyarray = _to_device(np.asanyarray, "asanyarray")


def asnumpy(a, stream=None, order="C", out=None, blocking=True):
    """The explicit read back: a NumPy copy of a device array (NumPy input passes through)."""
    if isinstance(a, ndarray):
        return a.get(order=order)
    return np.asarray(a, order=order)


def get_array_module(*args):
    import sys
    return sys.modules[__name__] if any(isinstance(a, ndarray) for a in args) else np


_SYNCING_FUNCTIONS = {"flatnonzero", "nonzero", "argwhere", "unique", "extract", "compress"}
_NOT_IN_CUPY = {"random", "ma", "rec", "char", "ctypeslib", "lib", "f2py", "testing", "polynomial",
                "fft", "emath", "matrix", "asmatrix", "save", "savez", "load", "loadtxt", "fromfile",
                "frombuffer", "memmap"}


def __getattr__(name):
    if name.startswith("__") or name in _NOT_IN_CUPY:
        raise AttributeError(f"module 'cupy' (standin) has no attribute {name!r}")
    attr = getattr(np, name)
    if isinstance(attr, (type, np.dtype, int, float)) or attr is None:
        return attr                                   # dtypes (cupy.float32 is numpy.float32), constants
    if isinstance(attr, types.ModuleType):            # linalg: the same rules, one level down
        return types.SimpleNamespace(**{k: _device_function(v, k) for k, v in vars(attr).items()
                                        if callable(v) and not k.startswith("_")})
    if callable(attr):
        return _device_function(attr, name, syncs=name in _SYNCING_FUNCTIONS)
    raise AttributeError(name)


# ---- cupy.random ------------------------------------------------------------------------------
class _BitGenerator:
    def __init__(self, seed=None, *, size=-1):
        counters["generators"] += 1
        self._np = np.random.default_rng(seed)


class XORWOW(_BitGenerator):
    pass


class MRG32k3a(_BitGenerator):
    pass


class Philox4x3210(_BitGenerator):
    pass


class Generator:
    """cupy.random.Generator: the methods minirnn may use, drawing on the 'device'."""

    def __init__(self, bit_generator):
        self.bit_generator = bit_generator
        self._np = bit_generator._np

    def random(self, size=None, dtype=np.float64, out=None):
        return _wrap(np.asarray(self._np.random(size, dtype=dtype)))

    def standard_normal(self, size=None, dtype=np.float64, out=None):
        return _wrap(np.asarray(self._np.standard_normal(size, dtype=dtype)))

    def uniform(self, low=0.0, high=1.0, size=None, dtype=np.float64):
        return _wrap(np.asarray(self._np.uniform(low, high, size).astype(dtype)))

    def integers(self, low, high=None, size=None, dtype=np.int64, endpoint=False):
        return _wrap(np.asarray(self._np.integers(low, high, size, dtype=dtype, endpoint=endpoint)))


def _default_rng(seed=None):
    return Generator(XORWOW(seed))


random = types.SimpleNamespace(default_rng=_default_rng, Generator=Generator, XORWOW=XORWOW,
                               MRG32k3a=MRG32k3a, Philox4x3210=Philox4x3210)


# ---- cupy.cuda ----------------------------------------------------------------------------------
class _Device:
    def __init__(self, device=0):
        self.id = int(device)

    def synchronize(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


_runtime = types.SimpleNamespace(
    getDeviceCount=lambda: 1,
    getDeviceProperties=lambda device: {"name": b"CuPy stand-in (NumPy on the host)",
                                        "totalGlobalMem": 16 * 2 ** 30, "multiProcessorCount": 1},
    runtimeGetVersion=lambda: 12000)
cuda = types.SimpleNamespace(runtime=_runtime, Device=_Device,
                             is_available=lambda: True)


# ---- cupyx --------------------------------------------------------------------------------------
def scatter_add(a, slices, value):
    """cupyx.scatter_add: a[slices] += value with repeated indices summed (float atomics on a GPU)."""
    if not isinstance(a, ndarray):
        raise TypeError(f"scatter_add: a must be a device array, got {type(a)}")
    np.add.at(a._a, _index(slices), _unwrap(value))


cupyx = types.SimpleNamespace(scatter_add=scatter_add)
