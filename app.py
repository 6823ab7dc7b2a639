"""diffutron-demo: the Gradio app (also the Hugging Face Space entry point).

python app.py [--model ID_OR_PATH] [--host 127.0.0.1] [--port 7860] [--device auto|cpu|cuda]
"""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from diffutron_demo.app.main import main  # noqa: E402

if __name__ == "__main__":
    main()
