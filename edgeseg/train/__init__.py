"""Training loops (torch): the backbone on labelled images, the video heads on synthetic clips."""
