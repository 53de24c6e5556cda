"""Red-team replays of issues 9 and 10 against the merged code: the gaps the hostile suites left."""
