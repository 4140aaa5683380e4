"""The sandbox: local chains (anvil), reference and Envio belts, a Caddy alias and fault proxies, for the tests, the
demo and the benchmarks. The product never imports it."""
