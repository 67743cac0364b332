"""Motion: DIS optical flow on the CPU and the C kernels (warp, IAM mask, blend, argmax) with their NumPy reference."""
