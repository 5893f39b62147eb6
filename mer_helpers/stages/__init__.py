"""The notebooks' own code: one module per numbered notebook.

``notebooks/NN_name.ipynb`` narrates a stage; ``mer_helpers.stages.name`` holds the code that
runs it and that no other stage needs: one split from artifact files to artifact files
(``run_split``), the stage's checks, tables, figures and its ``metrics.json`` fragment. The
method itself (features, selection, classifiers, evaluation) lives in the library modules of
``mer_helpers``; a stage may import them, the library never imports a stage
(``tests/test_architecture.py`` keeps it so).

=====================  ==========================================
notebook               stage module
=====================  ==========================================
01_audio_extraction    :mod:`~mer_helpers.stages.audio_extraction`
02_audio_autoencoder   :mod:`~mer_helpers.stages.audio_autoencoder`
03_summary_images      :mod:`~mer_helpers.stages.summary_images`
04_resnet_features     :mod:`~mer_helpers.stages.resnet_features`
05_feature_selection   :mod:`~mer_helpers.stages.feature_selection`
06_classifiers         :mod:`~mer_helpers.stages.classifiers`
07_results             :mod:`~mer_helpers.stages.results`
=====================  ==========================================

Notebook 00 (data and splits) needs nothing beyond :mod:`mer_helpers.data.datasets` and
:mod:`mer_helpers.data.splits`.
"""
