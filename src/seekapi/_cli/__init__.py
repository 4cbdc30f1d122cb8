"""The ``seekapi`` command line (its entry point is :func:`seekapi.cli.main`).

- :mod:`.main`: parses the command line and runs the command it names, turning usage
  errors, Ctrl-C and defects into exit statuses (and one JSON object with ``--json``);
- :mod:`.commands`: the table of commands; each command is a :class:`.base.Command` in
  a module of its own that declares its arguments and runs its behaviour, imported only
  when that command is used;
- :mod:`.run`: the parts of ``seekapi run``: the plan, the sandbox the handler runs in,
  and the report of what the job left;
- :mod:`._common`: what the commands share (exit codes, usage errors, JSON, logging).

Nothing here is imported by ``import seekapi``. This package imports nothing when it is
imported itself: the handler's process imports :mod:`.run.invoke` from it.
"""
