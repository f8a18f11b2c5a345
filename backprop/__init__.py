"""The engine you build in the course, ready to import after it.

    from backprop import Value, MLP
    from backprop import Tensor

`Value` and the neural-network classes are the fast engine of lesson 10, `Tensor`
the array engine of lesson 14. The closure-based engine exactly as lessons 07 to
09 teach it, with the network classes, is `backprop.classic`. Every module but
this one is generated from the lessons by tools/build.py.
"""

import importlib

# where each public name lives; a module is imported when a name of it is first
# used, so the scalar engine never needs NumPy
_HOMES = {"Value": "engine", "Module": "engine", "Neuron": "engine",
          "Layer": "engine", "MLP": "engine", "Tensor": "tensor"}

__all__ = list(_HOMES)


def __getattr__(name):
    if name not in _HOMES:
        raise AttributeError(f"module 'backprop' has no attribute {name!r}")
    return getattr(importlib.import_module(f"backprop.{_HOMES[name]}"), name)


def __dir__():
    return sorted(__all__)
