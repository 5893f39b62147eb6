"""The plumbing every other part uses; imports nothing else of the package.

``fileio`` (atomic writes, JSON, feature files, fragments), ``cache`` (content-keyed results),
``parallel`` (per-clip work on both cores or a Dask cluster), ``progress`` (bars in a terminal,
a notebook or JupyterLab), ``media`` (FFmpeg: probe, decode, write), ``weights`` (pretrained
files offline), ``exitcodes`` (the commands' exit statuses), ``params`` (estimator parameters).
"""
