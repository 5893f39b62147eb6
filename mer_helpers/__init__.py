"""mer_helpers: the reusable code behind the multimodal emotion recognition book.

One way down: ``stages`` (the notebooks' own code, one module per notebook) and ``chain``
(running the notebooks, the book) sit on top; ``predict`` (the model applied to new clips) and
``methods`` (features, selection, classifiers, evaluation) below them; then ``data`` (clips,
labels, splits) and ``core`` (files, cache, parallel work, media). A module imports only from
its own layer or the layers below it; ``cli`` is the command-line entry point
(``tests/test_architecture.py`` keeps the rule).
"""

__version__ = "0.1.0"

DEFAULT_CLASSES = ("happy", "sad", "surprise")
