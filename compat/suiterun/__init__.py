"""Run the equivalence suites in one environment and say what they came to (torch-free).

The one runner behind the matrix (a cell), the gate (each side) and the census's CI sample:

* :mod:`.run`: the pytest command (one set of flags), the environment it runs in (offline,
  one thread, derandomised hypothesis), the process (its own group, a time limit, a log), and
  what came of it (:class:`~compat.suiterun.run.SuiteOutcome`).
* :mod:`.probe`: the import probe loaded into that pytest (``-p compat.suiterun.probe``): torch,
  transformers, peft and ``compat`` must import before any test runs, else ``error:import``.
* :mod:`.outcomes`: JUnit XML -> typed per-test outcomes, and the classification of a run
  (:class:`~compat.suiterun.outcomes.Status`), judged against declared expectations.

Like ``compat.matrix`` and ``compat.gate``, nothing here affects a suite's test results, so
editing it keeps the matrix's ``--resume`` results (``compat.matrix.runner.suite_digest``).
"""
