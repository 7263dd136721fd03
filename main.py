"""The phone app's entry for `flet run` and `flet build apk|ipa` (pyproject's [tool.flet.app]):
Flet looks for this file at the root of the app's directory."""

from fieldapp.app.main import main

if __name__ == "__main__":
    main([])
