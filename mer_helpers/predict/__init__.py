"""A trained model applied to new clips and videos: the model object
(:class:`~mer_helpers.predict.emotion_model.EmotionModel`), its bundle on disk, ``mer predict``
on clips (``clips``) and over time (``stream``, ``timeline``).

Imports the methods, data and core.
"""
