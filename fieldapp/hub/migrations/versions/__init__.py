"""One file per schema revision, oldest first (this file is here only so the wheel ships them)."""
