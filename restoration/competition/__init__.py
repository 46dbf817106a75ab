"""The TGSR task-competition pipeline: probe every degradation task (:mod:`restoration.competition.probe`, as a job
:mod:`restoration.competition.probe_run`), group the unsatisfactory ones (:mod:`restoration.competition.grouping`,
:mod:`restoration.competition.grouping_run`) and report (:mod:`restoration.competition.report`). Submodules import
torch; this package file does not."""
