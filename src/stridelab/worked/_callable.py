"""A command package that is also its notebook function.

``stridelab.worked.conv`` is a package (``from stridelab.worked.conv import solve``) and, in a
notebook, the call ``worked.conv(X, "sobel_x")``. Python binds a submodule to its parent's
attribute of the same name when it is imported, so a plain function ``worked.conv`` would be
replaced by the package the first time the package loads; making the package itself callable
keeps both meanings under the one name.
"""

from __future__ import annotations

import inspect
import sys
import types
from collections.abc import Callable


class CallablePackage(types.ModuleType):
    """A package module whose call is its notebook function (``__call_target__``)."""

    def __call__(self, *args, **kwargs):
        return self.__call_target__(*args, **kwargs)


def make_callable(name: str, function: Callable) -> None:
    """Make the module ``name`` (being imported) call ``function``, with its signature."""
    module = sys.modules[name]
    module.__class__ = CallablePackage
    module.__call_target__ = function
    module.__signature__ = inspect.signature(function)  # what inspect and IPython show
