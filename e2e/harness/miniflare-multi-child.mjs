// Child process that runs several Workers in ONE workerd via Miniflare 4 (e.g. the built Rust
// gateway and a JS Worker that binds its Durable Object by scriptName). Started by multi.mjs in
// its own process group.
//
// argv[2]: JSON {workers: [Miniflare worker options, JSON-only], persistDir, port, maxLifetimeMs}
//          The first worker serves the entry URL.
// stdout: one line {"ready":"http://127.0.0.1:PORT/"} once it serves, then the Workers' output.
// Exits on SIGTERM/SIGINT (after dispose), when stdin closes (parent gone), or after maxLifetimeMs.
import { childConfig, serveMiniflare } from './miniflare-serve.mjs';

const cfg = childConfig();
await serveMiniflare(cfg, { workers: cfg.workers });
