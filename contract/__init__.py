"""The data contract of thermo-audit, shared by the three stages (measure, analysis, report).

It holds, once for the whole project:

* ``contract.errors``: the one error base class (``ThermoAuditError``) and its kinds; every
  expected failure (bad input, damaged data) is one of them and the command lines report it
  in one line, without a traceback;
* ``contract.vocab``: the words several stages spell (dtypes, model sources, data sources,
  panels, verdicts);
* ``contract.tables``: the schema of every table (pandera), and the checked readers and
  atomic writers of single CSV files;
* ``contract.registry``: the model registry (lab, family, architecture of each known model).

It needs pandas and pandera only: the analysis and the report run without torch.
"""

__version__ = "0.2.0"
