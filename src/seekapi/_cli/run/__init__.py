"""The parts of ``seekapi run``, used by :mod:`seekapi._cli.commands.run`.

- :mod:`.plan`: what to run, from the arguments, checked before anything starts;
- :mod:`.handler`: finding and importing the handler, the way Lambda does;
- :mod:`.sandbox`: the function's environment and the process the handler runs in;
- :mod:`.invoke`: the code that runs in that process;
- :mod:`.report`: reading what the job left, and printing it.
"""
