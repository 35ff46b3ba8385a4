"""Helpers the matrix runner and the upgrade gate share (torch-free, stdlib + filelock).

* :mod:`.outputs`: atomic writes of report files; a write that fails (read-only folder, disk full)
  becomes one :class:`~compat.tools.outputs.OutputError` line and leaves no partial file.
* :mod:`.runlock`: one run per output folder (a lock whose message names the other run), and
  private per-run scratch folders.
* :mod:`.jsonfiles`: reading a JSON file with one-line errors naming the path (cell results, the
  gate's user input, the watch's gate report).
* :mod:`.children`: how tool subprocesses start: the offline environment, and dying with their
  parent (``PR_SET_PDEATHSIG`` on Linux, a parent watchdog elsewhere).
* :mod:`.versions`: which distributions are installed, here or in another interpreter (metadata only).

Like ``compat.matrix``/``compat.gate``/``compat.migrate``, nothing here affects a cell's test
results, so editing it keeps ``--resume`` results (see ``compat.matrix.runner.suite_digest``).
"""
