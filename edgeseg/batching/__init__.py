"""``edgeseg batch``: a bundle over archives of videos, one output folder per video, resumable; in this process
or on Ray Data (the ``[batch]`` extra), on one machine or a cluster. Never imported by the runtime or ``run``."""
