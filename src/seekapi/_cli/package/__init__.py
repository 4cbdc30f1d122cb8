"""The parts of ``seekapi package``, used by :mod:`seekapi._cli.commands.package`.

- :mod:`.target`: the Lambda platform a zip is built for: Python version, architecture,
  the wheel tags it accepts, the size limits;
- :mod:`.requirements`: reading ``requirements.txt``, and the rule for ``seekapi`` lines;
- :mod:`.pip`: installing the requirements' wheels for that platform with pip;
- :mod:`.contents`: what goes into the zip: the worker's files, the bundled seekapi, the
  installed requirements, and what is left out;
- :mod:`.entrypoint`: checking that the handler Lambda will look for is there;
- :mod:`.archive`: writing a reproducible zip, streamed file by file;
- :mod:`.container`: the Dockerfile of a Lambda container image;
- :mod:`.build`: the steps in order;
- :mod:`.failure`: the one error a build reports.
"""
