"""Job dispatch with Kaldi's interface: ``CMD [opts] JOB=1:N log.JOB command ...``.

:mod:`spec` parses the command line into a :class:`~voxrecipes.jobs.spec.JobArray`,
:mod:`runner` runs one job and writes its log, :mod:`local` runs an array on this
machine with bounded parallelism, :mod:`slurm` submits it as one Slurm array job.
"""
