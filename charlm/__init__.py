"""charlm: train, chat with, evaluate and understand small character-level language models.

The core package never imports gradio; the web app lives in ``app.py`` and ``charlm.ui``.
"""

__version__ = "0.1.0"
