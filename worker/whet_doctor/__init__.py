"""GPU and environment probes for `whet doctor`. Each subcommand prints one JSON object on stdout
(collectives: rank 0 writes it to --out); TypeScript judges the numbers."""
