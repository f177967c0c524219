"""Package attributes imported on first use, so that importing a package stays cheap."""

import importlib


def lazy_attributes(package, exports):
    """A module `__getattr__` for `package` that imports each name of `exports` when first used.

    `exports` maps a name to the module defining it: a submodule of `package`, or a dotted absolute module name.
    """

    def __getattr__(name):
        if name in exports:
            module = exports[name] if "." in exports[name] else f"{package}.{exports[name]}"
            return getattr(importlib.import_module(module), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
