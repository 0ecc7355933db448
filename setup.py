"""The optional C reader of long logs (``events._fastscan``); everything else is in pyproject.toml.

``optional=True``: where it cannot be built (no C compiler or no OpenSSL headers), the
install goes on and ``events.segments`` reads every line in Python, with the same results.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "events._fastscan",
            sources=["events/_fastscan.c", "events/_vendor/yyjson/yyjson.c"],
            libraries=["crypto"],
            define_macros=[("YYJSON_DISABLE_WRITER", "1"), ("YYJSON_DISABLE_UTILS", "1")],
            extra_compile_args=["-O2"],
            optional=True,
        )
    ]
)
