"""The parts of ``seekapi invoke``, used by :mod:`seekapi._cli.commands.invoke`.

- :mod:`.admin`: talking to a running ``seekapi serve`` through its admin API: is it
  there, create the job, read back what the job received.

The handler itself runs in the process :mod:`seekapi._cli.run.sandbox` starts, and the
summary is :mod:`seekapi._cli.run.report`'s, as for ``seekapi run``.
"""
