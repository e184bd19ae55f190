"""Looking at a network or a run: the layer summary with receptive fields, the budget check, reports and
their pictures, the runs table, test-time augmentation, the speed bench, and how tables display."""
