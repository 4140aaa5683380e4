"""What the tests share, one module per job: `builders` (belt data and schema text), `launchers` (belt
servers in their own processes, the sandbox world's own processes), `runs` (pytester runs of the plugin
and what their output says)."""
