"""Many runs at once: which files are logs, one worker per log, what each run comes to, a sweep
as one dataset, two runs side by side, and TensorBoard event files."""
