"""The lexicon's sources and the build that turns them into kb/data/ (see README.md here)."""
