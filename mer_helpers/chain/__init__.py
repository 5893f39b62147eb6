"""Running the book: parameters and presets (``config``, ``schema``), the notebook chain
(``runner``), the rendered book (``book``, ``render``) and JupyterLab (``lab``).

May import everything below it, never a stage (the notebooks run in their own kernels).
"""
