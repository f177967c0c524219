"""Package attributes imported on first use, so that importing a package stays cheap."""

import importlib


def lazy_attributes(package, exports):
    """A module `__getattr__` for `package` that imports each name of `exports` ({name: submodule}) when first used."""

    def __getattr__(name):
        if name in exports:
            return getattr(importlib.import_module(f"{package}.{exports[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
