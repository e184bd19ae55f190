"""Package data: the training presets (*.toml, `mnistlab train --config NAME`) and the sweep spaces
(spaces/*.toml, `mnistlab sweep --space`)."""
