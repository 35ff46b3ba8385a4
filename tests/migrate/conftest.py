"""The corpus snippets are code to lint and rewrite, run by tests/tooling/test_migrate_corpus.py
in other environments: never import them here (their old cache APIs fail on this install)."""

collect_ignore_glob = ["corpus/*"]
